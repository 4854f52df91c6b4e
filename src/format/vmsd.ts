// Device state described by the vmdesc JSON (migration/vmstate.c, vmstate-types.c).
import type { DecodeContext } from "./context";
import { hexPreview } from "./context";
import { DecodeError, hex } from "./errors";
import { text, type Reader } from "./reader";
import { QEMU_VM_SUBSECTION, type Enc, type FieldDesc, type VmsdDesc, type VNode } from "./types";

interface IntType {
  enc: Enc;
  size: number;
}

const INT_TYPES: Record<string, IntType> = {
  int8: { enc: "i8", size: 1 },
  int16: { enc: "i16", size: 2 },
  int32: { enc: "i32", size: 4 },
  "int32 equal": { enc: "i32", size: 4 },
  // "le" is QEMU's less-or-equal check, not little-endian
  "int32 le": { enc: "i32", size: 4 },
  int64: { enc: "i64", size: 8 },
  // vmstate_info_int64_equal is really uint64-equal; show it unsigned
  "int64 equal": { enc: "u64", size: 8 },
  uint8: { enc: "u8", size: 1 },
  "uint8 equal": { enc: "u8", size: 1 },
  uint16: { enc: "u16", size: 2 },
  "uint16 equal": { enc: "u16", size: 2 },
  uint32: { enc: "u32", size: 4 },
  "uint32 equal": { enc: "u32", size: 4 },
  uint64: { enc: "u64", size: 8 },
  timer: { enc: "i64", size: 8 },
};

/** Types whose nested description is written into the field object itself: opaque `size` bytes. */
const OPAQUE_NESTED = new Set(["vstruct", "qtailq", "qlist", "gtree", "tmp"]);

export function readInt(r: Reader, enc: Enc, what: string): number | bigint {
  switch (enc) {
    case "u8":
      return r.u8(what);
    case "i8":
      return (r.u8(what) << 24) >> 24;
    case "u16":
      return r.u16(what);
    case "i16":
      return (r.u16(what) << 16) >> 16;
    case "u32":
      return r.u32(what);
    case "i32":
      return r.u32(what) | 0;
    case "u64":
      return r.u64(what);
    case "i64":
      return r.i64(what);
    default:
      throw new Error(`not an integer encoding: ${enc}`);
  }
}

/** formatInt's text of each u8 value and of 0 for each size, made once: most device fields are bytes (a PCIe config space is 4096) or zero. */
const U8_TEXT: string[] = [];
const ZERO_TEXT: string[] = [];

export function formatInt(v: number | bigint, enc: Enc): string {
  if (enc === "u8" && typeof v === "number" && v >= 0 && v <= 0xff)
    return (U8_TEXT[v] ??= `${v} (0x${v.toString(16).padStart(2, "0")})`);
  const size = encSize(enc);
  if (v == 0 /* 0 or 0n */) return (ZERO_TEXT[size] ??= `0 (0x${"0".repeat(size * 2)})`);
  if (typeof v === "bigint" ? v < 0n : v < 0) {
    const u = BigInt.asUintN(size * 8, BigInt(v));
    return `${v} (0x${u.toString(16).padStart(size * 2, "0")})`;
  }
  return `${v} (0x${v.toString(16).padStart(size * 2, "0")})`;
}

export function encSize(enc: Enc): number {
  switch (enc) {
    case "u8":
    case "i8":
    case "bool":
      return 1;
    case "u16":
    case "i16":
      return 2;
    case "u32":
    case "i32":
      return 4;
    case "u64":
    case "i64":
      return 8;
    default:
      return 0;
  }
}

function checkedSize(f: FieldDesc, r: Reader, id: string): number {
  const size = f.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new DecodeError("vmdesc-bad-size", `vmdesc field ${id} has no valid size (${String(size)})`, r.pos);
  }
  return size;
}

