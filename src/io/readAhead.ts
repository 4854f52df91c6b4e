// One sequential read of a big file, shared by two threads.
//
// Decoding a stream walks it once from start to end, and nearly all of that walk is RAM pages: the
// decoder looks at 8 header bytes per 4 KiB page, so the walk costs what copying the file out of
// the page cache costs (`cat`'s time). One core copies ~6 GB/s here; two copy ~1.4x as fast. So
// a helper thread and the decoding thread split the copying: the file is cut into chunks
// (512 KiB, aligned), which go round a ring of slots in a SharedArrayBuffer (8 slots, 4 MiB). The
// helper claims the next free chunk and reads it into its slot; the decoding thread, when the chunk
// it needs is not there yet, claims and reads the next free one itself instead of waiting (so it
// never waits for a helper that is slow to start or busy), and only spins for the few microseconds
// a chunk the helper is reading takes. Measured on the 810 MB stream (2 cores): the walk ~0.14 s ->
// ~0.105 s (128 KiB chunks: ~0.12 s; 1-2 MiB no better than 512 KiB); docs/EDITOR-PERFORMANCE.md.
//
// Safety: a slot is rewritten only after the decoding thread has moved past its chunk (the helper
// claims chunk k only while k < consumed + slots); a chunk's slot is used only once its ready word
// says that very chunk is in it. The helper is a plain script (no bundle), unref'd, stopped on
// close; a read error, a short read or a helper that stops answering (2 s) makes the decoding
// thread read that chunk itself, into its own buffer, and the rest of the walk without the helper:
// the same bytes and the same errors as a plain read. A backward or far forward move does the same.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ScanCursor } from "../format/types";
import { readFully } from "./readFully";

export interface ReadAheadOptions {
  /** Chunk size in bytes (default 512 KiB); at least the Reader's window (128 KiB), or windows are read plainly. */
  chunk?: number;
  /** Ring slots (default 8); at least 2, as a window may join two chunks. */
  slots?: number;
  /** Below this many bytes from the start a plain read is as fast (default 64 MiB). */
  minBytes?: number;
}

// control words (Int32Array over a SharedArrayBuffer)
const NEXT = 0; // the next chunk nobody has claimed
const CONSUMED = 1; // the chunk the decoding thread is in: slots of chunks before it are free
const STOP = 2; // 1: the helper stops claiming
const HEAD = 3;
// then READY[slot] = chunk + 1 once that chunk is in the slot, then LEN[slot] = bytes read (-1: error)

/** The helper thread: claims chunks in order and reads each into its slot. */
const HELPER = `"use strict";
const { workerData: d } = require("node:worker_threads");
const fs = require("node:fs");
const ctl = new Int32Array(d.ctl), mem = new Uint8Array(d.mem);
const { fd, size, chunk, slots, chunks } = d, READY = ${HEAD}, LEN = ${HEAD} + slots;
for (;;) {
  if (Atomics.load(ctl, ${STOP})) break;
  const k = Atomics.load(ctl, ${NEXT});
  if (k >= chunks) break;
  const consumed = Atomics.load(ctl, ${CONSUMED});
  if (k >= consumed + slots) { Atomics.wait(ctl, ${CONSUMED}, consumed, 5); continue; }
  if (Atomics.compareExchange(ctl, ${NEXT}, k, k + 1) !== k) continue;
  const s = k % slots, want = Math.min(chunk, size - k * chunk);
  let got = 0;
  try {
    while (got < want) {
      const n = fs.readSync(fd, mem, s * chunk + got, want - got, k * chunk + got);
      if (n === 0) break;
      got += n;
    }
  } catch { got = -1; }
  ctl[LEN + s] = got;
  Atomics.store(ctl, READY + s, k + 1);
  Atomics.notify(ctl, READY + s);
  if (got !== want) break;
}`;

/** How long the decoding thread waits for a chunk the helper claimed before reading it itself. */
const STALL_MS = 2000;
/** Checks of a chunk the helper is reading before sleeping until it lands (~10 us). */
const SPINS = 256;

