// lzop files (what libvirt's save_image_format = "lzop" pipes the stream through) and the LZO1X
// decompressor they need. No npm package fits: lzo-decompress is a native addon, lzo-ts is
// GPL-3.0, lzo-wasm is an 770 KB FFmpeg build. The format is small: lzop's header and block
// framing (lzop.c / the lzop file format), and LZO1X's instruction set as Linux documents it in
// Documentation/staging/lzo.rst. Pure, streaming by block, every read bounds-checked.
import { ContainerError, hex } from "./types";

const LZOP_MAGIC = [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a];
const F_ADLER32_D = 0x1;
const F_ADLER32_C = 0x2;
const F_H_EXTRA_FIELD = 0x40;
const F_CRC32_D = 0x100;
const F_CRC32_C = 0x200;
const F_H_FILTER = 0x800;
/** lzop's MAX_BLOCK_SIZE: a block never decompresses to more */
const MAX_BLOCK = 64 * 1024 * 1024;

export function adler32(b: Uint8Array, start = 1): number {
  let a = start & 0xffff;
  let s = (start >>> 16) & 0xffff;
  for (let i = 0; i < b.length;) {
    const n = Math.min(3800, b.length - i);
    for (const end = i + n; i < end; i++) {
      a += b[i]!;
      s += a;
    }
    a %= 65521;
    s %= 65521;
  }
  return ((s << 16) | a) >>> 0;
}

function lzoError(msg: string, at: number): ContainerError {
  return new ContainerError("lzo-corrupt", `LZO data is corrupt: ${msg}`, at);
}

/**
 * LZO1X decompression of one block into exactly `outLen` bytes. `base` is the block's file offset
 * (for error messages). Throws on any read past the input, write past the output or match
 * reaching before the output start.
 */
export function lzo1xDecompress(src: Uint8Array, outLen: number, base = 0): Uint8Array {
  const out = new Uint8Array(outLen);
  let ip = 0;
  let op = 0;
  const need = (n: number) => {
    if (ip + n > src.length) throw lzoError(`input ends inside an instruction`, base + ip);
  };
  const room = (n: number) => {
    if (op + n > outLen) throw lzoError(`output would exceed the block's ${outLen} bytes`, base + ip);
  };
  const literals = (n: number) => {
    need(n);
    room(n);
    out.set(src.subarray(ip, ip + n), op);
    ip += n;
    op += n;
  };
  const copyMatch = (dist: number, n: number) => {
    const from = op - dist;
    if (from < 0) throw lzoError(`match distance ${dist} reaches before the block start`, base + ip);
    room(n);
    for (let i = 0; i < n; i++) out[op + i] = out[from + i]!;
    op += n;
  };
  const runLength = (t: number, extra: number) => {
    // a zero length field is followed by zero bytes (255 each) and a final non-zero byte
    if (t !== 0) return t;
    let n = 0;
    need(1);
    while (src[ip] === 0) {
      n += 255;
      ip++;
      need(1);
      if (n > outLen + 255) throw lzoError("length run too long", base + ip);
    }
    return n + extra + src[ip++]!;
  };
  need(1);
  let t: number;
  let state: "instr" | "afterLiteral" | "match" = "instr";
  if (src[0]! > 17) {
    t = src[ip++]! - 17;
    literals(t);
    // t < 4: these were a match's trailing literals, so the next byte is a match instruction
    state = t < 4 ? "match" : "afterLiteral";
  }
  for (;;) {
    need(1);
    t = src[ip++]!;
    if (state === "instr") {
      if (t < 16) {
        // literal run of t+3 (t == 0: long run)
        literals(runLength(t, 15) + 3);
        state = "afterLiteral";
        continue;
      }
    } else if (state === "afterLiteral" && t < 16) {
      // M1 right after a literal run: 3 bytes, distance 1 + 0x800 + (t >> 2) + (next << 2)
      need(1);
      const dist = 1 + 0x0800 + (t >> 2) + (src[ip++]! << 2);
      copyMatch(dist, 3);
      const s = t & 3;
      if (s === 0) state = "instr";
      else {
        literals(s);
        state = "match";
      }
      continue;
    }
    // a match instruction
    let s: number;
    if (t >= 64) {
      need(1);
      const dist = 1 + ((t >> 2) & 7) + (src[ip++]! << 3);
      copyMatch(dist, (t >> 5) - 1 + 2);
      s = t & 3;
    } else if (t >= 32) {
      const len = runLength(t & 31, 31);
      need(2);
      const dist = 1 + (src[ip]! >> 2) + (src[ip + 1]! << 6);
      s = src[ip]! & 3;
      ip += 2;
      copyMatch(dist, len + 2);
    } else if (t >= 16) {
      const len = runLength(t & 7, 7);
      need(2);
      let dist = ((t & 8) << 11) + (src[ip]! >> 2) + (src[ip + 1]! << 6);
      s = src[ip]! & 3;
      ip += 2;
      if (dist === 0) {
        // end of stream marker
        if (op !== outLen) throw lzoError(`block ended after ${op} of ${outLen} bytes`, base + ip);
        if (ip !== src.length) throw lzoError(`${src.length - ip} bytes after the end marker`, base + ip);
        return out;
      }
      dist += 0x4000;
      copyMatch(dist, len + 2);
    } else {
      // M1 after a match's trailing literals: 2 bytes, distance 1 + (t >> 2) + (next << 2)
      need(1);
      const dist = 1 + (t >> 2) + (src[ip++]! << 2);
      copyMatch(dist, 2);
      s = t & 3;
    }
    if (s === 0) state = "instr";
    else {
      literals(s);
      state = "match";
    }
  }
}

