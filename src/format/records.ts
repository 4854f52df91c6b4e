// The record loop (migration/savevm.c qemu_loadvm_state_main): one record after another until
// EOF, each a section (START/FULL open one and carry its idstr, instance and version; PART/END
// continue one by section id), a COMMAND (commands.ts), or a stray byte we resynchronise after
// (resync.ts). A section's payload goes to its handler: RAM (ram.ts), a vmdesc description
// (vmsd.ts, with dbus-vmstate's helper list in dbusVmstate.ts), the iterative block/htab/s390
// formats (iterative.ts), or raw bytes ended by the section footer. Footers (0x7e, be32 section
// id) follow every section when the source sends them (QEMU >= 2.4 machine types).
import { decodeCommand } from "./commands";
import { decodeDbusData } from "./dbusVmstate";
import { DecodeError, hex } from "./errors";
import { readConfiguration } from "./header";
import { decodeBlockPayload, decodeHtabPayload, decodeS390Payload } from "./iterative";
import { decodeRamPayload } from "./ram";
import { text, type Reader } from "./reader";
import { resync, scanForFooter } from "./resync";
import type { OpenSection, StreamState } from "./streamState";
import {
  QEMU_VM_COMMAND,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_EOF,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  type Handler,
  type SectionInfo,
  type SectionKind,
  type VmsdDesc,
  type VNode,
} from "./types";
import { decodeVmsd } from "./vmsd";

const SECTION_KIND: Record<number, SectionKind> = {
  [QEMU_VM_SECTION_START]: "start",
  [QEMU_VM_SECTION_PART]: "part",
  [QEMU_VM_SECTION_END]: "end",
  [QEMU_VM_SECTION_FULL]: "full",
};

/** backends/dbus-vmstate.c's VMSD, for streams without a vmdesc. */
const DBUS_VMSTATE_DESC: VmsdDesc = {
  vmsd_name: "dbus-vmstate",
  version: 0,
  fields: [
    { name: "data_size", type: "uint32", size: 4 },
    { name: "data", type: "buffer", size: -1 },
  ],
};

/** The record loop, until EOF or `limit`. Returns true when EOF was read. */
export function readRecords(
  st: StreamState,
  r: Reader,
  into: VNode[],
  idPrefix: string,
  limit: number,
  topLevel: boolean,
): boolean {
  const ctx = st.ctx;
  while (r.pos < limit && !ctx.stopped) {
    const start = r.pos;
    const type = r.peekU8("record type");
    const id = `${idPrefix}r${into.length}`;
    try {
      switch (type) {
        case QEMU_VM_EOF: {
          r.u8();
          into.push(
            ctx.from(r, start, {
              id,
              kind: "eof",
              name: "EOF",
              type: "uint8",
              value: 0,
              enc: "u8",
              detail: "end of device state",
            }),
          );
          return true;
        }
        case QEMU_VM_CONFIGURATION:
          readConfiguration(st, r, into, id);
          break;
        case QEMU_VM_SECTION_START:
        case QEMU_VM_SECTION_FULL:
        case QEMU_VM_SECTION_PART:
        case QEMU_VM_SECTION_END:
          readSection(st, r, into, id, type, limit);
          break;
        case QEMU_VM_COMMAND:
          readCommand(st, r, into, id);
          break;
        case QEMU_VM_SECTION_FOOTER: {
          r.u8();
          const sid = r.u32("footer section id");
          into.push(
            ctx.from(r, start, {
              id,
              kind: "footer",
              name: "footer",
              type: "footer",
              detail: `stray footer for section ${sid}`,
            }),
          );
          ctx.diag(
            "error",
            "stray-footer",
            `section footer at ${hex(start)} follows no section`,
            { start, end: r.pos },
            id,
          );
          break;
        }
        default: {
          const next = resync(st, start + 1, limit);
          into.push(ctx.node({ id, kind: "unparsed", name: "unparsed", detail: `${next - start} bytes` }, start, next));
          ctx.diag(
            "error",
            "unknown-record",
            `unknown record type ${hex(type)} at ${hex(start)}${next < limit ? `; resuming at ${hex(next)} (heuristic: next plausible section header)` : ""}`,
            { start, end: start + 1 },
            id,
          );
          r.pos = next;
        }
      }
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      ctx.diag("error", e.code, e.message, e.span, into[into.length - 1]?.id);
      // nothing sensible follows a truncation or the node budget: stop this loop
      if (e.code === "truncated" || e.code === "too-many-nodes" || r.pos >= limit) {
        markIncomplete(into[into.length - 1]);
        r.pos = limit;
        return false;
      }
      // otherwise cut the failed record short at the next plausible record and go on from there
      const last = into[into.length - 1];
      const next = resync(st, Math.max(r.pos, start + 1), limit);
      if (last && last.span.start >= start) {
        last.incomplete = true;
        clip(last, next);
        last.span.end = next;
      } else {
        into.push(ctx.node({ id, kind: "unparsed", name: "unparsed", detail: `${next - start} bytes` }, start, next));
      }
      if (next < limit)
        ctx.diag("info", "resync", `resuming at ${hex(next)} (heuristic: the next plausible record)`, {
          start: next,
          end: next,
        });
      r.pos = next;
    }
  }
  if (topLevel && !ctx.stopped) {
    ctx.diag("error", "no-eof", `the stream ends at ${hex(r.pos)} without an EOF record: it is truncated`, {
      start: r.pos,
      end: r.pos,
    });
  }
  return false;
}

