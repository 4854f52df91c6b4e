// `vmstate dump`: the JSON that QEMU's scripts/analyze-migration.py -d state prints, from our tree,
// written straight from the nodes' bytes (pyjson.ts PyJsonWriter) without a dict of values first.
import { PyJsonWriter } from "./pyjson";
import { isKind, type ByteSource, type DecodedStream, type VNode } from "./types";

// How the analyzer prints a field's value, by its vmdesc type: VMSDFieldInt types signed, the
// other integers unsigned ("0x" and the bytes), bools, capabilities as text, NULL entries of
// pointer arrays; everything else is a buffer (hex bytes).
const BUFFER = 0;
const BOOL = 1;
const SIGNED = 2;
const UNSIGNED = 3;
const CAPABILITY = 4;
const NULLPTR = 5;
const TYPE_CODE = new Map<string, number>([
  ["bool", BOOL],
  ...["int8", "int16", "int32", "int32 equal", "int32 le", "int64", "int64 equal", "uint8 equal", "uint16 equal"].map(
    (t) => [t, SIGNED] as [string, number],
  ),
  ...["uint8", "uint16", "uint32", "uint32 equal", "uint64"].map((t) => [t, UNSIGNED] as [string, number]),
  ["capability", CAPABILITY],
  // VMSDFieldNull: QEMU >= 9.1 writes a NULL entry of an array of pointers as the byte "0"
  ["nullptr", NULLPTR],
]);

/** The value of one field from its bytes b[from, to), as the analyzer prints it. */
function writeBytesValue(w: PyJsonWriter, type: string, b: Uint8Array, from: number, to: number): void {
  const code = TYPE_CODE.get(type) ?? BUFFER;
  if (code === BOOL && to > from) return w.bool(b[from] !== 0);
  if ((code === SIGNED || code === UNSIGNED) && to > from) {
    if (code === SIGNED && b[from]! & 0x80) {
      // negative: the hex of the bytes and the value in parentheses, "0xff (-1)"
      let u = 0n;
      let uhex = "0x";
      for (let i = from; i < to; i++) {
        u = (u << 8n) | BigInt(b[i]!);
        uhex += b[i]!.toString(16).padStart(2, "0");
      }
      return w.string(`${uhex} (${BigInt.asIntN((to - from) * 8, u)})`);
    }
    return w.hexInt(b, from, to);
  }
  if (code === CAPABILITY) return w.string(new TextDecoder().decode(b.subarray(from, to)));
  if (code === NULLPTR) return w.string("nullptr");
  w.hexBytes(b, from, to);
}

/**
 * The bytes of one dumped section, read once: its fields are ranges of them, not a read (and a
 * view object) each; a q35 machine has ~20,000 fields. Ranges outside it (none from the decoder)
 * and sections too big to hold are read field by field.
 */
class SectionBytes {
  private static readonly MAX = 64 * 1024 * 1024;
  private readonly buf: Uint8Array;
  /** where the last at() found its range: b[s, e) */
  b: Uint8Array;
  s = 0;
  e = 0;

  constructor(
    private readonly src: ByteSource,
    private readonly base: number,
    end: number,
  ) {
    // a copy: a source's view may be reused by its next read
    this.buf = end - base <= SectionBytes.MAX ? src.read(base, end - base).slice() : new Uint8Array(0);
    this.b = this.buf;
  }

  at(start: number, end: number): void {
    const s = start - this.base;
    if (s >= 0 && end - this.base <= this.buf.length) {
      this.b = this.buf;
      this.s = s;
      this.e = end - this.base;
    } else {
      this.b = this.src.read(start, end - start);
      this.s = 0;
      this.e = this.b.length;
    }
  }
}

function writeField(w: PyJsonWriter, sb: SectionBytes, n: VNode): void {
  const vs = n.valueSpan ?? n.span;
  sb.at(vs.start, vs.end);
  writeBytesValue(w, n.type ?? "", sb.b, sb.s, sb.e);
}

const isFraming = (n: VNode) => n.id.charCodeAt(n.id.lastIndexOf("/") + 1) === 0x24; // "$"

/** What a dict entry holds: an element or field, a subsection's dict, or a huge array kept as raw runs. */
type Part = { as: "element" | "dict" | "raw"; node: VNode };

/**
 * QEMU 10.x's analyzer (VMSDFieldStruct.read) keys values by field name: the first value of a
 * name is stored as it is, a second one turns it into a list and later ones are appended; a
 * subsection (or a raw array) replaces the value, keeping the name's place. So an array of n >= 2
 * elements is a list and a one-element array is its element. QEMU 7.2's analyzer (a list per
 * "index", a plain name replaced) gives the same result on every stream QEMU writes, as vmstate.c
 * makes field names unique and writes "index"/"array_len" only for n >= 2.
 */