/**
 * A streaming lzop reader: push() the file's bytes in any chunks; each decompressed block goes
 * to `onData`. Only one block (at most 64 MiB, lzop's limit) is buffered.
 */
export class LzopDecoder {
  private buf = new Uint8Array(0);
  private consumed = 0;
  private flags = 0;
  private headerDone = false;
  private ended = false;

  constructor(
    private readonly onData: (b: Uint8Array) => void,
    /** file offset of the lzop data (for messages) */
    private readonly base = 0,
  ) {}

  push(chunk: Uint8Array, final = false): void {
    if (this.ended) {
      if (chunk.length)
        throw new ContainerError(
          "lzo-corrupt",
          `${chunk.length} bytes after the end of the lzop data`,
          this.base + this.consumed,
        );
      return;
    }
    const nb = new Uint8Array(this.buf.length + chunk.length);
    nb.set(this.buf);
    nb.set(chunk, this.buf.length);
    this.buf = nb;
    let progress = true;
    while (progress && !this.ended) progress = this.headerDone ? this.block() : this.header();
    if (final && !this.ended)
      throw new ContainerError(
        "truncated",
        `the lzop data ends inside ${this.headerDone ? "a block" : "its header"} (no end-of-data block)`,
        this.base + this.consumed,
      );
  }

  private take(n: number): void {
    this.buf = this.buf.subarray(n);
    this.consumed += n;
  }

  private header(): boolean {
    const b = this.buf;
    if (b.length < 9 + 2 + 2 + 2 + 1 + 1 + 4) return false;
    for (let i = 0; i < 9; i++)
      if (b[i] !== LZOP_MAGIC[i]) throw new ContainerError("bad-magic", "not lzop data: bad magic", this.base);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let p = 9;
    const version = dv.getUint16(p);
    p += 4; // version, lib_version
    if (version >= 0x0940) p += 2; // version_needed_to_extract
    const method = b[p++]!;
    if (version >= 0x0940) p++; // level
    if (![1, 2, 3].includes(method))
      throw new ContainerError("unsupported", `lzop method ${method} is not LZO1X (1, 2 or 3)`, this.base + p - 1);
    if (b.length < p + 4) return false;
    this.flags = dv.getUint32(p);
    p += 4;
    if (this.flags & F_H_FILTER) p += 4;
    p += 8; // mode, mtime_low
    if (version >= 0x0940) p += 4; // mtime_high
    if (b.length < p + 1) return false;
    const nameLen = b[p++]!;
    p += nameLen + 4; // name, header checksum
    if (this.flags & F_H_EXTRA_FIELD) {
      if (b.length < p + 4) return false;
      p += 4 + dv.getUint32(p) + 4;
    }
    if (p > 64 * 1024 + 512) throw new ContainerError("lzo-corrupt", "lzop header is too long", this.base);
    if (b.length < p) return false;
    this.take(p);
    this.headerDone = true;
    return true;
  }

  private block(): boolean {
    const b = this.buf;
    if (b.length < 4) return false;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const dstLen = dv.getUint32(0);
    if (dstLen === 0) {
      this.take(4);
      this.ended = true;
      return false;
    }
    if (dstLen > MAX_BLOCK)
      throw new ContainerError(
        "lzo-corrupt",
        `lzop block at ${hex(this.base + this.consumed)} claims ${dstLen} bytes, over lzop's 64 MiB block limit`,
        this.base + this.consumed,
      );
    if (b.length < 8) return false;
    const srcLen = dv.getUint32(4);
    if (srcLen > dstLen)
      throw new ContainerError(
        "lzo-corrupt",
        `lzop block at ${hex(this.base + this.consumed)}: compressed size ${srcLen} > uncompressed ${dstLen}`,
        this.base + this.consumed,
      );
    let p = 8;
    const dsum = this.flags & (F_ADLER32_D | F_CRC32_D);
    let adlerD: number | undefined;
    if (this.flags & F_ADLER32_D) {
      if (b.length < p + 4) return false;
      adlerD = dv.getUint32(p);
    }
    if (dsum) p += (this.flags & F_ADLER32_D ? 4 : 0) + (this.flags & F_CRC32_D ? 4 : 0);
    if (srcLen < dstLen) p += (this.flags & F_ADLER32_C ? 4 : 0) + (this.flags & F_CRC32_C ? 4 : 0);
    if (b.length < p + srcLen) return false;
    const at = this.base + this.consumed + p;
    const data = b.subarray(p, p + srcLen);
    const out = srcLen < dstLen ? lzo1xDecompress(data, dstLen, at) : data.slice();
    if (adlerD !== undefined && adler32(out) !== adlerD)
      throw new ContainerError(
        "lzo-corrupt",
        `lzop block at ${hex(this.base + this.consumed)}: adler32 of the decompressed data does not match`,
        this.base + this.consumed,
      );
    this.take(p + srcLen);
    this.onData(out);
    return true;
  }

  get done(): boolean {
    return this.ended;
  }
}