/**
 * Which decoder reads a section's payload. A FULL section of a device the vmdesc describes is
 * decoded from that description (the n-th FULL of a name/instance takes the n-th entry); the
 * iterative sections and dbus-vmstate (without a vmdesc) have built-in formats; the rest is raw.
 */
function handlerFor(
  st: StreamState,
  name: string,
  instanceId: number,
  versionId: number,
  kind: SectionKind,
): { handler: Handler; desc?: VmsdDesc } {
  const key = `${name}\0${instanceId}`;
  const devs = st.devicesByKey.get(key);
  if (kind === "full" && devs && devs.length) {
    const k = st.deviceCursor.get(key) ?? 0;
    st.deviceCursor.set(key, k + 1);
    return { handler: "vmsd", desc: devs[Math.min(k, devs.length - 1)]! };
  }
  if (name === "ram" && versionId === 4) return { handler: "ram" };
  if (name === "dbus-vmstate/dbus-vmstate" && kind === "full" && versionId === 0)
    return { handler: "dbus-builtin", desc: DBUS_VMSTATE_DESC };
  if (name === "block" && kind === "start") return { handler: "block" };
  if (name === "spapr/htab" && versionId === 1) return { handler: "htab" };
  if (name === "s390-storage_attributes" && versionId === 0) return { handler: "s390" };
  return { handler: "opaque" };
}

/**
 * A SECTION_START/FULL (u8 type, be32 section id, u8 len + idstr, be32 instance, be32 version) or
 * SECTION_PART/END (u8 type, be32 section id) record: header, payload, footer.
 */
function readSection(st: StreamState, r: Reader, into: VNode[], id: string, type: number, limit: number): void {
  const ctx = st.ctx;
  const start = r.pos;
  const kind = SECTION_KIND[type]!;
  const node = ctx.from(r, start, { id, kind: "section", name: "", type: kind.toUpperCase(), children: [] });
  into.push(node);
  const kids = node.children!;
  // a header value just read from s (a counted string's value starts after its length byte, vs)
  const leaf = (
    name: string,
    enc: "u8" | "u32" | "cstr8",
    value: number | Uint8Array,
    s: number,
    detail: string,
    vs = s,
  ) =>
    kids.push(
      ctx.leaf(
        r,
        s,
        {
          id: `${id}/$${name}`,
          kind: "field",
          name,
          type: enc === "cstr8" ? "counted string" : enc === "u8" ? "uint8" : "uint32",
          value,
          enc,
          detail,
        },
        vs,
      ),
    );
  try {
    r.u8();
    leaf("type", "u8", type, start, `QEMU_VM_SECTION_${kind.toUpperCase()}`);
    let s = r.pos;
    const sectionId = r.u32("section id");
    leaf("section_id", "u32", sectionId, s, String(sectionId));
    let open: OpenSection;
    let desc: VmsdDesc | undefined;
    if (kind === "start" || kind === "full") {
      s = r.pos;
      const nameBytes = r.counted("section name");
      const name = text(nameBytes);
      leaf("idstr", "cstr8", nameBytes, s, name, s + 1);
      s = r.pos;
      const instanceId = r.u32("instance id");
      leaf("instance_id", "u32", instanceId, s, String(instanceId));
      s = r.pos;
      const versionId = r.u32("version id");
      leaf("version_id", "u32", versionId, s, String(versionId));
      const h = handlerFor(st, name, instanceId, versionId, kind);
      desc = h.desc;
      open = { name, instanceId, versionId, handler: h.handler };
      if (kind === "start") st.open.set(sectionId, open);
    } else {
      const o = st.open.get(sectionId);
      if (!o) {
        ctx.diag(
          "error",
          "unknown-section-id",
          `${kind.toUpperCase()} record at ${hex(start)} continues section ${sectionId}, which no START opened`,
          { start, end: r.pos },
          id,
        );
        open = { name: `section ${sectionId}`, instanceId: 0, versionId: 0, handler: "opaque" };
      } else open = o;
      if (kind === "end") st.open.delete(sectionId);
    }
    node.name = open.name;
    node.detail = `${kind.toUpperCase()} · id ${sectionId} · instance ${open.instanceId} · v${open.versionId}`;
    node.info = {
      sectionId,
      instanceId: open.instanceId,
      versionId: open.versionId,
      sectionKind: kind,
      handler: open.handler,
    };
    const info: SectionInfo = {
      sectionId,
      name: open.name,
      instanceId: open.instanceId,
      versionId: open.versionId,
      kind,
      offset: start,
      end: start,
      nodeId: id,
    };
    st.sections.push(info);
    try {
      readPayload(st, r, kids, id, open, desc, sectionId, limit);
    } finally {
      info.end = r.pos;
    }
    readFooter(st, r, kids, id, sectionId, limit);
    info.end = r.pos;
  } catch (e) {
    node.incomplete = true;
    throw e;
  } finally {
    node.span.end = r.pos;
  }
}

