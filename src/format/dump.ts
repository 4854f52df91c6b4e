// `vmstate dump`: the JSON that QEMU's scripts/analyze-migration.py -d state prints, from our tree,
// written straight from the nodes' bytes (pyjson.ts PyJsonWriter) without a dict of values first.
import { PyJsonWriter } from "./pyjson";
import { isKind, type ByteSource, type DecodedStream, type VNode } from "./types";

/** The analyzer shows these integer types signed (VMSDFieldInt) and the rest unsigned. */
const SIGNED = new Set([
  "int8",
  "int16",
  "int32",
  "int32 equal",
  "int32 le",
  "int64",
  "int64 equal",
  "uint8 equal",
  "uint16 equal",
]);
const UNSIGNED = new Set(["uint8", "uint16", "uint32", "uint32 equal", "uint64"]);

/** The value of one field from its bytes, as the analyzer prints it. */
function writeBytesValue(w: PyJsonWriter, type: string, b: Uint8Array): void {
  if (type === "bool" && b.length >= 1) return w.bool(b[0] !== 0);
  const signed = SIGNED.has(type);
  if ((signed || UNSIGNED.has(type)) && b.length > 0) {
    if (signed && b[0]! & 0x80) {
      // negative: the hex of the bytes and the value in parentheses, "0xff (-1)"
      let u = 0n;
      let uhex = "0x";
      for (const x of b) {
        u = (u << 8n) | BigInt(x);
        uhex += x.toString(16).padStart(2, "0");
      }
      return w.string(`${uhex} (${BigInt.asIntN(b.length * 8, u)})`);
    }
    return w.hexInt(b);
  }
  if (type === "capability") return w.string(new TextDecoder().decode(b));
  // VMSDFieldNull: QEMU >= 9.1 writes a NULL entry of an array of pointers as the byte "0"
  if (type === "nullptr") return w.string("nullptr");
  w.hexBytes(b);
}

function writeField(w: PyJsonWriter, src: ByteSource, n: VNode): void {
  const vs = n.valueSpan ?? n.span;
  writeBytesValue(w, n.type ?? "", src.read(vs.start, vs.end - vs.start));
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
function writeVmsdDict(w: PyJsonWriter, src: ByteSource, kids: VNode[]): void {
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
    if (parts.length === 1) writePart(w, src, parts[0]!);
    else {
      w.beginList();
      for (const p of parts) writePart(w, src, p);
      w.end();
    }
  }
  w.end();
}

function writePart(w: PyJsonWriter, src: ByteSource, p: Part): void {
  if (p.as === "element") writeElement(w, src, p.node);
  else if (p.as === "dict") writeVmsdDict(w, src, p.node.children ?? []);
  else writeRawRunList(w, src, p.node.children ?? []);
}

/** A run of array elements kept as one raw node (vmsd.ts MAX_ARRAY_NODES; types.ts FieldNodeInfo). */
type RawRun = VNode & { info: { elements: number; elementSize: number } };
const isRawRun = (n: VNode): n is RawRun => typeof n.info?.elements === "number";

/** The array's elements, made one by one from the bytes of raw runs. */
function writeRawRunList(w: PyJsonWriter, src: ByteSource, kids: VNode[]): void {
  w.beginList();
  for (const n of kids) {
    if (!isRawRun(n)) {
      writeElement(w, src, n);
      continue;
    }
    const size = n.info.elementSize;
    const start = (n.valueSpan ?? n.span).start;
    const type = n.type ?? "";
    for (let i = 0; i < n.info.elements; i++) writeBytesValue(w, type, src.read(start + i * size, size));
  }
  w.end();
}

function writeElement(w: PyJsonWriter, src: ByteSource, n: VNode): void {
  if (n.kind === "struct") writeVmsdDict(w, src, n.children ?? []);
  else writeField(w, src, n);
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
      writeVmsdDict(w, src, n.children ?? []);
    } else if (handler === "opaque") {
      // no vmdesc entry describes it (e.g. a postcopy stream, which has no vmdesc): its raw
      // bytes as hex, as the analyzer shows an undescribed buffer, never an empty string
      const payload = (n.children ?? []).find((c) => c.kind === "opaque");
      if (payload) w.hexBytes(src.read(payload.span.start, payload.span.end - payload.span.start));
      else w.string("");
    } else {
      w.string("");
    }
  }
  w.end();
  return w.text() + "\n";
}