export class ReadAhead implements ScanCursor {
  private readonly chunk: number;
  private readonly slots: number;
  private readonly chunks: number;
  private readonly ctl: Int32Array;
  /** the ring (released when the walk stops: a stopped walk reads into its own buffers) */
  private mem: Uint8Array;
  private worker?: Worker;
  /** the chunk the reader is in (slots of earlier chunks may be reused) */
  private cur: number;
  private stopped = false;
  /** why the walk went on without the helper ("closed" once the walk ended) */
  private fellBack?: string;
  /** after stopping: windows read into these (a chunk and a join of two) */
  private own?: Uint8Array;
  private join?: Uint8Array;
  /** the chunk the walk started in, and how many chunks this thread read itself */
  private readonly first: number;
  private here = 0;
  /** chunks nobody read: the walk jumped over them */
  private skipped = 0;

  /**
   * A read-ahead from `start`, or undefined when it would not pay: a small remainder, one core,
   * or no worker threads (then the caller reads as before).
   */
  static start(fd: number, size: number, start: number, opts: ReadAheadOptions = {}): ReadAhead | undefined {
    const chunk = opts.chunk ?? 512 * 1024;
    const slots = Math.max(2, opts.slots ?? 8);
    if (size - start < (opts.minBytes ?? 64 * 1024 * 1024)) return undefined;
    if (opts.minBytes === undefined && availableParallelism() < 2) return undefined;
    return new ReadAhead(fd, size, start, chunk, slots);
  }

