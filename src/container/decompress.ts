// Streamed decompression of a compressed QEMU stream into a temporary file, so the synchronous
// decoder gets random access (a FileByteSource over the temp file) while memory stays flat: the
// whole stream is never in memory, only a compressor block at a time. We decompress eagerly on
// open rather than keep seek checkpoints: the decoder walks every section on open anyway, and
// gzip/xz/bzip2 checkpoints would need the compressor's window state (32 KiB to 64 MiB each).
// The cost is disk space in the temp folder equal to the bare stream, removed on close (and the
// folders of processes that died without closing, on the next decompression).
//
// Libraries (all pure JS or wasm, bundled, no native build or download):
//   gzip  node:zlib (built in)
//   xz    xz-decompress (xz-embedded compiled to a 20 KB wasm inlined as a data: URL; streaming)
//   zstd  fzstd (pure JS, streaming push/ondata API, 8 KB minified)
//   bzip2 seek-bzip (pure JS, synchronous; we drive it one bzip2 block at a time so the editor
//         can show progress and cancel between blocks; unbzip2-stream buffers each block as a JS
//         number array, up to 8x the block in memory)
//   lzop  our own reader (lzo.ts): no package fits
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import * as zlib from "node:zlib";
import { LzopDecoder } from "./lzo";
import { ContainerError, hex, type Compression } from "./types";
import { toHex } from "../format/bytes";

export interface DecompressProgress {
  /** compressed bytes read so far / in all */
  read: number;
  total: number;
  /** decompressed bytes written so far */
  written: number;
}

export interface DecompressOptions {
  tempDir?: string;
  signal?: AbortSignal;
  onProgress?: (p: DecompressProgress) => void;
  /**
   * Decompression-bomb guard: past the first 64 MiB, output may be at most this many times the
   * compressed input read so far. Real migration streams compress 2-20x (zero pages are already
   * flags); gzip cannot exceed ~1032x anyway.
   */
  maxRatio?: number;
  /** absolute cap on the decompressed size (default 1 TiB) */
  maxBytes?: number;
  /**
   * Corrupt or cut-short compressed data: keep what decompressed so far (the decoder then shows a
   * partial tree and says where the stream ends) instead of failing. Bombs, cancels and data that
   * is no QEMU stream always fail.
   */
  keepPartial?: boolean;
}

export interface Decompressed {
  path: string;
  size: number;
  /** set when keepPartial kept a cut-short stream: why it ends early */
  partial?: string;
  /** removes the temp file and its folder */
  dispose(): void;
}

const READ_CHUNK = 1024 * 1024;
const RATIO_GRACE = 64 * 1024 * 1024;
const live = new Set<string>();
let exitHook = false;

/**
 * Temp folders are named vmstate-<pid>-XXXXXX. A process killed by a signal (an extension host
 * shut down hard) never runs its exit hook, so each new decompression removes the folders of
 * processes that no longer exist.
 */
function removeStale(tmpRoot: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(tmpRoot);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^vmstate-(\d+)-[A-Za-z0-9]{6}$/.exec(n);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH")
        fs.rmSync(path.join(tmpRoot, n), { recursive: true, force: true });
    }
  }
}

function cleanupOnExit(dir: string): void {
  live.add(dir);
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const d of live) fs.rmSync(d, { recursive: true, force: true });
  });
}

/** Writes decompressed bytes to the temp file and enforces the limits, synchronously. */
class Sink {
  written = 0;
  read = 0;
  private head = new Uint8Array(0);
  private lastReport = 0;
  constructor(
    private readonly fd: number,
    private readonly what: string,
    private readonly inputStart: number,
    private readonly total: number,
    private readonly opts: DecompressOptions,
  ) {}

