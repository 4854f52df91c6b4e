import * as fs from "node:fs";
import * as path from "node:path";
import type { ByteSource } from "../format/types";
import type { Chunk } from "../format/encode";
import { openExclusiveTemp } from "./safeWrite";

const COPY_BLOCK = 4 * 1024 * 1024;
const SMALL_BLOCK = 64 * 1024;

/**
 * Writes chunks (copied spans of `src` and literal bytes) to a temporary file next to `target`,
 * fsyncs it and renames it over `target`: a crash never leaves half a file. `onProgress` is
 * called after each block; when it throws, the temp file is removed and `target` left untouched.
 */
export function writeChunksAtomically(
  target: string,
  src: ByteSource,
  chunks: Chunk[],
  onProgress?: (written: number) => void,
): number {
  // the temporary file is created exclusively (O_EXCL|O_NOFOLLOW) and removed on every failure
  // (a full disk, a target that is a directory): nothing is left behind
  const { fd, tmp } = openExclusiveTemp(path.resolve(target));
  let written = 0;
  const buf = src.readInto ? new Uint8Array(COPY_BLOCK) : undefined;
  // small pieces (leaves, short copies) are gathered into one buffer: one write per 64 KiB, not
  // one system call per leaf (500,000 tiny records took seconds)
  const small = new Uint8Array(SMALL_BLOCK);
  let fill = 0;
  const flush = () => {
    if (fill) written += writeAll(fd, small.subarray(0, fill), written);
    fill = 0;
  };
  // copied bytes may be written sparse (whole zero 4 KiB blocks left as holes)
  const put = (b: Uint8Array, sparse: boolean) => {
    if (b.length > SMALL_BLOCK / 4) {
      flush();
      written += sparse ? writeSparse(fd, b, written) : writeAll(fd, b, written);
      return;
    }
    if (fill + b.length > SMALL_BLOCK) flush();
    small.set(b, fill);
    fill += b.length;
  };
  try {
    for (const c of chunks) {
      if ("bytes" in c) {
        put(c.bytes, false);
        continue;
      }
      for (let p = c.copy.start; p < c.copy.end; p += COPY_BLOCK) {
        const n = Math.min(COPY_BLOCK, c.copy.end - p);
        const b = buf && src.readInto ? buf.subarray(0, src.readInto(p, buf.subarray(0, n))) : src.read(p, n);
        if (b.length === 0)
          throw new Error(`could not read ${c.copy.end - p} bytes at 0x${p.toString(16)} of the source`);
        put(b, true);
        // may throw (the user cancelled): the temp file is removed, the target left as it was
        onProgress?.(written + fill);
      }
    }
    flush();
    // copied all-zero blocks were skipped (holes): the size comes from here
    fs.ftruncateSync(fd, written);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(target);
    } catch {
      /* new file */
    }
    if (st?.isDirectory()) throw Object.assign(new Error(`${target} is a directory`), { code: "EISDIR" });
    if (st) fs.chmodSync(tmp, st.mode & 0o7777);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return written;
}

function writeAll(fd: number, b: Uint8Array, position: number): number {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off, position + off);
  return b.length;
}

const HOLE_BLOCK = 4096;

function isZero(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Writes copied bytes at `position`, leaving whole all-zero 4 KiB blocks unwritten so they stay
 * holes: a sparse source (a mapped-ram stream of a big guest is mostly holes) gives a sparse copy.
 */
function writeSparse(fd: number, b: Uint8Array, position: number): number {
  let runStart = -1;
  // blocks on absolute 4 KiB boundaries of the output; the first may be partial
  for (let i = 0; i < b.length;) {
    const end = Math.min(b.length, i + HOLE_BLOCK - ((position + i) % HOLE_BLOCK));
    const zero = end - i === HOLE_BLOCK && isZero(b, i, end);
    if (!zero && runStart < 0) runStart = i;
    if (zero && runStart >= 0) {
      writeAll(fd, b.subarray(runStart, i), position + runStart);
      runStart = -1;
    }
    i = end;
  }
  if (runStart >= 0) writeAll(fd, b.subarray(runStart), position + runStart);
  return b.length;
}
