// Writing files whose names come from untrusted input (helper Ids, RAM block names) into a folder
// the user chose. Every open is O_CREAT|O_EXCL|O_NOFOLLOW, so nothing already in the folder (a
// symlink in particular) is ever opened or followed: a free name is created directly; a taken one
// is written under a fresh temporary name and renamed over it. rename() replaces a symlink that has
// the final name with the file: the link's target outside the folder is never written.
// See docs/LIMITS.md.
import * as fs from "node:fs";
import * as path from "node:path";

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
let counter = 0;

/** A file name (no directory part) that cannot escape its folder. */
export function checkPlainName(name: string): void {
  if (!name || name === "." || name === ".." || /[/\\\0]/.test(name))
    throw new Error(`refusing the file name ${JSON.stringify(name)}`);
}

/** A temporary file next to `finalPath`, created exclusively (never an existing file or link). */
export function openExclusiveTemp(finalPath: string, mode = 0o644): { fd: number; tmp: string } {
  const dir = path.dirname(finalPath);
  const base = path.basename(finalPath).slice(0, 200);
  for (let attempt = 0; ; attempt++) {
    const tmp = path.join(
      dir,
      `.${base}.${process.pid}.${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`,
    );
    try {
      const fd = fs.openSync(tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, mode);
      return { fd, tmp };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && attempt < 20) continue;
      throw e;
    }
  }
}

/**
 * Writes `dir/name` through a temporary file: `write(fd)` fills it; then it is renamed over
 * `dir/name` (replacing a file or symlink of that name, never following it). On any failure the
 * temporary file is removed and the error is rethrown.
 */
export function writeFileInDir(dir: string, name: string, write: (fd: number) => void): string {
  checkPlainName(name);
  const final = path.join(dir, name);
  // the usual case, a name not taken yet: create it directly (exclusively, no link followed)
  let direct: number | undefined;
  try {
    direct = fs.openSync(final, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  if (direct !== undefined) {
    try {
      write(direct);
    } catch (e) {
      fs.closeSync(direct);
      fs.rmSync(final, { force: true });
      throw e;
    }
    fs.closeSync(direct);
    return final;
  }
  // taken (a file, a link, a folder): write a temporary file and rename it over the name
  const { fd, tmp } = openExclusiveTemp(final);
  let open = true;
  try {
    write(fd);
    open = false;
    fs.closeSync(fd);
    fs.renameSync(tmp, final);
  } catch (e) {
    if (open) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return final;
}

export function writeAllSync(fd: number, b: Uint8Array, position?: number): void {
  let off = 0;
  while (off < b.length)
    off += fs.writeSync(fd, b, off, b.length - off, position === undefined ? null : position + off);
}