function writeVmsdDict(w: PyJsonWriter, sb: SectionBytes, kids: VNode[]): void {
  if (uniqueNames(kids)) {
    // what every stream QEMU writes has (vmstate.c makes names unique): each entry in place, no merging
    w.beginDict();
    for (const k of kids) {
      if (isFraming(k) || k.kind === "footer") continue;
      if (k.kind === "array") {
        const el = k.children ?? [];
        if (el.some(isRawRun)) {
          w.key(k.name);
          writeRawRunList(w, sb, el);
        } else if (el.length === 1) {
          w.key(k.name);
          writeElement(w, sb, el[0]!);
        } else if (el.length > 1) {
          w.key(k.name);
          w.beginList();
          for (const e of el) writeElement(w, sb, e);
          w.end();
        }
      } else {
        w.key(k.name);
        if (k.kind === "subsection") writeVmsdDict(w, sb, k.children ?? []);
        else writeElement(w, sb, k);
      }
    }
    w.end();
    return;
  }
  const entries = new Map<string, Part[]>();
  const add = (name: string, p: Part) => {
    const parts = entries.get(name);
    if (parts) parts.push(p);
    else entries.set(name, [p]);
  };
  for (const k of kids) {
    if (isFraming(k) || k.kind === "footer") continue;
    // huge arrays kept as raw runs (vmsd.ts MAX_ARRAY_NODES): elements made while the JSON is written
    if (k.kind === "array" && k.children?.some(isRawRun)) {
      entries.set(k.name, [{ as: "raw", node: k }]);
      continue;
    }
    switch (k.kind) {
      case "array":
        for (const e of k.children ?? []) add(k.name, { as: "element", node: e });
        break;
      case "subsection":
        entries.set(k.name, [{ as: "dict", node: k }]);
        break;
      default:
        add(k.name, { as: "element", node: k });
    }
  }
  w.beginDict();
  for (const [name, parts] of entries) {
    w.key(name);
    if (parts.length === 1) writePart(w, sb, parts[0]!);
    else {
      w.beginList();
      for (const p of parts) writePart(w, sb, p);
      w.end();
    }
  }
  w.end();
}

/** No two entries of the dict share a name (framing and footers aside). */
function uniqueNames(kids: VNode[]): boolean {
  if (kids.length > 64) {
    const seen = new Set<string>();
    for (const k of kids) {
      if (isFraming(k) || k.kind === "footer") continue;
      if (seen.has(k.name)) return false;
      seen.add(k.name);
    }
    return true;
  }
  for (let i = 0; i < kids.length; i++) {
    const a = kids[i]!;
    if (a.kind === "footer") continue;
    for (let j = i + 1; j < kids.length; j++)
      if (kids[j]!.name === a.name && kids[j]!.kind !== "footer" && !isFraming(a) && !isFraming(kids[j]!)) return false;
  }
  return true;
}

function writePart(w: PyJsonWriter, sb: SectionBytes, p: Part): void {
  if (p.as === "element") writeElement(w, sb, p.node);
  else if (p.as === "dict") writeVmsdDict(w, sb, p.node.children ?? []);
  else writeRawRunList(w, sb, p.node.children ?? []);
}

/** A run of array elements kept as one raw node (vmsd.ts MAX_ARRAY_NODES; types.ts FieldNodeInfo). */
type RawRun = VNode & { info: { elements: number; elementSize: number } };
const isRawRun = (n: VNode): n is RawRun => typeof n.info?.elements === "number";

/** The array's elements, made one by one from the bytes of raw runs. */
function writeRawRunList(w: PyJsonWriter, sb: SectionBytes, kids: VNode[]): void {
  w.beginList();
  for (const n of kids) {
    if (!isRawRun(n)) {
      writeElement(w, sb, n);
      continue;
    }
    const size = n.info.elementSize;
    const start = (n.valueSpan ?? n.span).start;
    const type = n.type ?? "";
    for (let i = 0; i < n.info.elements; i++) {
      sb.at(start + i * size, start + (i + 1) * size);
      writeBytesValue(w, type, sb.b, sb.s, sb.e);
    }
  }
  w.end();
}

function writeElement(w: PyJsonWriter, sb: SectionBytes, n: VNode): void {
  if (n.kind === "struct") writeVmsdDict(w, sb, n.children ?? []);
  else writeField(w, sb, n);
}

/** Each section's START/FULL record, by section id in the order ids first appear. */
function dumpedSections(
  decoded: DecodedStream,
): Map<number, { name: string; node: VNode & { info: { handler: string } } }> {
  const order = new Map<number, { name: string; node: VNode & { info: { handler: string } } }>();
  const walk = (nodes: VNode[]) => {
    for (const n of nodes) {
      if (n.kind === "command")
        walk((n.children ?? []).filter((c) => c.kind === "packaged").flatMap((c) => c.children ?? []));
      if (!isKind(n, "section") || !n.info) continue;
      const kind = n.info.sectionKind;
      if (kind !== "start" && kind !== "full") continue;
      // a START/FULL for an id seen before replaces its value but keeps its place
      const prev = order.get(n.info.sectionId);
      order.set(n.info.sectionId, { name: prev?.name ?? n.name, node: n as VNode & { info: { handler: string } } });
    }
  };
  walk(decoded.root.children ?? []);
  return order;
}

export function dumpStateJson(src: ByteSource, decoded: DecodedStream): string {
  const w = new PyJsonWriter();
  w.beginDict();
  for (const [sid, { name, node: n }] of dumpedSections(decoded)) {
    w.key(`${name} (${sid})`);
    const handler = n.info.handler;
    if (handler === "ram") {
      w.beginDict();
      w.key("section sizes");
      w.beginDict();
      for (const b of decoded.ramBlocks) {
        w.key(b.name);
        w.string("0x" + b.usedLength.toString(16).padStart(16, "0"));
      }
      w.end();
      w.end();
    } else if (handler === "vmsd" || handler === "dbus-builtin") {
      writeVmsdDict(w, new SectionBytes(src, n.span.start, n.span.end), n.children ?? []);
    } else if (handler === "opaque") {
      // no vmdesc entry describes it (e.g. a postcopy stream, which has no vmdesc): its raw
      // bytes as hex, as the analyzer shows an undescribed buffer, never an empty string
      const payload = (n.children ?? []).find((c) => c.kind === "opaque");
      if (payload) {
        const b = src.read(payload.span.start, payload.span.end - payload.span.start);
        w.hexBytes(b, 0, b.length);
      } else w.string("");
    } else {
      w.string("");
    }
  }
  w.end();
  return w.text() + "\n";
}
