import * as fs from "node:fs";
import type { ByteSource, ScanCursor } from "../format/types";
import { ReadAhead, type ReadAheadOptions } from "./readAhead";
import { readFully } from "./readFully";

const PAGE = 1024 * 1024;

/** What a non-regular file is, for messages. */
export function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return st.isFile() ? "a regular file" : "not a regular file";
}

/** Raised for paths that are not regular files (they could block or never end). */
export class NotRegularFileError extends Error {
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path} is ${kind}, not a regular file; vmstate reads only regular files`);
    this.name = "NotRegularFileError";
  }
}
const MAX_PAGES = 8;

/**
 * A file read through a small LRU of 1 MiB pages with positioned reads, so memory stays flat
 * whatever the file size. Reads larger than a page bypass the cache.
 */
export class FileByteSource implements ByteSource {
  private pages = new Map<number, Uint8Array>();
  private lastIndex = -1;
  private lastPage?: Uint8Array;
  private closed = false;
  /** Walks with a helper thread reading ahead (closed with the file). */
  private scans = new Set<ReadAhead>();
  /** The last walk's read-ahead (the tests look at its stats). */
  lastScan?: ReadAhead;
  /** How walks read ahead (tests make the chunks small); false: never. */
  readAhead: ReadAheadOptions | false = {};

  private constructor(
    private readonly fd: number,
    readonly size: number,
    readonly path: string,
  ) {}

  /** A forward walk from `start` with a helper thread reading ahead, for big files (io/readAhead.ts). */
  scan(start: number): ScanCursor | undefined {
    if (this.closed || this.readAhead === false) return undefined;
    const ra = ReadAhead.start(this.fd, this.size, start, this.readAhead);
    if (!ra) return undefined;
    this.scans.add(ra);
    this.lastScan = ra;
    return {
      window: (pos, n) => {
        if (this.closed) throw new Error(`${this.path} is closed`);
        return ra.window(pos, n);
      },
      close: () => {
        ra.close();
        this.scans.delete(ra);
      },
    };
  }

  /**
   * Opens a regular file. FIFOs, devices, sockets and directories are refused with a clear
   * message before any read: the type is checked by stat() first (so opening a FIFO cannot block
   * the extension host or the CLI) and again by fstat() on a descriptor opened with O_NONBLOCK
   * (in case the path was swapped in between).
   */
  static open(path: string): FileByteSource {
    const before = fs.statSync(path);
    if (!before.isFile()) throw new NotRegularFileError(path, fileKind(before));
    const fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new NotRegularFileError(path, fileKind(st));
      return new FileByteSource(fd, st.size, path);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  read(offset: number, length: number): Uint8Array {
    if (this.closed) throw new Error(`${this.path} is closed`);
    const start = Math.max(0, Math.min(offset, this.size));
    const end = Math.min(this.size, start + Math.max(0, length));
    const n = end - start;
    if (n === 0) return new Uint8Array(0);
    const first = Math.floor(start / PAGE);
    const last = Math.floor((end - 1) / PAGE);
    if (first === last) {
      const page = this.page(first);
      return page.subarray(start - first * PAGE, end - first * PAGE);
    }
    if (n > 2 * PAGE) return this.readDirect(start, n);
    const out = new Uint8Array(n);
    for (let p = first; p <= last; p++) {
      const page = this.page(p);
      const ps = p * PAGE;
      const s = Math.max(start, ps);
      const e = Math.min(end, ps + page.length);
      out.set(page.subarray(s - ps, e - ps), s - start);
    }
    return out;
  }

  readInto(offset: number, target: Uint8Array): number {
    if (this.closed) throw new Error(`${this.path} is closed`);
    const n = Math.max(0, Math.min(target.length, this.size - offset));
    return readFully(this.fd, target, 0, n, offset);
  }

  private readDirect(start: number, n: number): Uint8Array {
    // a plain Uint8Array over uninitialised memory: Buffer's slice() would be a view, not a copy
    const b = Buffer.allocUnsafeSlow(n);
    const out = new Uint8Array(b.buffer, b.byteOffset, n);
    const done = readFully(this.fd, out, 0, n, start);
    return done === n ? out : out.subarray(0, done);
  }

  private page(index: number): Uint8Array {
    // the same page as the last read (consecutive fields of a device): no LRU bookkeeping
    if (index === this.lastIndex && this.lastPage) return this.lastPage;
    const p = this.lookup(index);
    this.lastIndex = index;
    this.lastPage = p;
    return p;
  }

  private lookup(index: number): Uint8Array {
    const hit = this.pages.get(index);
    if (hit) {
      this.pages.delete(index);
      this.pages.set(index, hit);
      return hit;
    }
    const start = index * PAGE;
    const page = this.readDirect(start, Math.min(PAGE, this.size - start));
    this.pages.set(index, page);
    if (this.pages.size > MAX_PAGES) {
      const oldest = this.pages.keys().next().value as number;
      this.pages.delete(oldest);
    }
    return page;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const ra of this.scans) ra.close();
    this.scans.clear();
    this.pages.clear();
    this.lastPage = undefined;
    fs.closeSync(this.fd);
  }
}