  write(b: Uint8Array): void {
    // also here: one push of a few KB of zstd or xz can expand to gigabytes
    this.checkCancel();
    if (this.head.length < 4) {
      const h = new Uint8Array(Math.min(4, this.head.length + b.length));
      h.set(this.head);
      h.set(b.subarray(0, h.length - this.head.length), this.head.length);
      this.head = h;
      if (h.length === 4 && !(h[0] === 0x51 && h[1] === 0x45 && h[2] === 0x56 && h[3] === 0x4d)) {
        const shown = toHex(h, " ");
        throw new ContainerError(
          "not-qemu-stream",
          `the ${this.what} data at ${hex(this.inputStart)} decompresses to something that is not a QEMU migration stream: it starts ${shown}, not 51 45 56 4d ("QEVM")`,
          this.inputStart,
        );
      }
    }
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off, this.written + off);
    this.written += b.length;
    const max = this.opts.maxBytes ?? 2 ** 40;
    if (this.written > max)
      throw new ContainerError(
        "too-large",
        `the ${this.what} data decompresses to more than ${max} bytes (the limit); stopped`,
        this.inputStart,
      );
    const ratio = this.opts.maxRatio ?? 1000;
    if (this.written > RATIO_GRACE && this.written > Math.max(1, this.read) * ratio) {
      throw new ContainerError(
        "decompression-bomb",
        `the ${this.what} data at ${hex(this.inputStart)} expands more than ${ratio}:1 (${this.written} bytes from ${this.read}); a migration stream never does, so this looks like a decompression bomb. Stopped, nothing kept`,
        this.inputStart,
      );
    }
    if (this.opts.onProgress && this.written - this.lastReport >= 4 * 1024 * 1024) {
      this.lastReport = this.written;
      this.opts.onProgress({ read: this.read, total: this.total, written: this.written });
    }
  }

  checkCancel(): void {
    if (this.opts.signal?.aborted) throw new ContainerError("cancelled", "decompression cancelled");
  }
}

