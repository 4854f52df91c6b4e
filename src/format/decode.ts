// The top-level record loop (migration/savevm.c qemu_loadvm_state_main) and its framing.
import { DecodeContext, hexPreview } from "./context";
import { decodeDbusData } from "./dbusVmstate";
import { decodeCommand } from "./commands";
import { DecodeError, hex } from "./errors";
import { decodeBlockPayload, decodeHtabPayload, decodeS390Payload } from "./iterative";
import { decodeRamPayload, type RamState } from "./ram";
import { text, type Reader } from "./reader";
import {
  QEMU_VM_COMMAND, QEMU_VM_CONFIGURATION, QEMU_VM_EOF, QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT, QEMU_VM_SECTION_END, QEMU_VM_SECTION_FOOTER, QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART, QEMU_VM_SECTION_START, QEMU_VM_SUBSECTION, QEMU_VM_VMDESCRIPTION,
  type ByteSource, type CommandInfo, type DecodedStream, type DeviceDesc, type HelperInfo, type SectionInfo, type SectionKind,
  type VmDesc, type VmsdDesc, type VNode,
} from "./types";
import { locateVmdesc, parseVmdesc, vmsdProblem, type VmdescLocation } from "./vmdesc";
import { decodeVmsd, readSubsectionHeader } from "./vmsd";

export type Handler = "ram" | "vmsd" | "dbus-builtin" | "block" | "htab" | "s390" | "opaque";

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


interface OpenSection {
  name: string;
  instanceId: number;
  versionId: number;
  handler: Handler;
}

class StreamDecoder {
  readonly ctx: DecodeContext;
  readonly sections: SectionInfo[] = [];
  readonly helpers: HelperInfo[] = [];
  /** Every COMMAND record, outer and inside PACKAGED, in stream order. */
  readonly commands: CommandInfo[] = [];
  packagedDepth = 0;
  sawPackaged = false;
  readonly open = new Map<number, OpenSection>();
  readonly ram: RamState = { pageSize: 4096, ignoreShared: false, mappedRam: false, postcopyAdvised: false, blocks: [] };
  vmdesc?: VmDesc;
  vmdescText?: string;
  vmdescLoc?: VmdescLocation;
  machineType?: string;
  capabilities: string[] = [];
  /** Sections whose end only a heuristic could find. */
  heuristicSections = 0;
  /** A footer scan failed once: later opaque sections use the heuristic (keeps scanning linear). */
  private footerScanFailed = false;
  /** undefined until the first section tells us whether footers are sent. */
  footers?: boolean;
  /** Offsets of each vmdesc device already matched, by "name\0instance". */
  private deviceCursor = new Map<string, number>();
  private devicesByKey = new Map<string, DeviceDesc[]>();
  /** Where device data ends: the EOF before the vmdesc when we know it. */
  dataEnd: number;

  /** See decodeStream. */
  onRoot?: (root: VNode) => void;

  constructor(readonly src: ByteSource) {
    this.ctx = new DecodeContext(src);
    this.dataEnd = src.size;
  }

  decode(): DecodedStream {
    const ctx = this.ctx;
    const size = this.src.size;
    const root = ctx.node({ id: "stream", kind: "stream", name: "stream", children: [] }, 0, size);
    this.onRoot?.(root);
    const top = root.children!;
    const r = ctx.reader(0);
    try {
      if (this.header(r, top)) {
        this.findVmdesc();
        this.records(r, top, "", this.dataEnd, true);
        this.trailer(r, top);
      }
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      ctx.diag("error", e.code, e.message, e.span);
    }
    if (this.heuristicSections) {
      ctx.diag("warning", "heuristic-sections", `${this.heuristicSections} section${this.heuristicSections === 1 ? "" : "s"} without a vmdesc entry or footer: each one's end was found by a heuristic (the next plausible section header), so their boundaries are a best guess`, { start: 0, end: 0 });
    }
    this.multifdNote();
    fillGaps(ctx, root);
    ctx.summarizeDropped();
    return this.result(root);
  }

