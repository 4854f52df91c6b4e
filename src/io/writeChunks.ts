import * as fs from "node:fs";
import * as path from "node:path";
import type { ByteSource } from "../format/types";
import type { Chunk } from "../format/encode";
import { openExclusiveTemp } from "./safeWrite";

const COPY_BLOCK = 4 * 1024 * 1024;

/**
 * Writes chunks (copied spans of `src` and literal bytes) to a temporary file next to `target`,
 * fsyncs it and renames it over `target`: a crash never leaves half a file.
 */
export function writeChunksAtomically(target: string, src: ByteSource, chunks: Chunk[]): number {
  // the temporary file is created exclusively (O_EXCL|O_NOFOLLOW) and removed on every failure
  // (a full disk, a target that is a directory): nothing is left behind
  const { fd, tmp } = openExclusiveTemp(path.resolve(target));
  let written = 0;
  const buf = src.readInto ? new Uint8Array(COPY_BLOCK) : undefined;
  try {
    for (const c of chunks) {
      if ("bytes" in c) {
        written += writeAll(fd, c.bytes);
        continue;
      }
      for (let p = c.copy.start; p < c.copy.end; p += COPY_BLOCK) {
        const n = Math.min(COPY_BLOCK, c.copy.end - p);
        const b = buf && src.readInto ? buf.subarray(0, src.readInto(p, buf.subarray(0, n))) : src.read(p, n);
        if (b.length === 0) throw new Error(`could not read ${c.copy.end - p} bytes at 0x${p.toString(16)} of the source`);
        written += writeAll(fd, b);
      }
    }
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

function writeAll(fd: number, b: Uint8Array): number {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
  return b.length;
}
