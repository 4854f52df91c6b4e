// Byte helpers for the comparison: a sequential read window over a ByteSource (each byte of a
// file read once when the comparison walks it in order) and fast equality.
import type { ByteSource } from "../format/types";

interface NodeBufferLike extends Uint8Array {
  compare(target: Uint8Array, targetStart: number, targetEnd: number, sourceStart: number, sourceEnd: number): number;
}
interface BufferCtor {
  allocUnsafeSlow(n: number): NodeBufferLike;
}
/** Node's Buffer when there is one: its compare() is a native memcmp over sub-ranges, no views made. */
const NodeBuffer = (globalThis as { Buffer?: BufferCtor }).Buffer;

export function allocBytes(n: number): Uint8Array {
  return NodeBuffer ? NodeBuffer.allocUnsafeSlow(n) : new Uint8Array(n);
}

/** a[ai, ai+n) === b[bi, bi+n) */
export function rangesEqual(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): boolean {
  if (NodeBuffer && "compare" in a && typeof (a as NodeBufferLike).compare === "function") {
    return (a as NodeBufferLike).compare(b, bi, bi + n, ai, ai + n) === 0;
  }
  for (let i = 0; i < n; i++) if (a[ai + i] !== b[bi + i]) return false;
  return true;
}

/** Index of the first differing byte in the two ranges, or -1. */
export function firstDifference(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): number {
  for (let i = 0; i < n; i++) if (a[ai + i] !== b[bi + i]) return i;
  return -1;
}

export function allEqualTo(a: Uint8Array, ai: number, n: number, v: number): boolean {
  for (let i = 0; i < n; i++) if (a[ai + i] !== v) return false;
  return true;
}

/**
 * A window of a source's bytes. `at(offset, length)` returns the index in `buf` where those bytes
 * are, refilling the window from `offset` when they are not all in it: walking a file forwards
 * reads each byte once, with one buffer of fixed size (memory stays flat whatever the file size).
 */
export class ReadWindow {
  buf: Uint8Array;
  private start = 0;
  private end = 0;
  /** Bytes read from the source so far (tests and benchmarks check the "read once" claim). */
  bytesRead = 0;

  constructor(
    private readonly src: ByteSource,
    size = 1 << 20,
  ) {
    this.buf = allocBytes(size);
  }

  /** `until`: no byte at or after it will be asked for soon (the end of a run): read no further. */
  at(offset: number, length: number, until = Infinity): number {
    if (offset >= this.start && offset + length <= this.end) return offset - this.start;
    if (length > this.buf.length) this.buf = allocBytes(length);
    const want = Math.max(length, Math.min(this.buf.length, until - offset));
    const into = want < this.buf.length ? this.buf.subarray(0, want) : this.buf;
    let n: number;
    if (this.src.readInto) n = this.src.readInto(offset, into);
    else {
      const got = this.src.read(offset, want);
      this.buf.set(got);
      n = got.length;
    }
    this.bytesRead += n;
    this.start = offset;
    this.end = offset + n;
    if (n < length)
      throw new RangeError(
        `bytes 0x${offset.toString(16)}..0x${(offset + length).toString(16)} are past the end of the file (${this.src.size} bytes)`,
      );
    return 0;
  }
}

/** Compare two spans of (possibly big) bytes, chunk by chunk. Returns -1 when equal, else the first differing index (or the shorter length). */
export function compareSpans(
  sa: ByteSource,
  a: { start: number; end: number },
  sb: ByteSource,
  b: { start: number; end: number },
): number {
  const la = a.end - a.start;
  const lb = b.end - b.start;
  const n = Math.min(la, lb);
  const CH = 1 << 20;
  for (let p = 0; p < n; p += CH) {
    const k = Math.min(CH, n - p);
    const x = sa.read(a.start + p, k);
    const y = sb.read(b.start + p, k);
    if (x.length < k || y.length < k) return p;
    if (!rangesEqual(x, 0, y, 0, k)) return p + firstDifference(x, 0, y, 0, k);
  }
  return la === lb ? -1 : n;
}