/** One element of a field: a scalar, raw bytes, or a nested struct. */
function decodeElement(ctx: DecodeContext, r: Reader, f: FieldDesc, id: string, name: string, into: VNode[]): void {
  const type = String(f.type ?? "unknown");
  const start = r.pos;
  if (type === "struct" && f.struct && typeof f.struct === "object") {
    ctx.wrap(r, into, { id, kind: "struct", name, type: "struct", detail: f.struct.vmsd_name ?? "" }, (children) => {
      decodeVmsd(ctx, r, f.struct!, id, children);
    });
    return;
  }
  if (type === "capability") {
    // variable length: read by its own framing, not by the (first element's) size
    const b = r.counted("capability");
    into.push(
      ctx.leaf(r, start, { id, kind: "field", name, type, value: b, enc: "cstr8", detail: text(b) }, start + 1),
    );
    return;
  }
  const size = checkedSize(f, r, id);
  const int = INT_TYPES[type];
  if (int && int.size === size) {
    const value = readInt(r, int.enc, name);
    into.push(
      ctx.leaf(r, start, {
        id,
        kind: "field",
        name,
        type,
        value,
        enc: int.enc,
        detail: type === "timer" && value === -1n ? "not armed" : formatInt(value, int.enc),
      }),
    );
    return;
  }
  if (type === "bool" && size === 1) {
    const v = r.u8(name);
    const n = ctx.leaf(r, start, {
      id,
      kind: "field",
      name,
      type,
      value: v !== 0,
      enc: "bool",
      detail: v === 0 ? "false" : v === 1 ? "true" : `true (0x${v.toString(16)})`,
    });
    if (v > 1) n.info = { raw: v };
    into.push(n);
    return;
  }
  if ((type === "nullptr" || type === "ptr-marker" || (type === "uint64" && size === 1)) && size === 1) {
    const v = r.u8(name);
    const detail = v === 0x30 ? "NULL pointer" : v === 0x31 ? "valid pointer" : `marker 0x${v.toString(16)}`;
    into.push(ctx.leaf(r, start, { id, kind: "field", name, type, value: v, enc: "u8", detail }));
    return;
  }
  // buffers, bitmaps, float64, CPU_Double_U, device-specific and unknown types: raw bytes of their size
  r.skip(size, `field ${name} (${type}, ${size} bytes)`);
  let detail = `${size} bytes`;
  if (size > 0 && size <= 16) detail = hexPreview(r.src.read(start, size));
  if (OPAQUE_NESTED.has(type)) detail += " (nested state, shown raw)";
  into.push(ctx.leaf(r, start, { id, kind: "field", name, type, detail }));
}

function countElements(group: FieldDesc[]): number {
  return group.reduce((n, g) => n + (typeof g.array_len === "number" ? g.array_len : 1), 0);
}

function isArrayField(f: FieldDesc): boolean {
  return typeof f.array_len === "number" || typeof f.index === "number";
}

/**
 * Arrays of more elements than this (of a non-struct type) become one raw node: a hostile vmdesc
 * with array_len 1,900,000 must not make millions of objects. QEMU's largest real arrays are 32768.
 */
export const MAX_ARRAY_NODES = 65536;
/** The limit in force (tests lower it to check raw runs against QEMU's analyzer on real streams). */
export const arrayLimits = { maxArrayNodes: MAX_ARRAY_NODES };

/** Current decodeVmsd nesting (decoding is synchronous): a backstop to the vmdesc check's depth limit. */
let vmsdDepth = 0;
const MAX_DECODE_DEPTH = 64;

/** Decode one VMState body (fields then subsections) as the vmdesc describes it. */
export function decodeVmsd(ctx: DecodeContext, r: Reader, desc: VmsdDesc, parentId: string, into: VNode[]): void {
  if (vmsdDepth >= MAX_DECODE_DEPTH)
    throw new DecodeError(
      "vmdesc-too-deep",
      `the vmdesc nests descriptions more than ${MAX_DECODE_DEPTH} deep at ${hex(r.pos)}`,
      r.pos,
    );
  vmsdDepth++;
  try {
    decodeVmsdBody(ctx, r, desc, parentId, into);
  } finally {
    vmsdDepth--;
  }
}

