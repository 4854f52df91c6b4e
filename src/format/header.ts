// The front of a stream: the file header (be32 magic "QEVM", be32 version 3), the
// QEMU_VM_CONFIGURATION record (machine type and its subsections) and, before any record is
// read, the vmdesc JSON at the end of the file (it describes the device sections, so it must be
// known first; migration/savevm.c qemu_savevm_state_header / qemu_loadvm_state_header).
import { hexPreview } from "./context";
import { DecodeError, hex } from "./errors";
import { text, type Reader } from "./reader";
import type { StreamState } from "./streamState";
import {
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  QEMU_VM_SUBSECTION,
  type DeviceDesc,
  type VmDesc,
  type VNode,
} from "./types";
import { locateVmdesc, parseVmdesc, vmsdProblem, type VmdescLocation } from "./vmdesc";
import { decodeVmsd, readSubsectionHeader } from "./vmsd";

/** Longest machine type name we believe (QEMU's are < 64 bytes). */
const MAX_MACHINE_TYPE_LEN = 4096;

/** The 8-byte file header. Returns false (with an error diagnostic) when this is not a stream we decode. */
export function readHeader(st: StreamState, r: Reader, top: VNode[]): boolean {
  const ctx = st.ctx;
  if (st.src.size < 8) {
    ctx.diag("error", "not-a-stream", `not a QEMU migration stream: ${st.src.size} bytes, the header alone needs 8`, {
      start: 0,
      end: st.src.size,
    });
    return false;
  }
  const fields: VNode[] = [];
  const magic = ctx.intField(r, fields, {
    id: "header/magic",
    name: "magic",
    enc: "u32",
    what: "file magic",
    detail: (m) => (m === QEMU_VM_FILE_MAGIC ? '"QEVM"' : hex(m)),
  });
  const version = ctx.intField(r, fields, { id: "header/version", name: "version", enc: "u32", what: "file version" });
  const hdr = ctx.from(r, 0, {
    id: "header",
    kind: "header",
    name: "header",
    detail: `QEVM v${version}`,
    children: fields,
  });
  top.push(hdr);
  if (magic !== QEMU_VM_FILE_MAGIC) {
    ctx.diag(
      "error",
      "bad-magic",
      `not a QEMU migration stream: magic at 0x0 is ${hexPreview(st.src.read(0, 4))}, expected 51 45 56 4d ("QEVM")`,
      { start: 0, end: 4 },
      "header/magic",
    );
    hdr.incomplete = true;
    return false;
  }
  if (version === QEMU_VM_FILE_VERSION_COMPAT) {
    ctx.diag(
      "error",
      "obsolete-version",
      "stream version 2 (QEMU_VM_FILE_VERSION_COMPAT) is the obsolete pre-2010 format, which QEMU no longer loads and this tool does not decode",
      { start: 4, end: 8 },
      "header/version",
    );
    hdr.incomplete = true;
    return false;
  }
  if (version !== QEMU_VM_FILE_VERSION) {
    ctx.diag(
      "error",
      "bad-version",
      `unknown stream version ${version} at 0x4 (expected 3)`,
      { start: 4, end: 8 },
      "header/version",
    );
    hdr.incomplete = true;
    return false;
  }
  return true;
}

/**
 * Find and parse the vmdesc (QEMU_VM_VMDESCRIPTION after the final EOF). With it, device data
 * ends at that EOF, the page size is the vmdesc's, and FULL sections are matched to devices.
 */
export function findVmdesc(st: StreamState): void {
  const loc = locateVmdesc(st.src);
  if (!loc) return;
  const json = text(st.src.read(loc.jsonStart, loc.jsonEnd - loc.jsonStart));
  const parsed = parseVmdesc(json);
  if (!parsed.desc) {
    st.ctx.diag(
      "warning",
      "vmdesc-invalid",
      `${parsed.error} (at ${hex(loc.jsonStart)}); device sections are shown raw`,
      { start: loc.jsonStart, end: loc.jsonEnd },
    );
    return;
  }
  st.vmdescLoc = loc;
  st.vmdesc = parsed.desc;
  st.vmdescText = json;
  st.dataEnd = loc.eofOffset + 1;
  const ps = parsed.desc.page_size;
  if (Number.isInteger(ps) && ps >= 512 && ps <= 1 << 20 && (ps & (ps - 1)) === 0) st.ram.pageSize = ps;
  else
    st.ctx.diag(
      "warning",
      "vmdesc-page-size",
      `vmdesc page_size ${ps} is not a plausible page size; using ${st.ram.pageSize}`,
      { start: loc.jsonStart, end: loc.jsonEnd },
    );
  checkVmdesc(st, parsed.desc, loc);
  for (const d of parsed.desc.devices) {
    if (!d || typeof d !== "object") continue;
    const key = `${String(d.name)}\0${Number(d.instance_id)}`;
    const list = st.devicesByKey.get(key) ?? [];
    list.push(d);
    st.devicesByKey.set(key, list);
  }
}

/**
 * Malformed descriptions (null fields, a non-string type, nesting beyond MAX_VMSD_DEPTH…) get a
 * warning and are replaced by an empty description, so their sections are shown raw rather than
 * decoded from something we cannot stand behind (or crashing on it).
 */
