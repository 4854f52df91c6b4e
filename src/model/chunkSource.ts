import type { Chunk } from "../format/encode";
import type { ByteSource, Span } from "../format/types";

/**
 * The bytes of an edited stream without materializing it: a list of chunks, each either a span
 * of the base source or literal bytes.
 */
export class ChunkSource implements ByteSource {
  readonly size: number;
  private readonly starts: number[] = [];

  constructor(
    readonly base: ByteSource,
    readonly chunks: Chunk[],
  ) {
    let pos = 0;
    for (const c of chunks) {
      this.starts.push(pos);
      pos += "bytes" in c ? c.bytes.length : c.copy.end - c.copy.start;
    }
    this.size = pos;
  }

  private index(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  readInto(offset: number, target: Uint8Array): number {
    const end = Math.min(this.size, offset + target.length);
    let pos = Math.max(0, offset);
    let i = this.index(pos);
    while (pos < end && i < this.chunks.length) {
      const c = this.chunks[i]!;
      const cs = this.starts[i]!;
      const len = "bytes" in c ? c.bytes.length : c.copy.end - c.copy.start;
      const from = pos - cs;
      const n = Math.min(len - from, end - pos);
      if (n > 0) {
        const at = pos - offset;
        if ("bytes" in c) target.set(c.bytes.subarray(from, from + n), at);
        else if (this.base.readInto) this.base.readInto(c.copy.start + from, target.subarray(at, at + n));
        else target.set(this.base.read(c.copy.start + from, n), at);
        pos += n;
      }
      i++;
    }
    return pos - Math.max(0, offset);
  }

  read(offset: number, length: number): Uint8Array {
    const s = Math.max(0, Math.min(offset, this.size));
    const n = Math.max(0, Math.min(length, this.size - s));
    const i = this.index(s);
    const c = this.chunks[i];
    if (c && "copy" in c && s + n <= this.starts[i]! + (c.copy.end - c.copy.start)) {
      return this.base.read(c.copy.start + (s - this.starts[i]!), n);
    }
    const out = new Uint8Array(n);
    this.readInto(s, out);
    return out;
  }

  /** The chunks, in terms of the base source, that make up `span` of this source. */
  flatten(span: Span = { start: 0, end: this.size }): Chunk[] {
    const out: Chunk[] = [];
    let pos = span.start;
    let i = this.index(pos);
    while (pos < span.end && i < this.chunks.length) {
      const c = this.chunks[i]!;
      const cs = this.starts[i]!;
      const len = "bytes" in c ? c.bytes.length : c.copy.end - c.copy.start;
      const from = pos - cs;
      const n = Math.min(len - from, span.end - pos);
      if (n > 0) {
        out.push(
          "bytes" in c
            ? { bytes: c.bytes.subarray(from, from + n) }
            : { copy: { start: c.copy.start + from, end: c.copy.start + from + n } },
        );
        pos += n;
      }
      i++;
    }
    return out;
  }
}

/** Chunks over a ChunkSource, re-expressed over its base (so a save copies from the original file). */
export function rebase(chunks: Chunk[], src: ByteSource): Chunk[] {
  if (!(src instanceof ChunkSource)) return chunks;
  const out: Chunk[] = [];
  for (const c of chunks) {
    if ("bytes" in c) out.push(c);
    else out.push(...rebase(src.flatten(c.copy), src.base));
  }
  return out;
}
