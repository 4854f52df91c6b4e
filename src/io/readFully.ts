import * as fs from "node:fs";

/**
 * Positioned reads of `want` bytes at `pos` into target[at...], repeated until they are all there
 * or the file ends (a read may return fewer bytes than asked for). Returns how many were read.
 */
export function readFully(fd: number, target: Uint8Array, at: number, want: number, pos: number): number {
  let got = 0;
  while (got < want) {
    const n = fs.readSync(fd, target, at + got, want - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}
