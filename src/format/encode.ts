// The encoder: the decoded tree back to bytes. Leaves with a value are written from the value;
// everything else (page data, buffers, opaque payloads, bytes between leaves) is copied by span.
import type { Span, VNode } from "./types";

export type Chunk = { copy: Span } | { bytes: Uint8Array };

function be(n: number | bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = BigInt.asUintN(size * 8, BigInt(n));
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Bytes of one leaf value; undefined when the leaf is raw (copied). */
export function encodeLeaf(n: VNode): Uint8Array | undefined {
  const v = n.value;
  switch (n.enc) {
    case undefined:
      return undefined;
    case "u8":
    case "i8":
      return be(v as number, 1);
    case "u16":
    case "i16":
      return be(v as number, 2);
    case "u32":
    case "i32":
      return be(v as number, 4);
    case "u64":
    case "i64":
      return be(v as bigint, 8);
    case "bool":
      // keep a non-canonical true byte (e.g. 0x02) as it was (FieldNodeInfo.raw)
      if (typeof v === "boolean")
        return n.info?.raw !== undefined ? Uint8Array.of(n.info.raw) : Uint8Array.of(v ? 1 : 0);
      return be(Number(v), 1);
    case "cstr8": {
      const b = v as Uint8Array;
      const out = new Uint8Array(1 + b.length);
      out[0] = b.length;
      out.set(b, 1);
      return out;
    }
    case "cstr32": {
      const b = v as Uint8Array;
      const out = new Uint8Array(4 + b.length);
      out.set(be(b.length, 4), 0);
      out.set(b, 4);
      return out;
    }
    case "raw":
      return v as Uint8Array;
  }
}

/**
 * Chunks that make up the stream for `root`. Incomplete nodes are copied whole, so a stream that
 * decoded with errors still re-encodes to the same bytes. `overrides` replace the bytes of
 * the nodes they name (edits).
 */
/**
 * Whether encodeStream copies node `n`'s bytes as they are, without looking at its children (so
 * an override inside it has no effect; model/edits.ts refuses such edits): lazily expanded
 * children (RAM pages) are views of bytes the run already stands for, and a node that did not
 * decode completely is kept as read unless its undecoded rest is a raw child.
 */
export function copiedWhole(n: VNode): boolean {
  return !!n.lazy || (!!n.incomplete && !n.children?.some((c) => c.enc === "raw"));
}

export function encodeStream(root: VNode, overrides?: ReadonlyMap<string, Chunk[]>): Chunk[] {
  const out: Chunk[] = [];
  const copy = (start: number, end: number) => {
    if (end <= start) return;
    const last = out[out.length - 1];
    if (last && "copy" in last && last.copy.end === start) last.copy.end = end;
    else out.push({ copy: { start, end } });
  };
  const walk = (n: VNode) => {
    const o = overrides?.get(n.id);
    if (o) {
      for (const c of o) {
        if ("copy" in c) copy(c.copy.start, c.copy.end);
        else if (c.bytes.length) out.push(c);
      }
      return;
    }
    if (copiedWhole(n)) {
      copy(n.span.start, n.span.end);
      return;
    }
    if (n.children && n.children.length) {
      let pos = n.span.start;
      for (const c of n.children) {
        if (c.span.start > pos) copy(pos, c.span.start);
        walk(c);
        pos = Math.max(pos, c.span.end);
      }
      copy(pos, n.span.end);
      return;
    }
    const b = encodeLeaf(n);
    if (b) out.push({ bytes: b });
    else copy(n.span.start, n.span.end);
  };
  walk(root);
  return out;
}
