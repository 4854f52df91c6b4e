import * as fs from "node:fs";
import * as path from "node:path";
import type { ByteSource } from "../format/types";
import type { Chunk } from "../format/encode";

const COPY_BLOCK = 4 * 1024 * 1024;

/**
 * Writes chunks (copied spans of `src` and literal bytes) to a temporary file next to `target`,
 * fsyncs it and renames it over `target`: a crash never leaves half a file. `onProgress` is
 * called after each block; when it throws, the temp file is removed and `target` left untouched.
 */
export function writeChunksAtomically(target: string, src: ByteSource, chunks: Chunk[], onProgress?: (written: number) => void): number {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const fd = fs.openSync(tmp, "wx", 0o644);
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
        // may throw (the user cancelled): the temp file is removed, the target left as it was
        onProgress?.(written);
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
    const st = fs.statSync(target);
    fs.chmodSync(tmp, st.mode & 0o7777);
  } catch {
    /* new file */
  }
  fs.renameSync(tmp, target);
  return written;
}

function writeAll(fd: number, b: Uint8Array): number {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
  return b.length;
}