function readPayload(
  st: StreamState,
  r: Reader,
  kids: VNode[],
  id: string,
  open: OpenSection,
  desc: VmsdDesc | undefined,
  sectionId: number,
  limit: number,
): void {
  const ctx = st.ctx;
  switch (open.handler) {
    case "ram":
      decodeRamPayload(ctx, r, st.ram, id, kids);
      return;
    case "block":
      decodeBlockPayload(ctx, r, id, kids);
      return;
    case "htab":
      decodeHtabPayload(ctx, r, id, kids);
      return;
    case "s390":
      decodeS390Payload(ctx, r, id, kids);
      return;
    case "vmsd":
    case "dbus-builtin": {
      const before = kids.length;
      if (open.handler === "dbus-builtin") {
        // data is a VBUFFER of data_size bytes
        const s = r.pos;
        const dataSize = r.u32("data_size");
        r.pos = s;
        desc = {
          ...desc,
          fields: [
            { name: "data_size", type: "uint32", size: 4 },
            { name: "data", type: "buffer", size: dataSize },
          ],
        };
        if (dataSize > r.remaining)
          throw new DecodeError(
            "truncated",
            `dbus-vmstate data_size ${dataSize} at ${hex(s)} runs past the end`,
            s,
            dataSize,
            r.remaining,
          );
      }
      if (!desc || !Array.isArray(desc.fields)) {
        ctx.diag(
          "warning",
          "vmdesc-no-fields",
          `the vmdesc entry for ${open.name} has no ${desc?.malformed ? `usable fields (${String(desc.malformed)})` : "fields"}; shown raw`,
          { start: r.pos, end: r.pos },
          id,
        );
        readOpaque(st, r, kids, id, sectionId, limit);
        return;
      }
      decodeVmsd(ctx, r, desc, id, kids);
      if (open.name === "dbus-vmstate/dbus-vmstate" || desc.vmsd_name === "dbus-vmstate") {
        const data = kids.slice(before).find((k) => k.name === "data" && k.kind === "field");
        const dataSize = kids.slice(before).find((k) => k.name === "data_size" && typeof k.value === "number");
        if (data && dataSize && dataSize.value !== data.span.end - data.span.start) {
          // QEMU's VMSTATE_VBUFFER_ALLOC_UINT32 reads data_size bytes; the vmdesc (which we and
          // the analyzer follow) only describes them: a mismatch breaks the load
          const len = data.span.end - data.span.start;
          ctx.diag(
            "error",
            "dbus-data-size-mismatch",
            `dbus-vmstate data_size is ${String(dataSize.value)} but the vmdesc describes ${len} bytes of data at ${hex(data.span.start)}; QEMU reads data_size bytes, so the destination misreads the rest of the stream ("Unexpected early end-of-stream" or a bad section)`,
            dataSize.span,
            dataSize.id,
          );
        }
        if (data) {
          const sub = ctx.reader(data.span.start, data.span.end);
          decodeDbusData(ctx, sub, data, st.helpers);
        }
      }
      return;
    }
    default:
      readOpaque(st, r, kids, id, sectionId, limit);
  }
}