  /**
   * multifd over a socket: the main channel (this stream) carries the RAM block list and
   * RAM_SAVE_FLAG_MULTIFD_FLUSH sync points; the pages travel as MultiFD packets on
   * multifd-channels other connections. (With mapped-ram the channels write into this file.)
   */
  private multifdNote(): void {
    const flushes = this.ram.multifdFlushes ?? 0;
    if (!flushes || this.ram.mappedRam) return;
    const pages = this.ram.pageRecords ?? 0;
    const ramBlocks = this.ram.blocks.length;
    this.ctx.diag("warning", "multifd-pages-elsewhere", `multifd: this is the main channel of a multifd migration (${flushes} MULTIFD_FLUSH sync point${flushes === 1 ? "" : "s"}, ${pages} page record${pages === 1 ? "" : "s"} for ${ramBlocks} RAM blocks): the guest's RAM pages went over the other multifd channels (separate connections, MultiFD packets) and are not in this file`, { start: 0, end: 0 });
  }

  private result(root: VNode): DecodedStream {
    const out: DecodedStream = {
      size: this.src.size,
      root,
      diagnostics: this.ctx.diagnostics,
      sections: this.sections,
      helpers: this.helpers,
      commands: this.commands,
      ramBlocks: this.ram.blocks,
      pageSize: this.ram.pageSize,
      capabilities: this.capabilities,
    };
    if (this.vmdesc) out.vmdesc = this.vmdesc;
    if (this.vmdescText !== undefined) out.vmdescText = this.vmdescText;
    if (this.vmdescLoc) out.vmdescSpan = { start: this.vmdescLoc.recordOffset, end: this.vmdescLoc.jsonEnd };
    if (this.machineType !== undefined) out.machineType = this.machineType;
    return out;
  }

  private header(r: Reader, top: VNode[]): boolean {
    const ctx = this.ctx;
    if (this.src.size < 8) {
      ctx.diag("error", "not-a-stream", `not a QEMU migration stream: ${this.src.size} bytes, the header alone needs 8`, { start: 0, end: this.src.size });
      return false;
    }
    const magic = r.u32("file magic");
    const version = r.u32("file version");
    const hdr = ctx.node({ id: "header", kind: "header", name: "header", detail: `QEVM v${version}`, children: [] }, 0, 8);
    hdr.children!.push(
      ctx.node({ id: "header/magic", kind: "field", name: "magic", type: "uint32", value: magic, enc: "u32", detail: magic === QEMU_VM_FILE_MAGIC ? '"QEVM"' : hex(magic), valueSpan: { start: 0, end: 4 } }, 0, 4),
      ctx.node({ id: "header/version", kind: "field", name: "version", type: "uint32", value: version, enc: "u32", detail: String(version), valueSpan: { start: 4, end: 8 } }, 4, 8),
    );
    top.push(hdr);
    if (magic !== QEMU_VM_FILE_MAGIC) {
      ctx.diag("error", "bad-magic", `not a QEMU migration stream: magic at 0x0 is ${hexPreview(this.src.read(0, 4))}, expected 51 45 56 4d ("QEVM")`, { start: 0, end: 4 }, "header/magic");
      hdr.incomplete = true;
      return false;
    }
    if (version === QEMU_VM_FILE_VERSION_COMPAT) {
      ctx.diag("error", "obsolete-version", "stream version 2 (QEMU_VM_FILE_VERSION_COMPAT) is the obsolete pre-2010 format, which QEMU no longer loads and this tool does not decode", { start: 4, end: 8 }, "header/version");
      hdr.incomplete = true;
      return false;
    }
    if (version !== QEMU_VM_FILE_VERSION) {
      ctx.diag("error", "bad-version", `unknown stream version ${version} at 0x4 (expected 3)`, { start: 4, end: 8 }, "header/version");
      hdr.incomplete = true;
      return false;
    }
    return true;
  }

  private findVmdesc(): void {
    const loc = locateVmdesc(this.src);
    if (!loc) return;
    const json = text(this.src.read(loc.jsonStart, loc.jsonEnd - loc.jsonStart));
    const parsed = parseVmdesc(json);
    if (!parsed.desc) {
      this.ctx.diag("warning", "vmdesc-invalid", `${parsed.error} (at ${hex(loc.jsonStart)}); device sections are shown raw`, { start: loc.jsonStart, end: loc.jsonEnd });
      return;
    }
    this.vmdescLoc = loc;
    this.vmdesc = parsed.desc;
    this.vmdescText = json;
    this.dataEnd = loc.eofOffset + 1;
    const ps = parsed.desc.page_size;
    if (Number.isInteger(ps) && ps >= 512 && ps <= 1 << 20 && (ps & (ps - 1)) === 0) this.ram.pageSize = ps;
    else this.ctx.diag("warning", "vmdesc-page-size", `vmdesc page_size ${ps} is not a plausible page size; using ${this.ram.pageSize}`, { start: loc.jsonStart, end: loc.jsonEnd });
    this.checkVmdesc(parsed.desc, loc);
    for (const d of parsed.desc.devices) {
      if (!d || typeof d !== "object") continue;
      const key = `${String(d.name)}\0${Number(d.instance_id)}`;
      const list = this.devicesByKey.get(key) ?? [];
      list.push(d);
      this.devicesByKey.set(key, list);
    }
  }