/** Decompresses file bytes [start, EOF) with `compression` into a temp file. */
export async function decompressToTemp(
  file: string,
  start: number,
  compression: Exclude<Compression, "none">,
  opts: DecompressOptions = {},
): Promise<Decompressed> {
  const total = Math.max(0, fs.statSync(file).size - start);
  const tmpRoot = opts.tempDir ?? os.tmpdir();
  removeStale(tmpRoot);
  const dir = fs.mkdtempSync(path.join(tmpRoot, `vmstate-${process.pid}-`));
  cleanupOnExit(dir);
  const out = path.join(dir, "stream.vmstate");
  const dispose = () => {
    live.delete(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const fd = fs.openSync(out, "wx", 0o600);
  const sink = new Sink(fd, compression, start, total, opts);
  try {
    await run(file, start, compression, sink);
    sink.checkCancel();
    if (sink.written < 4)
      throw new ContainerError(
        "not-qemu-stream",
        `the ${compression} data at ${hex(start)} decompresses to ${sink.written} bytes, not a QEMU migration stream`,
        start,
      );
    opts.onProgress?.({ read: total, total, written: sink.written });
    fs.closeSync(fd);
    return { path: out, size: sink.written, dispose };
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* closed */
    }
    const err =
      e instanceof ContainerError
        ? e
        : new ContainerError(
            "corrupt",
            `the ${compression} data starting at ${hex(start)} is corrupt or cut short: ${e instanceof Error ? e.message : String(e)} (after ${sink.read} compressed bytes, ${sink.written} decompressed)`,
            start,
          );
    if (opts.keepPartial && sink.written >= 4 && ["corrupt", "lzo-corrupt", "truncated"].includes(err.code)) {
      const fd2 = fs.openSync(out, "r+");
      fs.ftruncateSync(fd2, sink.written);
      fs.closeSync(fd2);
      return {
        path: out,
        size: sink.written,
        dispose,
        partial: `${err.message}; showing the ${sink.written} bytes that decompressed`,
      };
    }
    dispose();
    throw err;
  }
}

function input(file: string, start: number, sink: Sink): fs.ReadStream {
  const rs = fs.createReadStream(file, { start, highWaterMark: READ_CHUNK });
  rs.on("data", (c) => {
    sink.read += c.length;
  });
  return rs;
}

async function run(file: string, start: number, compression: Exclude<Compression, "none">, sink: Sink): Promise<void> {
  switch (compression) {
    case "gzip": {
      // concatenated gzip members (pigz, appends) are one stream to zlib's gunzip, as to gzip -d
      const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
      const rs = input(file, start, sink);
      const piped = rs.pipe(gunzip);
      rs.on("error", (e) => gunzip.destroy(e));
      try {
        for await (const c of piped) {
          sink.checkCancel();
          sink.write(c as Buffer);
        }
      } finally {
        rs.destroy();
        gunzip.destroy();
      }
      return;
    }
    case "xz": {
      const { XzReadableStream } = await import("xz-decompress");
      const rs = input(file, start, sink);
      const xz = new XzReadableStream(Readable.toWeb(rs) as unknown as ReadableStream<Uint8Array>);
      const reader = xz.getReader();
      try {
        for (;;) {
          sink.checkCancel();
          const { done, value } = await reader.read();
          if (done) break;
          sink.write(value);
        }
      } finally {
        void reader.cancel().catch(() => undefined);
        rs.destroy();
      }
      return;
    }
    case "zstd": {
      const { Decompress } = await import("fzstd");
      const d = new Decompress((chunk) => sink.write(chunk));
      const rs = input(file, start, sink);
      try {
        for await (const c of rs) {
          sink.checkCancel();
          const b = c as Buffer;
          // small pushes bound what one push can expand to before the sink's checks run
          for (let p = 0; p < b.length; p += 16384) d.push(b.subarray(p, Math.min(b.length, p + 16384)));
        }
        d.push(new Uint8Array(0), true);
      } finally {
        rs.destroy();
      }
      return;
    }
    case "lzop": {
      const d = new LzopDecoder((chunk) => sink.write(chunk), start);
      const rs = input(file, start, sink);
      try {
        for await (const c of rs) {
          sink.checkCancel();
          d.push(c as Buffer);
        }
        d.push(new Uint8Array(0), true);
      } finally {
        rs.destroy();
      }
      return;
    }
    case "bzip2":
      return bunzip(file, start, sink);
  }
}

interface SeekBzip {
  new (
    input: unknown,
    output: unknown,
  ): {
    _init_block(): boolean;
    _read_bunzip(): void;
    _start_bunzip(input: unknown, output: unknown): void;
    reader: { read(bits: number): number };
    streamCRC: number;
  };
}

/** bzip2 with seek-bzip, one block per step (its Bunzip.decode loop, with a yield between blocks). */
async function bunzip(file: string, start: number, sink: Sink): Promise<void> {
  const Bunzip = (await import("seek-bzip")).default as unknown as SeekBzip;
  const fd = fs.openSync(file, "r");
  const size = fs.fstatSync(fd).size;
  const inBuf = Buffer.allocUnsafe(READ_CHUNK);
  let inPos = start;
  let inStart = start;
  let inLen = 0;
  const inputStream = {
    readByte(): number {
      if (inPos - inStart >= inLen) {
        inStart = inPos;
        inLen = fs.readSync(fd, inBuf, 0, READ_CHUNK, inPos);
        sink.read = inStart + inLen - start;
        if (inLen === 0) throw new Error("unexpected end of the bzip2 data");
      }
      return inBuf[inPos++ - inStart]!;
    },
    read(buf: Uint8Array, off: number, len: number): number {
      for (let i = 0; i < len; i++) buf[off + i] = this.readByte();
      return len;
    },
    eof(): boolean {
      return inPos >= size;
    },
    seek(p: number): void {
      inPos = p;
      inLen = 0;
    },
  };
  const outBuf = new Uint8Array(READ_CHUNK);
  let outLen = 0;
  const outputStream = {
    writeByte(b: number): void {
      outBuf[outLen++] = b;
      if (outLen === outBuf.length) {
        sink.write(outBuf);
        outLen = 0;
      }
    },
  };
  // seek-bzip calls the deprecated Buffer() once per stream header; from a bundle Node would
  // print DEP0005 to stderr for it, so that one warning is dropped while it runs
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error, ...rest: unknown[]) => {
    const code = (typeof rest[0] === "object" && rest[0] && (rest[0] as { code?: string }).code) || rest[1];
    if (code === "DEP0005") return;
    (emit as (...a: unknown[]) => void).call(process, w, ...rest);
  }) as typeof process.emitWarning;
  try {
    const bz = new Bunzip(inputStream, outputStream);
    for (;;) {
      if (inputStream.eof()) break;
      if (bz._init_block()) {
        bz._read_bunzip();
      } else {
        const crc = bz.reader.read(32) >>> 0;
        if (crc !== bz.streamCRC >>> 0)
          throw new Error(
            `bad bzip2 stream CRC (got ${(bz.streamCRC >>> 0).toString(16)}, expected ${crc.toString(16)})`,
          );
        // pbzip2 and appended files: several bzip2 streams back to back
        if (inputStream.eof()) break;
        bz._start_bunzip(inputStream, outputStream);
      }
      if (outLen) {
        sink.write(outBuf.subarray(0, outLen));
        outLen = 0;
      }
      await new Promise((r) => setImmediate(r));
      sink.checkCancel();
    }
  } finally {
    process.emitWarning = emit;
    fs.closeSync(fd);
  }
}