/** A payload nobody describes: its end is the section's footer, or a plausible next record. */
function readOpaque(st: StreamState, r: Reader, kids: VNode[], id: string, sectionId: number, limit: number): void {
  const ctx = st.ctx;
  const start = r.pos;
  let end = -1;
  let how = "";
  if (st.footers !== false) {
    end = scanForFooter(st, start, sectionId, limit);
    how = "its section footer";
  }
  if (end < 0) {
    end = resync(st, start, limit);
    how = "a heuristic (the next plausible section header; this stream has no footers to go by)";
    if (end >= limit && limit < st.src.size) how = "the EOF before the vmdesc";
  }
  kids.push(
    ctx.node(
      {
        id: `${id}/payload`,
        kind: "opaque",
        name: "payload",
        type: "opaque",
        detail: `${end - start} bytes (format not described)`,
      },
      start,
      end,
    ),
  );
  if (how.startsWith("a heuristic")) st.heuristicSections++;
  ctx.diag(
    "info",
    "opaque-section",
    `section payload at ${hex(start)} (${end - start} bytes) is not described by the vmdesc; its end was found from ${how}`,
    { start, end },
    `${id}/payload`,
  );
  r.pos = end;
}

/**
 * The section footer (u8 0x7e, be32 section id). The first section tells whether this stream has
 * footers; after that a missing one is an error (QEMU: "Missing section footer").
 */
function readFooter(st: StreamState, r: Reader, kids: VNode[], id: string, sectionId: number, limit: number): void {
  const ctx = st.ctx;
  if (r.pos >= limit) return;
  const s = r.pos;
  if (r.peekU8() !== QEMU_VM_SECTION_FOOTER) {
    if (st.footers === true) {
      ctx.diag(
        "error",
        "missing-footer",
        `section ${sectionId} is not followed by its footer at ${hex(s)}`,
        { start: s, end: s + 1 },
        id,
      );
      throw new DecodeError(
        "missing-footer",
        `expected section footer (0x7e) for section ${sectionId} at ${hex(s)}, found ${hex(r.peekU8())}`,
        s,
      );
    }
    st.footers = false;
    return;
  }
  r.u8();
  const fid = r.u32("footer section id");
  const node = ctx.from(r, s, {
    id: `${id}/$footer`,
    kind: "footer",
    name: "footer",
    type: "footer",
    detail: `section ${fid}`,
    children: [],
  });
  node.children!.push(
    ctx.leafAt(
      {
        id: `${id}/$footer/marker`,
        kind: "field",
        name: "marker",
        type: "uint8",
        value: QEMU_VM_SECTION_FOOTER,
        enc: "u8",
        detail: "QEMU_VM_SECTION_FOOTER",
      },
      s,
      s + 1,
    ),
    ctx.leaf(r, s + 1, {
      id: `${id}/$footer/section_id`,
      kind: "field",
      name: "section_id",
      type: "uint32",
      value: fid,
      enc: "u32",
      detail: String(fid),
    }),
  );
  kids.push(node);
  st.footers = true;
  if (fid !== sectionId) {
    ctx.diag(
      "error",
      "footer-mismatch",
      `section footer at ${hex(s)} names section ${fid}, expected ${sectionId}: QEMU would stop here ("Mismatched section footer")`,
      { start: s, end: r.pos },
      node.id,
    );
  }
}

/** A QEMU_VM_COMMAND record (decoded in commands.ts; PACKAGED comes back here for its records). */
function readCommand(st: StreamState, r: Reader, into: VNode[], id: string): void {
  const s = r.pos;
  decodeCommand(
    {
      ctx: st.ctx,
      commands: st.commands,
      depth: st.packagedDepth,
      postcopyAdvised: () => {
        st.ram.postcopyAdvised = true;
        st.ctx.diag(
          "info",
          "postcopy-advise",
          "postcopy was advised: RAM blocks whose page size differs from the host's would carry an extra page_size, which is assumed absent",
          { start: s, end: r.pos },
          id,
        );
      },
      packaged: (start, end, kids, idPrefix) => readPackaged(st, start, end, kids, idPrefix),
    },
    r,
    into,
    id,
  );
}

/** PACKAGED wraps a stream of records without header, ending in EOF (savevm.c loadvm_handle_cmd_packaged). */
function readPackaged(st: StreamState, start: number, end: number, kids: VNode[], idPrefix: string): number {
  st.sawPackaged = true;
  const sub = st.ctx.reader(start, end);
  // the packaged stream has its own footer convention (it is sent by the same QEMU, but keep the
  // outer stream's view unchanged whatever the inner one shows)
  const saved = st.footers;
  st.packagedDepth++;
  try {
    readRecords(st, sub, kids, idPrefix, end, false);
  } finally {
    st.packagedDepth--;
    st.footers = saved;
  }
  return sub.pos;
}

function markIncomplete(n: VNode | undefined): void {
  if (n) n.incomplete = true;
}

/** Drop descendants that extend past `end` (after a resync shortened a node). */
function clip(n: VNode, end: number): void {
  if (!n.children) return;
  n.children = n.children.filter((c) => c.span.start < end);
  for (const c of n.children) {
    if (c.span.end > end) {
      c.span.end = end;
      c.incomplete = true;
      clip(c, end);
    }
  }
}