  /**
   * Malformed descriptions (null fields, a non-string type, nesting beyond MAX_VMSD_DEPTH…) get a
   * warning and are replaced by an empty description, so their sections are shown raw rather than
   * decoded from something we cannot stand behind (or crashing on it).
   */
  private checkVmdesc(desc: VmDesc, loc: VmdescLocation): void {
    const span = { start: loc.jsonStart, end: loc.jsonEnd };
    let shown = 0;
    const bad = (what: string, problem: string) => {
      if (shown++ < 50) this.ctx.diag("warning", "vmdesc-malformed", `the vmdesc's description of ${what} is malformed (${problem}); it is shown raw`, span);
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
    if (shown > 50) this.ctx.diag("warning", "vmdesc-malformed", `${shown - 50} more malformed device descriptions in the vmdesc`, span);
  }

  /** The record loop, until EOF or `limit`. Returns true when EOF was read. */
  records(r: Reader, into: VNode[], idPrefix: string, limit: number, topLevel: boolean): boolean {
    const ctx = this.ctx;
    while (r.pos < limit && !ctx.stopped) {
      const start = r.pos;
      const type = r.peekU8("record type");
      const id = `${idPrefix}r${into.length}`;
      try {
        switch (type) {
          case QEMU_VM_EOF: {
            r.u8();
            into.push(ctx.node({ id, kind: "eof", name: "EOF", type: "uint8", value: 0, enc: "u8", detail: "end of device state" }, start, r.pos));
            return true;
          }
          case QEMU_VM_CONFIGURATION:
            this.configuration(r, into, id);
            break;
          case QEMU_VM_SECTION_START:
          case QEMU_VM_SECTION_FULL:
          case QEMU_VM_SECTION_PART:
          case QEMU_VM_SECTION_END:
            this.section(r, into, id, type, limit);
            break;
          case QEMU_VM_COMMAND:
            this.command(r, into, id);
            break;
          case QEMU_VM_SECTION_FOOTER: {
            r.u8();
            const sid = r.u32("footer section id");
            into.push(ctx.node({ id, kind: "footer", name: "footer", type: "footer", detail: `stray footer for section ${sid}` }, start, r.pos));
            ctx.diag("error", "stray-footer", `section footer at ${hex(start)} follows no section`, { start, end: r.pos }, id);
            break;
          }
          default: {
            const next = this.resync(start + 1, limit);
            into.push(ctx.node({ id, kind: "unparsed", name: "unparsed", detail: `${next - start} bytes` }, start, next));
            ctx.diag("error", "unknown-record", `unknown record type ${hex(type)} at ${hex(start)}${next < limit ? `; resuming at ${hex(next)} (heuristic: next plausible section header)` : ""}`, { start, end: start + 1 }, id);
            r.pos = next;
          }
        }
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        ctx.diag("error", e.code, e.message, e.span, into[into.length - 1]?.id);
        if (e.code === "truncated" || e.code === "too-many-nodes" || r.pos >= limit) {
          markIncomplete(into[into.length - 1]);
          r.pos = limit;
          return false;
        }
        const last = into[into.length - 1];
        const next = this.resync(Math.max(r.pos, start + 1), limit);
        if (last && last.span.start >= start) {
          last.incomplete = true;
          clip(last, next);
          last.span.end = next;
        } else {
          into.push(ctx.node({ id, kind: "unparsed", name: "unparsed", detail: `${next - start} bytes` }, start, next));
        }
        if (next < limit) ctx.diag("info", "resync", `resuming at ${hex(next)} (heuristic: the next plausible record)`, { start: next, end: next });
        r.pos = next;
      }
    }
    if (topLevel && !ctx.stopped) {
      this.ctx.diag("error", "no-eof", `the stream ends at ${hex(r.pos)} without an EOF record: it is truncated`, { start: r.pos, end: r.pos });
    }
    return false;
  }

  private trailer(r: Reader, top: VNode[]): void {
    const ctx = this.ctx;
    const size = this.src.size;
    if (r.pos >= size) {
      if (this.vmdescLoc === undefined && top.some((n) => n.kind === "eof")) {
        const why = this.sawPackaged
          ? "this is a postcopy stream (the device state is inside MIG_CMD_PACKAGED, and QEMU writes no vmdesc once postcopy starts)"
          : "the source did not write one (suppress-vmdesc, postcopy, or an old machine type)";
        ctx.diag("info", "no-vmdesc", `the stream has no vmdesc: ${why}. Without it nothing says what the fields of a device section are, so device sections are shown as raw bytes (hex)`, { start: size, end: size });
      }
      return;
    }
    const start = r.pos;
    if (r.peekU8() === QEMU_VM_VMDESCRIPTION) {
      const loc = this.vmdescLoc;
      const node = ctx.node({ id: "vmdesc", kind: "vmdesc", name: "vmdesc", type: "json", children: [] }, start, start);
      top.push(node);
      r.u8();
      const len = r.u32("vmdesc length");
      node.children!.push(
        ctx.node({ id: "vmdesc/$type", kind: "field", name: "type", type: "uint8", value: QEMU_VM_VMDESCRIPTION, enc: "u8", detail: "QEMU_VM_VMDESCRIPTION", valueSpan: { start, end: start + 1 } }, start, start + 1),
        ctx.node({ id: "vmdesc/$length", kind: "field", name: "length", type: "uint32", value: len, enc: "u32", detail: `${len} bytes`, valueSpan: { start: start + 1, end: start + 5 } }, start + 1, start + 5),
      );
      const jsonStart = r.pos;
      if (len > r.remaining) {
        node.incomplete = true;
        node.span.end = size;
        ctx.diag("error", "truncated", `vmdesc at ${hex(start)} declares ${len} bytes, only ${r.remaining} remain`, { start, end: size }, "vmdesc");
        r.pos = size;
        return;
      }
      r.skip(len);
      node.children!.push(ctx.node({ id: "vmdesc/json", kind: "field", name: "json", type: "json", detail: `${len} bytes of JSON${this.vmdesc ? `, ${this.vmdesc.devices.length} devices` : ""}`, valueSpan: { start: jsonStart, end: r.pos } }, jsonStart, r.pos));
      node.span.end = r.pos;
      node.detail = this.vmdesc ? `page_size ${this.vmdesc.page_size}, ${this.vmdesc.devices.length} devices` : `${len} bytes`;
      if (!loc || loc.recordOffset !== start) {
        if (!this.vmdesc) {
          const parsed = parseVmdesc(text(this.src.read(jsonStart, len)));
          if (parsed.error) ctx.diag("warning", "vmdesc-invalid", `${parsed.error} (at ${hex(jsonStart)})`, { start: jsonStart, end: r.pos }, "vmdesc");
        }
      }
    }
    if (r.pos < size) {
      const ps = r.pos;
      const b = this.src.read(ps, Math.min(size - ps, 1 << 20));
      const zeros = b.length === size - ps && b.every((x) => x === 0);
      top.push(ctx.node({ id: "trailer", kind: zeros ? "padding" : "unparsed", name: zeros ? "padding" : "trailing bytes", detail: `${size - ps} bytes` }, ps, size));
      if (!zeros) ctx.diag("warning", "trailing-data", `${size - ps} bytes after the end of the stream at ${hex(ps)}`, { start: ps, end: size }, "trailer");
      r.pos = size;
    }
  }

  private configuration(r: Reader, into: VNode[], id: string): void {
    const ctx = this.ctx;
    ctx.wrap(r, into, { id, kind: "configuration", name: "configuration", type: "configuration" }, (kids) => {
      const s = r.pos;
      r.u8();
      kids.push(ctx.node({ id: `${id}/$type`, kind: "field", name: "type", type: "uint8", value: QEMU_VM_CONFIGURATION, enc: "u8", detail: "QEMU_VM_CONFIGURATION", valueSpan: { start: s, end: s + 1 } }, s, s + 1));
      const ls = r.pos;
      const len = r.u32("machine type length");
      if (len > 4096) throw new DecodeError("config-bad-length", `machine type length ${len} at ${hex(ls)} is implausible`, ls);
      const name = r.bytes(len, "machine type");
      this.machineType = text(name);
      kids.push(ctx.node({ id: `${id}/name`, kind: "field", name: "name", type: "buffer", value: name, enc: "cstr32", detail: JSON.stringify(this.machineType), valueSpan: { start: ls + 4, end: r.pos } }, ls, r.pos));
      while (!r.atEnd() && r.peekU8() === QEMU_VM_SUBSECTION) this.configSubsection(r, kids, id);
      into[into.length - 1]!.detail = this.machineType;
    });
  }

  private configSubsection(r: Reader, kids: VNode[], parentId: string): void {
    const ctx = this.ctx;
    const start = r.pos;
    const sub = readSubsectionHeader(ctx, r, parentId, kids);
    const { name, id } = sub;
    const c = sub.children!;
    try {
      if (name === "configuration/target-page-bits") {
        const s = r.pos;
        const bits = r.u32("target page bits");
        c.push(ctx.node({ id: `${id}/target_page_bits`, kind: "field", name: "target_page_bits", type: "uint32", value: bits, enc: "u32", detail: `${bits} (${2 ** bits}-byte pages)`, valueSpan: { start: s, end: r.pos } }, s, r.pos));
        sub.detail = `${2 ** bits}-byte pages`;
        if (!this.vmdesc && bits >= 9 && bits <= 20) this.ram.pageSize = 2 ** bits;
      } else if (name === "configuration/capabilities") {
        const s = r.pos;
        const count = r.u32("capability count");
        c.push(ctx.node({ id: `${id}/caps_count`, kind: "field", name: "caps_count", type: "uint32", value: count, enc: "u32", detail: String(count), valueSpan: { start: s, end: r.pos } }, s, r.pos));
        if (count > r.remaining) throw new DecodeError("truncated", `capability count ${count} at ${hex(s)} exceeds what remains`, s, count, r.remaining);
        const arr = ctx.node({ id: `${id}/capabilities`, kind: "array", name: "capabilities", type: "capability", children: [], info: { length: count } }, r.pos, r.pos);
        c.push(arr);
        for (let i = 0; i < count; i++) {
          const cs = r.pos;
          const b = r.counted("capability");
          const cap = text(b);
          this.capabilities.push(cap);
          arr.children!.push(ctx.node({ id: `${id}/capabilities/${i}`, kind: "element", name: `capabilities[${i}]`, type: "capability", value: b, enc: "cstr8", detail: cap, valueSpan: { start: cs + 1, end: r.pos } }, cs, r.pos));
          arr.span.end = r.pos;
        }
        arr.detail = this.capabilities.join(", ");
        sub.detail = arr.detail;
        this.ram.ignoreShared = this.capabilities.includes("x-ignore-shared");
        this.ram.mappedRam = this.capabilities.includes("mapped-ram");
      } else if (name === "configuration/uuid") {
        const s = r.pos;
        const u = r.bytes(16, "uuid");
        const h = Array.from(u, (x) => x.toString(16).padStart(2, "0")).join("");
        const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
        c.push(ctx.node({ id: `${id}/uuid`, kind: "field", name: "uuid", type: "buffer", detail: uuid, valueSpan: { start: s, end: r.pos } }, s, r.pos));
        sub.detail = uuid;
      } else {
        const desc = this.vmdesc?.configuration?.subsections?.find((d) => d.vmsd_name === name);
        if (!desc) throw new DecodeError("config-unknown-subsection", `unknown configuration subsection ${JSON.stringify(name)} at ${hex(start)} and no vmdesc describes it`, start);
        decodeVmsd(ctx, r, desc, id, c);
      }
    } catch (e) {
      sub.incomplete = true;
      throw e;
    } finally {
      sub.span.end = r.pos;
    }
  }

  private handlerFor(name: string, instanceId: number, versionId: number, kind: SectionKind): { handler: Handler; desc?: VmsdDesc } {
    const key = `${name}\0${instanceId}`;
    const devs = this.devicesByKey.get(key);
    if (kind === "full" && devs && devs.length) {
      const k = this.deviceCursor.get(key) ?? 0;
      this.deviceCursor.set(key, k + 1);
      return { handler: "vmsd", desc: devs[Math.min(k, devs.length - 1)]! };
    }
    if (name === "ram" && versionId === 4) return { handler: "ram" };
    if (name === "dbus-vmstate/dbus-vmstate" && kind === "full" && versionId === 0) return { handler: "dbus-builtin", desc: DBUS_VMSTATE_DESC };
    if (name === "block" && kind === "start") return { handler: "block" };
    if (name === "spapr/htab" && versionId === 1) return { handler: "htab" };
    if (name === "s390-storage_attributes" && versionId === 0) return { handler: "s390" };
    return { handler: "opaque" };
  }

  private section(r: Reader, into: VNode[], id: string, type: number, limit: number): void {
    const ctx = this.ctx;
    const start = r.pos;
    const kind = SECTION_KIND[type]!;
    const node = ctx.node({ id, kind: "section", name: "", type: kind.toUpperCase(), children: [] }, start, start);
    into.push(node);
    const kids = node.children!;
    const leaf = (name: string, enc: "u8" | "u32" | "cstr8", value: number | Uint8Array, s: number, detail: string, vs?: number) =>
      kids.push(ctx.node({ id: `${id}/$${name}`, kind: "field", name, type: enc === "cstr8" ? "counted string" : enc === "u8" ? "uint8" : "uint32", value, enc, detail, valueSpan: { start: vs ?? s, end: r.pos } }, s, r.pos));
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
        const h = this.handlerFor(name, instanceId, versionId, kind);
        desc = h.desc;
        open = { name, instanceId, versionId, handler: h.handler };
        if (kind === "start") this.open.set(sectionId, open);
      } else {
        const o = this.open.get(sectionId);
        if (!o) {
          ctx.diag("error", "unknown-section-id", `${kind.toUpperCase()} record at ${hex(start)} continues section ${sectionId}, which no START opened`, { start, end: r.pos }, id);
          open = { name: `section ${sectionId}`, instanceId: 0, versionId: 0, handler: "opaque" };
        } else open = o;
        if (kind === "end") this.open.delete(sectionId);
      }
      node.name = open.name;
      node.detail = `${kind.toUpperCase()} · id ${sectionId} · instance ${open.instanceId} · v${open.versionId}`;
      node.info = { sectionId, instanceId: open.instanceId, versionId: open.versionId, sectionKind: kind, handler: open.handler };
      const info: SectionInfo = { sectionId, name: open.name, instanceId: open.instanceId, versionId: open.versionId, kind, offset: start, end: start, nodeId: id };
      this.sections.push(info);
      try {
        this.payload(r, kids, id, open, desc, sectionId, limit);
      } finally {
        info.end = r.pos;
      }
      this.footer(r, kids, id, sectionId, limit);
      info.end = r.pos;
    } catch (e) {
      node.incomplete = true;
      throw e;
    } finally {
      node.span.end = r.pos;
    }
  }

  private payload(r: Reader, kids: VNode[], id: string, open: OpenSection, desc: VmsdDesc | undefined, sectionId: number, limit: number): void {
    const ctx = this.ctx;
    switch (open.handler) {
      case "ram":
        decodeRamPayload(ctx, r, this.ram, id, kids);
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
          desc = { ...desc, fields: [{ name: "data_size", type: "uint32", size: 4 }, { name: "data", type: "buffer", size: dataSize }] };
          if (dataSize > r.remaining) throw new DecodeError("truncated", `dbus-vmstate data_size ${dataSize} at ${hex(s)} runs past the end`, s, dataSize, r.remaining);
        }
        if (!desc || !Array.isArray(desc.fields)) {
          ctx.diag("warning", "vmdesc-no-fields", `the vmdesc entry for ${open.name} has no ${desc?.malformed ? `usable fields (${String(desc.malformed)})` : "fields"}; shown raw`, { start: r.pos, end: r.pos }, id);
          this.opaque(r, kids, id, sectionId, limit);
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
            ctx.diag("error", "dbus-data-size-mismatch", `dbus-vmstate data_size is ${String(dataSize.value)} but the vmdesc describes ${len} bytes of data at ${hex(data.span.start)}; QEMU reads data_size bytes, so the destination misreads the rest of the stream ("Unexpected early end-of-stream" or a bad section)`, dataSize.span, dataSize.id);
          }
          if (data) {
            const sub = ctx.reader(data.span.start, data.span.end);
            decodeDbusData(ctx, sub, data, this.helpers);
          }
        }
        return;
      }
      default:
        this.opaque(r, kids, id, sectionId, limit);
    }
  }

  /** A payload nobody describes: its end is the section's footer, or a plausible next record. */
  private opaque(r: Reader, kids: VNode[], id: string, sectionId: number, limit: number): void {
    const ctx = this.ctx;
    const start = r.pos;
    let end = -1;
    let how = "";
    if (this.footers !== false) {
      end = this.scanForFooter(start, sectionId, limit);
      how = "its section footer";
    }
    if (end < 0) {
      end = this.resync(start, limit);
      how = "a heuristic (the next plausible section header; this stream has no footers to go by)";
      if (end >= limit && limit < this.src.size) how = "the EOF before the vmdesc";
    }
    kids.push(ctx.node({ id: `${id}/payload`, kind: "opaque", name: "payload", type: "opaque", detail: `${end - start} bytes (format not described)` }, start, end));
    if (how.startsWith("a heuristic")) this.heuristicSections++;
    ctx.diag("info", "opaque-section", `section payload at ${hex(start)} (${end - start} bytes) is not described by the vmdesc; its end was found from ${how}`, { start, end }, `${id}/payload`);
    r.pos = end;
  }

  private footer(r: Reader, kids: VNode[], id: string, sectionId: number, limit: number): void {
    const ctx = this.ctx;
    if (r.pos >= limit) return;
    const s = r.pos;
    if (r.peekU8() !== QEMU_VM_SECTION_FOOTER) {
      if (this.footers === true) {
        ctx.diag("error", "missing-footer", `section ${sectionId} is not followed by its footer at ${hex(s)}`, { start: s, end: s + 1 }, id);
        throw new DecodeError("missing-footer", `expected section footer (0x7e) for section ${sectionId} at ${hex(s)}, found ${hex(r.peekU8())}`, s);
      }
      this.footers = false;
      return;
    }
    r.u8();
    const fid = r.u32("footer section id");
    const node = ctx.node({ id: `${id}/$footer`, kind: "footer", name: "footer", type: "footer", detail: `section ${fid}`, children: [] }, s, r.pos);
    node.children!.push(
      ctx.node({ id: `${id}/$footer/marker`, kind: "field", name: "marker", type: "uint8", value: QEMU_VM_SECTION_FOOTER, enc: "u8", detail: "QEMU_VM_SECTION_FOOTER", valueSpan: { start: s, end: s + 1 } }, s, s + 1),
      ctx.node({ id: `${id}/$footer/section_id`, kind: "field", name: "section_id", type: "uint32", value: fid, enc: "u32", detail: String(fid), valueSpan: { start: s + 1, end: r.pos } }, s + 1, r.pos),
    );
    kids.push(node);
    this.footers = true;
    if (fid !== sectionId) {
      ctx.diag("error", "footer-mismatch", `section footer at ${hex(s)} names section ${fid}, expected ${sectionId}: QEMU would stop here ("Mismatched section footer")`, { start: s, end: r.pos }, node.id);
    }
  }

  /** A QEMU_VM_COMMAND record (decoded in commands.ts). */
  private command(r: Reader, into: VNode[], id: string): void {
    const s = r.pos;
    decodeCommand({
      ctx: this.ctx,
      commands: this.commands,
      depth: this.packagedDepth,
      postcopyAdvised: () => {
        this.ram.postcopyAdvised = true;
        this.ctx.diag("info", "postcopy-advise", "postcopy was advised: RAM blocks whose page size differs from the host's would carry an extra page_size, which is assumed absent", { start: s, end: r.pos }, id);
      },
      packaged: (start, end, kids, idPrefix) => this.packagedRecords(start, end, kids, idPrefix),
    }, r, into, id);
  }

  /** PACKAGED wraps a stream of records without header, ending in EOF (savevm.c loadvm_handle_cmd_packaged). */
  private packagedRecords(start: number, end: number, kids: VNode[], idPrefix: string): number {
    this.sawPackaged = true;
    const sub = this.ctx.reader(start, end);
    const saved = this.footers;
    this.packagedDepth++;
    try {
      this.records(sub, kids, idPrefix, end, false);
    } finally {
      this.packagedDepth--;
      this.footers = saved;
    }
    return sub.pos;
  }

  /** Scan for `0x7e be32(sectionId)` followed by a plausible record. Returns the footer offset or -1. */
  // Both scans read windows that start small and double (4 KiB … 1 MiB): a tiny section costs a
  // tiny read, not a 1 MiB copy (many tiny sections used to cost seconds and hundreds of MB). A
  // failed footer scan switches later sections to resync, so no byte is scanned more than twice.
  private scanForFooter(from: number, sectionId: number, limit: number): number {
    if (this.footerScanFailed) return -1;
    const b0 = (sectionId >>> 24) & 0xff, b1 = (sectionId >>> 16) & 0xff, b2 = (sectionId >>> 8) & 0xff, b3 = sectionId & 0xff;
    for (let base = from, ch = SCAN_MIN; base < limit; base += ch - 5, ch = Math.min(ch * 2, SCAN_MAX)) {
      const b = this.src.read(base, Math.min(ch, limit - base));
      for (let i = 0; i + 5 <= b.length; i++) {
        if (b[i] !== QEMU_VM_SECTION_FOOTER || b[i + 1] !== b0 || b[i + 2] !== b1 || b[i + 3] !== b2 || b[i + 4] !== b3) continue;
        if (this.plausibleRecordAt(base + i + 5, limit)) return base + i;
      }
      if (base + b.length >= limit) break;
    }
    this.footerScanFailed = true;
    return -1;
  }

  /** The next offset >= from where a plausible record starts, or `limit`. */
  resync(from: number, limit: number): number {
    for (let base = from, ch = SCAN_MIN; base < limit; base += ch, ch = Math.min(ch * 2, SCAN_MAX)) {
      const b = this.src.read(base, Math.min(ch, limit - base));
      for (let i = 0; i < b.length; i++) {
        const t = b[i];
        if (t !== QEMU_VM_SECTION_FULL && t !== QEMU_VM_SECTION_START && t !== QEMU_VM_EOF) continue;
        if (this.plausibleRecordAt(base + i, limit, true)) return base + i;
      }
    }
    return limit;
  }

  /** Is there a believable record at p? Strict mode accepts only START/FULL headers and a final EOF. */
  plausibleRecordAt(p: number, limit: number, strict = false): boolean {
    if (p === limit) return true;
    if (p > limit) return false;
    const b = this.src.read(p, Math.min(300, limit - p));
    const t = b[0]!;
    const be32 = (i: number) => ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
    switch (t) {
      case QEMU_VM_EOF:
        if (this.vmdescLoc) return p === this.vmdescLoc.eofOffset;
        return p + 1 === this.src.size || (b.length > 5 && b[1] === QEMU_VM_VMDESCRIPTION && be32(2) === this.src.size - p - 6);
      case QEMU_VM_SECTION_START:
      case QEMU_VM_SECTION_FULL: {
        if (b.length < 6) return false;
        const len = b[5]!;
        if (len === 0 || b.length < 6 + len + 8) return false;
        for (let i = 0; i < len; i++) {
          const c = b[6 + i]!;
          if (c < 0x20 || c > 0x7e) return false;
        }
        const name = text(b.subarray(6, 6 + len));
        const instance = be32(6 + len);
        const version = be32(10 + len);
        if (instance > 0xffff || version > 0xffff) return false;
        if (this.vmdesc && t === QEMU_VM_SECTION_FULL) return this.devicesByKey.has(`${name}\0${instance}`);
        return true;
      }
      case QEMU_VM_SECTION_PART:
      case QEMU_VM_SECTION_END:
        return !strict && b.length >= 5 && this.open.has(be32(1));
      case QEMU_VM_COMMAND:
        return !strict && b.length >= 5 && ((b[1]! << 8) | b[2]!) >= 1 && ((b[1]! << 8) | b[2]!) <= 11;
      default:
        return false;
    }
  }
}

