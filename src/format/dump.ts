// `vmstate dump`: the JSON that QEMU's scripts/analyze-migration.py -d state prints, from our tree.
import { PyLazyList, pyJson, type PyDict, type PyValue } from "./pyjson";
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

/** Two lowercase hex digits per byte value. */
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hexBytes(b: Uint8Array): string {
  if (b.length === 0) return "";
  const parts = new Array<string>(b.length);
  for (let i = 0; i < b.length; i++) parts[i] = HEX2[b[i]!]!;
  return parts.join(" ");
}

function fieldValue(src: ByteSource, n: VNode): PyValue {
  const vs = n.valueSpan ?? n.span;
  const b = src.read(vs.start, vs.end - vs.start);
  const type = n.type ?? "";
  if (n.type === "bool" && b.length >= 1) return b[0] !== 0;
  if ((SIGNED.has(type) || UNSIGNED.has(type)) && b.length > 0) {
    // big-endian, two digits a byte: the hex without a BigInt (the dump's hot path)
    let uhex = "0x";
    for (let i = 0; i < b.length; i++) uhex += HEX2[b[i]!]!;
    if (SIGNED.has(type) && b[0]! & 0x80) {
      let u = 0n;
      for (const x of b) u = (u << 8n) | BigInt(x);
      return `${uhex} (${BigInt.asIntN(b.length * 8, u)})`;
    }
    return uhex;
  }
  if (type === "capability") return new TextDecoder().decode(b);
  // VMSDFieldNull: QEMU >= 9.1 writes a NULL entry of an array of pointers as the byte "0"
  if (type === "nullptr") return "nullptr";
  return hexBytes(b);
}

const isFraming = (n: VNode) => n.id.slice(n.id.lastIndexOf("/") + 1).startsWith("$");

/**
 * QEMU 10.x's analyzer (VMSDFieldStruct.read) keys values by field name: the first value of a
 * name is stored as it is, a second one turns it into a list and later ones are appended. So an
 * array of n >= 2 elements is a list and a one-element array is its element. QEMU 7.2's analyzer
 * (a list per "index", a plain name replaced) gives the same result on every stream QEMU writes,
 * as vmstate.c makes field names unique and writes "index"/"array_len" only for n >= 2.
 */
function vmsdDict(src: ByteSource, kids: VNode[]): PyDict {
  const d: PyDict = new Map();
  const add = (name: string, v: PyValue) => {
    if (!d.has(name)) d.set(name, v);
    else {
      const prev = d.get(name)!;
      if (Array.isArray(prev)) prev.push(v);
      else d.set(name, [prev, v]);
    }
  };
  for (const k of kids) {
    if (isFraming(k) || k.kind === "footer") continue;
    // huge arrays kept as raw runs (vmsd.ts MAX_ARRAY_NODES): elements made while the JSON is written
    if (k.kind === "array" && k.children?.some(isRawRun)) {
      d.set(k.name, rawRunList(src, k.children));
      continue;
    }
    switch (k.kind) {
      case "array":
        for (const e of k.children ?? []) add(k.name, elementValue(src, e));
        break;
      case "subsection":
        d.set(k.name, vmsdDict(src, k.children ?? []));
        break;
      default:
        add(k.name, elementValue(src, k));
    }
  }
  return d;
}

/** A run of array elements kept as one raw node (vmsd.ts MAX_ARRAY_NODES; types.ts FieldNodeInfo). */
type RawRun = VNode & { info: { elements: number; elementSize: number } };
const isRawRun = (n: VNode): n is RawRun => typeof n.info?.elements === "number";

/** The array's elements, made one by one from the bytes of raw runs while the JSON is written. */
function rawRunList(src: ByteSource, kids: VNode[]): PyLazyList {
  const total = kids.reduce((t, n) => t + (isRawRun(n) ? n.info.elements : 1), 0);
  return new PyLazyList(total, function* () {
    for (const n of kids) {
      if (!isRawRun(n)) {
        yield elementValue(src, n);
        continue;
      }
      const size = n.info.elementSize;
      const start = (n.valueSpan ?? n.span).start;
      const el: VNode = {
        id: n.id,
        kind: "element",
        name: n.name,
        span: { start, end: start },
        valueSpan: { start, end: start },
      };
      if (n.type !== undefined) el.type = n.type;
      for (let i = 0; i < n.info.elements; i++) {
        el.valueSpan = { start: start + i * size, end: start + (i + 1) * size };
        yield fieldValue(src, el);
      }
    }
  });
}

function elementValue(src: ByteSource, n: VNode): PyValue {
  if (n.kind === "struct") return vmsdDict(src, n.children ?? []);
  return fieldValue(src, n);
}

export function dumpState(src: ByteSource, decoded: DecodedStream): PyDict {
  const out: PyDict = new Map();
  const order = new Map<number, { name: string; value: PyValue }>();
  const walk = (nodes: VNode[]) => {
    for (const n of nodes) {
      if (n.kind === "command")
        walk((n.children ?? []).filter((c) => c.kind === "packaged").flatMap((c) => c.children ?? []));
      if (!isKind(n, "section") || !n.info) continue;
      const sid = n.info.sectionId;
      const kind = n.info.sectionKind;
      if (kind !== "start" && kind !== "full") continue;
      const handler = n.info.handler;
      let value: PyValue;
      if (handler === "ram") {
        const sizes: PyDict = new Map();
        for (const b of decoded.ramBlocks) sizes.set(b.name, "0x" + b.usedLength.toString(16).padStart(16, "0"));
        value = new Map([["section sizes", sizes]]);
      } else if (handler === "vmsd" || handler === "dbus-builtin") {
        value = vmsdDict(src, n.children ?? []);
      } else if (handler === "opaque") {
        // no vmdesc entry describes it (e.g. a postcopy stream, which has no vmdesc): its raw
        // bytes as hex, as the analyzer shows an undescribed buffer, never an empty string
        const payload = (n.children ?? []).find((c) => c.kind === "opaque");
        value = payload ? hexBytes(src.read(payload.span.start, payload.span.end - payload.span.start)) : "";
      } else {
        value = "";
      }
      // a START/FULL for an id seen before replaces its value but keeps its place
      const prev = order.get(sid);
      order.set(sid, { name: prev?.name ?? n.name, value });
    }
  };
  walk(decoded.root.children ?? []);
  for (const [sid, { name, value }] of order) out.set(`${name} (${sid})`, value);
  return out;
}

export function dumpStateJson(src: ByteSource, decoded: DecodedStream): string {
  return pyJson(dumpState(src, decoded)) + "\n";
}