function decodeVmsdBody(ctx: DecodeContext, r: Reader, desc: VmsdDesc, parentId: string, into: VNode[]): void {
  const fields = Array.isArray(desc.fields) ? desc.fields : [];
  const seen = new Map<string, number>();
  let i = 0;
  while (i < fields.length) {
    const f = fields[i]!;
    const name = String(f.name ?? `field${i}`);
    const dup = seen.get(name) ?? 0;
    seen.set(name, dup + 1);
    const baseId = `${parentId}/${name}${dup ? `#${dup}` : ""}`;
    // An array is a run of consecutive entries with the same name (QEMU makes other field names
    // unique with a "[n]" suffix): one compressed entry (array_len) or per-element entries
    // (index). QEMU >= 10.0 writes an array of structs as elements with "index" 0..n-2 and a last
    // element without one (vmstate.c passes n_elems - i as vmsd_desc_field_start's max_elems,
    // which writes "index" only when that is > 1), and splits arrays of pointers into runs at
    // each NULL/non-NULL change (a run of one element has neither index nor array_len).
    const group: FieldDesc[] = [f];
    i++;
    while (i < fields.length && fields[i]!.name === f.name) {
      const g = fields[i]!;
      // a second indexed array restarting at 0 is a separate field (never seen from QEMU)
      if (g.index === 0 && typeof group[group.length - 1]!.index === "number") break;
      group.push(g);
      i++;
    }
    if (group.length === 1 && !isArrayField(f)) {
      decodeElement(ctx, r, f, baseId, name, into);
      continue;
    }
    const total = countElements(group);
    ctx.wrap(
      r,
      into,
      {
        id: baseId,
        kind: "array",
        name,
        type: String(f.type),
        detail: `${total} × ${String(f.type)}`,
        info: { length: total },
      },
      (children) => {
        let k = 0;
        for (const g of group) {
          const count = typeof g.array_len === "number" ? g.array_len : 1;
          if (!Number.isSafeInteger(count) || count < 0)
            throw new DecodeError("vmdesc-bad-array", `vmdesc array ${name} has length ${count}`, r.pos);
          const size = g.type === "struct" || g.type === "capability" ? 0 : checkedSize(g, r, baseId);
          if (size * count > r.remaining) {
            throw new DecodeError(
              "truncated",
              `array ${name} (${count} × ${size} bytes) at ${hex(r.pos)} runs past the end of its section`,
              r.pos,
              size * count,
              r.remaining,
            );
          }
          if (count > arrayLimits.maxArrayNodes && g.type !== "struct" && g.type !== "capability") {
            // one node for the whole run, not one per element: memory stays bounded (docs/LIMITS.md);
            // dump still lists every element, from the bytes
            const s = r.pos;
            r.skip(size * count, `array ${name}`);
            const type = String(g.type);
            children.push(
              ctx.leaf(r, s, {
                id: `${baseId}/${k}..${k + count - 1}`,
                kind: "field",
                name: `${name}[${k}…${k + count - 1}]`,
                type,
                detail: `${count} × ${type}, shown raw (arrays of more than ${MAX_ARRAY_NODES} elements are not split into nodes)`,
                info: { elements: count, elementSize: size, firstIndex: k },
              }),
            );
            k += count;
            continue;
          }
          for (let e = 0; e < count; e++, k++) decodeElement(ctx, r, g, `${baseId}/${k}`, `${name}[${k}]`, children);
        }
      },
    );
  }
  const subs = Array.isArray(desc.subsections) ? desc.subsections : [];
  for (const sub of subs) {
    const start = r.pos;
    if (r.atEnd() || r.peekU8("subsection marker") !== QEMU_VM_SUBSECTION) {
      throw new DecodeError(
        "subsection-missing",
        `subsection ${String(sub.vmsd_name)} described in the vmdesc is not at ${hex(start)}`,
        start,
      );
    }
    const node = readSubsectionHeader(ctx, r, parentId, into);
    const { name } = node;
    const id = node.id;
    if (sub.vmsd_name !== undefined && sub.vmsd_name !== name) {
      ctx.diag(
        "warning",
        "subsection-name-mismatch",
        `subsection at ${hex(start)} is ${name}, the vmdesc describes ${String(sub.vmsd_name)} here`,
        { start, end: r.pos },
        id,
      );
    }
    try {
      decodeVmsd(ctx, r, sub, id, node.children!);
    } catch (e) {
      node.incomplete = true;
      throw e;
    } finally {
      node.span.end = r.pos;
    }
  }
}

/** `0x05, counted name, be32 version` (vmstate_subsection_load): a subsection node with its framing leaves. */
export function readSubsectionHeader(ctx: DecodeContext, r: Reader, parentId: string, into: VNode[]): VNode {
  const start = r.pos;
  r.u8("subsection marker");
  const nameBytes = r.counted("subsection name");
  const name = text(nameBytes);
  const version = r.u32("subsection version");
  const id = `${parentId}/${name}`;
  const node = ctx.from(r, start, {
    id,
    kind: "subsection",
    name,
    type: "subsection",
    detail: `version ${version}`,
    children: [],
    info: { version },
  });
  into.push(node);
  node.children!.push(
    ctx.leafAt(
      {
        id: `${id}/$marker`,
        kind: "field",
        name: "marker",
        type: "uint8",
        value: QEMU_VM_SUBSECTION,
        enc: "u8",
        detail: "QEMU_VM_SUBSECTION",
      },
      start,
      start + 1,
    ),
    ctx.node(
      {
        id: `${id}/$name`,
        kind: "field",
        name: "name",
        type: "counted string",
        value: nameBytes,
        enc: "cstr8",
        detail: name,
        valueSpan: { start: start + 2, end: start + 2 + nameBytes.length },
      },
      start + 1,
      start + 2 + nameBytes.length,
    ),
    ctx.leaf(r, r.pos - 4, {
      id: `${id}/$version`,
      kind: "field",
      name: "version_id",
      type: "uint32",
      value: version,
      enc: "u32",
      detail: String(version),
    }),
  );
  return node;
}
