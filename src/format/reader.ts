import { DecodeError, hex } from "./errors";
import type { ByteSource, ScanCursor } from "./types";

const CHUNK = 128 * 1024;
const TWO_32 = 0x1_0000_0000;

/**
 * Sequential big-endian reader over a ByteSource, bounded by `limit`.
 * Every read checks what remains first, so no length from the stream can drive an allocation
 * or a read past the end.
 */
export class Reader {
  pos: number;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  /** A DataView of `buf` for 64-bit reads (made on the first one after each refill). */
  private dv?: DataView;
  /** Our own window buffer when the source can fill one (file sources). */
  private own?: Uint8Array;
  /** The source's forward walk, for a reader that goes through the whole stream (`sequential`). */
  private cursor?: ScanCursor;

  constructor(
    readonly src: ByteSource,
    start = 0,
    readonly limit = src.size,
    sequential = false,
  ) {
    this.pos = start;
    if (sequential) this.cursor = src.scan?.(start);
  }

  /** Ends a sequential reader's walk (the source stops reading ahead); reading on still works. */
  close(): void {
    this.cursor?.close();
  }

  get remaining(): number {
    return this.limit - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.limit;
  }

  /** Throws a truncation error unless n more bytes are available. */
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.limit) {
      throw new DecodeError(
        "truncated",
        `${what} at ${hex(this.pos)} needs ${n} bytes, only ${Math.max(0, this.limit - this.pos)} left`,
        this.pos,
        n,
        Math.max(0, this.limit - this.pos),
      );
    }
  }

  private view(n: number): number {
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const want = Math.min(Math.max(n, CHUNK), this.src.size - this.pos);
    if (this.cursor && n <= CHUNK) {
      this.buf = this.cursor.window(this.pos, n);
    } else if (this.src.readInto && n <= CHUNK) {
      if (!this.own) this.own = new Uint8Array(Math.max(n, Math.min(CHUNK, this.src.size - this.pos)));
      const got = this.src.readInto(this.pos, this.own.length >= want ? this.own.subarray(0, want) : this.own);
      this.buf = this.own.subarray(0, got);
    } else {
      this.buf = this.src.read(this.pos, want);
    }
    this.dv = undefined;
    this.bufStart = this.pos;
    if (this.buf.length < n) {
      throw new DecodeError("io", `short read at ${hex(this.pos)}`, this.pos, n, this.buf.length);
    }
    return 0;
  }

  peekU8(what = "byte"): number {
    this.need(1, what);
    const i = this.view(1);
    return this.buf[i]!;
  }

  u8(what = "u8"): number {
    this.need(1, what);
    const i = this.view(1);
    const v = this.buf[i]!;
    this.pos += 1;
    return v;
  }

  u16(what = "be16"): number {
    this.need(2, what);
    const i = this.view(2);
    this.pos += 2;
    return (this.buf[i]! << 8) | this.buf[i + 1]!;
  }

  u32(what = "be32"): number {
    this.need(4, what);
    const i = this.view(4);
    this.pos += 4;
    const b = this.buf;
    return ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
  }

  /** be64 as two halves, avoiding BigInt on hot paths. */
  u64parts(what = "be64"): [hi: number, lo: number] {
    const hi = this.u32(what);
    const lo = this.u32(what);
    return [hi, lo];
  }

  u64(what = "be64"): bigint {
    this.need(8, what);
    const i = this.view(8);
    this.pos += 8;
    return this.dataView().getBigUint64(i);
  }

  /** be64 two's complement. */
  i64(what = "be64"): bigint {
    this.need(8, what);
    const i = this.view(8);
    this.pos += 8;
    return this.dataView().getBigInt64(i);
  }

  /** A DataView of the current buffer: one BigInt per 64-bit read instead of three. */
  private dataView(): DataView {
    return (this.dv ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  /** be64 as a number; exact below 2^53, which covers every length and offset we use. */
  u64n(what = "be64"): number {
    const [hi, lo] = this.u64parts(what);
    return hi * TWO_32 + lo;
  }

  /** A copy of the next n bytes. Callers must bound n by what the format allows. */
  /** Address of the last record consumed by sameRecords. */
  lastAddr = 0;

  /**
   * The hot path of RAM decoding: consumes consecutive fixed-size records whose be64 header has
   * exactly `flags` in its low bits (under `mask`), without allocating. Returns how many.
   */
  sameRecords(flags: number, mask: number, recLen: number): number {
    let count = 0;
    for (;;) {
      if (this.pos + recLen > this.limit) return count;
      let i = this.pos - this.bufStart;
      if (i < 0 || i + 8 > this.buf.length) i = this.view(8);
      const b = this.buf;
      const lo = ((b[i + 4]! << 24) >>> 0) + ((b[i + 5]! << 16) | (b[i + 6]! << 8) | b[i + 7]!);
      if ((lo & mask) !== flags) return count;
      const hi = ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
      this.lastAddr = hi * TWO_32 + (lo - flags);
      this.pos += recLen;
      count++;
    }
  }

  bytes(n: number, what = "bytes"): Uint8Array {
    this.need(n, what);
    if (n <= CHUNK) {
      const i = this.view(n);
      this.pos += n;
      return this.buf.slice(i, i + n);
    }
    const out = this.src.read(this.pos, n).slice();
    this.pos += n;
    return out;
  }

  skip(n: number, what = "bytes"): void {
    this.need(n, what);
    this.pos += n;
  }

  /** u8 length + bytes (QEMU's counted string). The length is unsigned: QEMU's analyzer reads it signed. */
  counted(what = "counted string"): Uint8Array {
    const len = this.u8(what + " length");
    return this.bytes(len, what);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

export function text(b: Uint8Array): string {
  return utf8.decode(b);
}

export { isUtf8 } from "./bytes";