/** Window sizes of the footer and resync scans. */
const SCAN_MIN = 4096;
const SCAN_MAX = 1 << 20;

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

/** Top-level nodes tile the file: bytes no record explains become "unparsed" nodes. */
function fillGaps(ctx: DecodeContext, root: VNode): void {
  const kids = root.children!;
  const out: VNode[] = [];
  let pos = 0;
  for (const k of kids) {
    if (k.span.start > pos) out.push(ctx.node({ id: `gap@${pos}`, kind: "unparsed", name: "unparsed", detail: `${k.span.start - pos} bytes` }, pos, k.span.start));
    out.push(k);
    pos = Math.max(pos, k.span.end);
  }
  if (pos < root.span.end) out.push(ctx.node({ id: `gap@${pos}`, kind: "unparsed", name: "unparsed", detail: `${root.span.end - pos} bytes` }, pos, root.span.end));
  root.children = out;
}

/**
 * `onRoot`: called with the root node as decoding starts; its children fill in record by record
 * (the last one may still be in progress), so the editor can show the tree as it grows.
 */
export function decodeStream(src: ByteSource, opts?: { onRoot?: (root: VNode) => void }): DecodedStream {
  const d = new StreamDecoder(src);
  d.onRoot = opts?.onRoot;
  return d.decode();
}