function checkVmdesc(st: StreamState, desc: VmDesc, loc: VmdescLocation): void {
  const span = { start: loc.jsonStart, end: loc.jsonEnd };
  let shown = 0;
  const bad = (what: string, problem: string) => {
    if (shown++ < 50)
      st.ctx.diag(
        "warning",
        "vmdesc-malformed",
        `the vmdesc's description of ${what} is malformed (${problem}); it is shown raw`,
        span,
      );
  };
  if (desc.configuration !== undefined) {
    const p = vmsdProblem(desc.configuration, "configuration");
    if (p) {
      bad("the configuration", p);
      desc.configuration = undefined;
    }
  }
  desc.devices.forEach((d, i) => {
    if (!d || typeof d !== "object" || Array.isArray(d)) return;
    const p = vmsdProblem(d, `devices[${i}]`);
    if (!p) return;
    bad(`device ${JSON.stringify(String(d.name))}`, p);
    desc.devices[i] = { name: d.name, instance_id: d.instance_id, vmsd_name: d.vmsd_name, malformed: p } as DeviceDesc;
  });
  if (shown > 50)
    st.ctx.diag("warning", "vmdesc-malformed", `${shown - 50} more malformed device descriptions in the vmdesc`, span);
}

/**
 * QEMU_VM_CONFIGURATION (migration/savevm.c vmstate_configuration): u8 0x07, be32 length +
 * machine type, then subsections (target-page-bits, capabilities, uuid; others from the vmdesc).
 */
export function readConfiguration(st: StreamState, r: Reader, into: VNode[], id: string): void {
  const ctx = st.ctx;
  ctx.wrap(r, into, { id, kind: "configuration", name: "configuration", type: "configuration" }, (kids) => {
    // the u8 is QEMU_VM_CONFIGURATION: that is what brought the record here
    ctx.intField(r, kids, { id: `${id}/$type`, name: "type", enc: "u8", detail: "QEMU_VM_CONFIGURATION" });
    const ls = r.pos;
    const len = r.u32("machine type length");
    if (len > MAX_MACHINE_TYPE_LEN)
      throw new DecodeError("config-bad-length", `machine type length ${len} at ${hex(ls)} is implausible`, ls);
    const name = r.bytes(len, "machine type");
    st.machineType = text(name);
    kids.push(
      ctx.leaf(
        r,
        ls,
        {
          id: `${id}/name`,
          kind: "field",
          name: "name",
          type: "buffer",
          value: name,
          enc: "cstr32",
          detail: JSON.stringify(st.machineType),
        },
        ls + 4,
      ),
    );
    while (!r.atEnd() && r.peekU8() === QEMU_VM_SUBSECTION) configSubsection(st, r, kids, id);
    into[into.length - 1]!.detail = st.machineType;
  });
}

function configSubsection(st: StreamState, r: Reader, kids: VNode[], parentId: string): void {
  const ctx = st.ctx;
  const start = r.pos;
  const sub = readSubsectionHeader(ctx, r, parentId, kids);
  const { name, id } = sub;
  const c = sub.children!;
  try {
    if (name === "configuration/target-page-bits") {
      const bits = ctx.intField(r, c, {
        id: `${id}/target_page_bits`,
        name: "target_page_bits",
        enc: "u32",
        what: "target page bits",
        detail: (b) => `${b} (${2 ** b}-byte pages)`,
      });
      sub.detail = `${2 ** bits}-byte pages`;
      // the vmdesc's page_size wins when there is one
      if (!st.vmdesc && bits >= 9 && bits <= 20) st.ram.pageSize = 2 ** bits;
    } else if (name === "configuration/capabilities") {
      const s = r.pos;
      const count = ctx.intField(r, c, {
        id: `${id}/caps_count`,
        name: "caps_count",
        enc: "u32",
        what: "capability count",
      });
      if (count > r.remaining)
        throw new DecodeError(
          "truncated",
          `capability count ${count} at ${hex(s)} exceeds what remains`,
          s,
          count,
          r.remaining,
        );
      const arr = ctx.from(r, r.pos, {
        id: `${id}/capabilities`,
        kind: "array",
        name: "capabilities",
        type: "capability",
        children: [],
        info: { length: count },
      });
      c.push(arr);
      for (let i = 0; i < count; i++) {
        const cs = r.pos;
        const b = r.counted("capability");
        const cap = text(b);
        st.capabilities.push(cap);
        arr.children!.push(
          ctx.leaf(
            r,
            cs,
            {
              id: `${id}/capabilities/${i}`,
              kind: "element",
              name: `capabilities[${i}]`,
              type: "capability",
              value: b,
              enc: "cstr8",
              detail: cap,
            },
            cs + 1,
          ),
        );
        arr.span.end = r.pos;
      }
      arr.detail = st.capabilities.join(", ");
      sub.detail = arr.detail;
      st.ram.ignoreShared = st.capabilities.includes("x-ignore-shared");
      st.ram.mappedRam = st.capabilities.includes("mapped-ram");
    } else if (name === "configuration/uuid") {
      const s = r.pos;
      const u = r.bytes(16, "uuid");
      const h = Array.from(u, (x) => x.toString(16).padStart(2, "0")).join("");
      const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
      c.push(ctx.leaf(r, s, { id: `${id}/uuid`, kind: "field", name: "uuid", type: "buffer", detail: uuid }));
      sub.detail = uuid;
    } else {
      const desc = st.vmdesc?.configuration?.subsections?.find((d) => d.vmsd_name === name);
      if (!desc)
        throw new DecodeError(
          "config-unknown-subsection",
          `unknown configuration subsection ${JSON.stringify(name)} at ${hex(start)} and no vmdesc describes it`,
          start,
        );
      decodeVmsd(ctx, r, desc, id, c);
    }
  } catch (e) {
    sub.incomplete = true;
    throw e;
  } finally {
    sub.span.end = r.pos;
  }
}