  private constructor(
    private readonly fd: number,
    private readonly size: number,
    start: number,
    chunk: number,
    slots: number,
  ) {
    this.chunk = chunk;
    this.slots = slots;
    this.chunks = Math.ceil(size / chunk);
    this.cur = Math.floor(start / chunk);
    this.first = this.cur;
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * (HEAD + 2 * slots)));
    this.mem = new Uint8Array(new SharedArrayBuffer(chunk * slots));
    this.ctl[NEXT] = this.cur;
    this.ctl[CONSUMED] = this.cur;
    try {
      this.worker = new Worker(HELPER, {
        eval: true,
        workerData: {
          ctl: this.ctl.buffer,
          mem: this.mem.buffer,
          fd,
          size,
          chunk,
          slots,
          chunks: this.chunks,
        },
        // the helper needs none of the parent's flags (an inspector port, --cpu-prof...)
        execArgv: [],
        stdout: false,
        stderr: false,
      });
      this.worker.unref();
      // a helper that fails to start or dies leaves its chunks to this thread (stall timeout)
      this.worker.on("error", () => this.stop("helper failed"));
    } catch {
      this.stopped = true;
      this.fellBack = "no helper";
    }
  }

  /** Bytes [pos, pos+n) or more (fewer only at the end of the file), valid until the next call. */
  window(pos: number, n: number): Uint8Array {
    // more than a chunk (never asked for by the Reader with the default chunk): a plain read
    if (this.stopped || n > this.chunk) return this.plain(pos, n);
    // nothing there (no chunk would ever arrive for it)
    if (pos >= this.size) return new Uint8Array(0);
    const c = Math.floor(pos / this.chunk);
    if (c < this.cur) {
      // not a forward walk any more: read on without the helper
      this.stop("moved back");
      return this.plain(pos, n);
    }
    if (c !== this.cur && !this.advance(c)) return this.plain(pos, n);
    const len = this.ensure(c);
    if (len < 0) return this.plain(pos, n);
    const base = (c % this.slots) * this.chunk;
    const off = pos - c * this.chunk;
    const avail = len - off;
    if (avail >= n || len < this.chunk || c + 1 >= this.chunks)
      return this.mem.subarray(base + off, base + Math.max(off, len));
    // the window joins this chunk's end to the next chunk's start
    const len2 = this.ensure(c + 1);
    if (len2 < 0) return this.plain(pos, n);
    const want = Math.min(n, avail + len2);
    const join = (this.join ??= new Uint8Array(this.chunk));
    const out = want <= join.length ? join.subarray(0, want) : new Uint8Array(want);
    out.set(this.mem.subarray(base + off, base + len), 0);
    const base2 = ((c + 1) % this.slots) * this.chunk;
    out.set(this.mem.subarray(base2, base2 + (want - avail)), avail);
    return out;
  }

  /**
   * Moves the walk to chunk c (after cur): chunks before it are given up, and nobody will read the
   * ones skipped over (a big field read past the ring, mapped-ram's page area). A chunk before c
   * may still be on its way into its slot: it must land before the ring moves on, or a later chunk
   * of the same slot could be written at the same time. False: the helper stalled.
   */
  private advance(c: number): boolean {
    let k = Atomics.load(this.ctl, NEXT);
    while (k < c) {
      const seen = Atomics.compareExchange(this.ctl, NEXT, k, c);
      if (seen === k) {
        this.skipped += c - k;
        break;
      }
      k = seen;
    }
    // every chunk below k was claimed; the last `slots` of those below c may be in flight
    for (let j = Math.max(this.cur + 1, k - this.slots); j < Math.min(k, c); j++)
      if (!this.landed(j)) {
        this.stop("helper stalled");
        return false;
      }
    this.cur = c;
    Atomics.store(this.ctl, CONSUMED, c);
    Atomics.notify(this.ctl, CONSUMED);
    return true;
  }

  /** Until claimed chunk j is in its slot (the helper is reading it); false after STALL_MS. */
  private landed(j: number): boolean {
    return this.arrived(j, false);
  }

  /** Waits (reading other chunks meanwhile) until chunk c is in its slot; its length, or -1 to read plainly. */
  private ensure(c: number): number {
    if (!this.arrived(c, true)) {
      this.stop("helper stalled");
      return -1;
    }
    return this.lenOf(c % this.slots, c);
  }

  /**
   * True once chunk c is in its slot. Meanwhile (`steal`) this thread reads the next free chunk
   * itself; for one the helper is reading it spins briefly (a chunk takes ~80 us), then sleeps on
   * the slot's ready word, which the helper wakes: on a busy machine a helper that lost its core
   * gets one back instead of watching this thread spin. False after STALL_MS.
   */
  private arrived(c: number, steal: boolean): boolean {
    const ready = HEAD + (c % this.slots);
    let spins = 0;
    let deadline = 0;
    for (;;) {
      const seen = Atomics.load(this.ctl, ready);
      if (seen === c + 1) return true;
      if (steal) {
        const k = Atomics.load(this.ctl, NEXT);
        if (k < this.chunks && k < this.cur + this.slots && Atomics.compareExchange(this.ctl, NEXT, k, k + 1) === k) {
          this.fill(k);
          continue;
        }
      }
      if (++spins < SPINS) continue;
      const now = performance.now();
      if (!deadline) deadline = now + STALL_MS;
      else if (now > deadline) return false;
      Atomics.wait(this.ctl, ready, seen, 1);
    }
  }

  private lenOf(s: number, c: number): number {
    const len = this.ctl[HEAD + this.slots + s]!;
    const want = Math.min(this.chunk, this.size - c * this.chunk);
    if (len === want) return len;
    // the helper's read failed or came up short (the file shrank): this thread reads for itself
    this.stop("short read");
    return -1;
  }

  /**
   * Reads chunk k into its slot on this thread. A read error marks the chunk failed instead of
   * throwing (k may be ahead of what the decoder will ever need): if the walk gets there, the plain
   * read of it meets the error again and throws it then, as it did without the read-ahead.
   */
  private fill(k: number): void {
    const s = k % this.slots;
    const want = Math.min(this.chunk, this.size - k * this.chunk);
    let got = -1;
    try {
      got = readFully(this.fd, this.mem, s * this.chunk, want, k * this.chunk);
    } catch {
      /* got stays -1 */
    }
    this.ctl[HEAD + this.slots + s] = got;
    Atomics.store(this.ctl, HEAD + s, k + 1);
    this.here++;
  }

  /** A window read on this thread into its own buffer, as the Reader did before read-ahead. */
  private plain(pos: number, n: number): Uint8Array {
    const want = Math.min(Math.max(n, this.chunk), this.size - pos);
    if (want <= 0) return new Uint8Array(0);
    if (!this.own || this.own.length < want) this.own = new Uint8Array(Math.max(want, this.chunk));
    const got = readFully(this.fd, this.own, 0, want, pos);
    return this.own.subarray(0, got);
  }

  private stop(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.fellBack = why;
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, CONSUMED);
    this.mem = new Uint8Array(0);
    const w = this.worker;
    this.worker = undefined;
    void w?.terminate().catch(() => undefined);
  }

  /** Chunks read by this thread and by the helper so far (tests: proof the helper took part). */
  stats(): { here: number; helper: number; fellBack?: string } {
    const claimed = Atomics.load(this.ctl, NEXT) - this.first;
    const out = { here: this.here, helper: Math.max(0, claimed - this.here - this.skipped) };
    return this.fellBack && this.fellBack !== "closed" ? { ...out, fellBack: this.fellBack } : out;
  }

  close(): void {
    this.stop("closed");
  }
}
