// RAM comparison: the pages each stream sends per RAM block, compared page by page in address
// order. Page runs the decoder found (consecutive addresses, fixed-size records) are used as they
// are: the record of page k is at a computed offset, nothing is re-read to find it. Both files are
// then read once, forwards, through one fixed-size window each; equal stretches compare with one
// memcmp per window. A page sent more than once (a later iteration) counts with its last copy.
import { ramRunInfo, readPageRun } from "../format/ram";
import type { ByteSource, DecodedStream, VNode } from "../format/types";
import { allEqualTo, firstDifference, rangesEqual, ReadWindow } from "./bytes";
import type { DiffNote, PageChange, PageDiff, PageRange, RamBlockDiff } from "./types";

type SegKind = "page" | "zero" | "xbzrle" | "compressed";

/** `count` pages from `addr`, of one kind; page k's data (or zero page's fill byte) at off + k * stride. */
export interface Seg {
  addr: number;
  count: number;
  kind: SegKind;
  off: number;
  stride: number;
  /** Data length of an XBZRLE or compressed page (count is 1 for those). */
  len?: number;
}

export interface RamSide {
  src: ByteSource;
  decoded: DecodedStream;
}

export interface RamCompareOptions {
  inflate?: (b: Uint8Array) => Uint8Array;
  maxRanges?: number;
  maxFirst?: number;
  /** Called now and then with the fraction of pages compared. */
  onProgress?: (fraction: number) => void;
  /**
   * Compares a slice somewhere else (a worker thread): a big block is then cut in two at the middle
   * of its bytes and both halves are compared at once, each reading its half of both files.
   */
  remote?: RamRemote;
  /** Blocks with fewer record bytes than this are not split (default 64 MiB). */
  splitBytes?: number;
  /**
   * Called once, after the other thread got its halves and before this thread compares its own:
   * the caller's other work (the device trees) then overlaps the other thread's.
   */
  whileRemote?: () => void;
}

/**
 * A big block cut into pieces (each piece: its segments, clipped), for another thread. The two
 * threads take pieces from both ends (this one from the lowest address up, the other from the
 * highest down) until they meet, through `claim` (shared memory): whichever thread is faster or
 * less busy does more. Without SharedArrayBuffer the other thread does the upper half.
 */
export interface RamSliceJob {
  pieces: { la: Seg[]; lb: Seg[] }[];
  /** Int32Array over a SharedArrayBuffer: pieces taken from the bottom (low 16 bits) and from the top (high 16 bits). */
  claim?: SharedArrayBuffer;
  /** Without claim: the other thread compares pieces [from, pieces.length). */
  from?: number;
  ps: number;
  maxRanges: number;
  maxFirst: number;
}

export interface RamSliceResult {
  counts: Record<PageChange, number>;
  ranges: PageRange[];
  rangesTruncated: boolean;
  first: PageDiff[];
  compared: number;
  /** Guest address where the slice's last add() ended (-1: none). */
  lastEnd: number;
}

/** What the other thread compared: [piece index, result]. */
export type RamRemote = (job: RamSliceJob) => Promise<[number, RamSliceResult][]>;

/** Takes the next piece from the bottom or the top; undefined when all are taken. */
function claimPiece(c: Int32Array, count: number, fromTop: boolean): number | undefined {
  for (;;) {
    const v = Atomics.load(c, 0);
    const lo = v & 0xffff;
    const hi = v >>> 16;
    if (lo + hi >= count) return undefined;
    const nv = fromTop ? lo | ((hi + 1) << 16) : (lo + 1) | (hi << 16);
    if (Atomics.compareExchange(c, 0, v, nv) === v) return fromTop ? count - 1 - hi : lo;
  }
}

/**
 * Bytes of records compared in one go: half of ReadWindow's 1 MiB, so a window holds two
 * stretches and both sides' windows stay in the CPU's cache (8 MiB windows made every byte go
 * through memory twice: the read into the window, then the compare; no faster, 30 MB more RSS).
 */
const STRETCH_BYTES = 512 << 10;

/** Blocks at least this big (in bytes of records on both sides) are split between two threads. */
const SPLIT_BYTES = 64 << 20;

function pageRuns(root: VNode): VNode[] {
  const out: VNode[] = [];
  const stack: VNode[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.kind === "page-run" && n.lazy === "pages") out.push(n);
    const k = n.children;
    if (k) for (let i = k.length - 1; i >= 0; i--) stack.push(k[i]!);
  }
  return out;
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/** The segments of one side, per block, in stream order. */
function segments(side: RamSide): Map<string, Seg[]> {
  const ps = side.decoded.pageSize;
  const out = new Map<string, Seg[]>();
  const add = (block: string, s: Seg) => {
    const l = out.get(block);
    if (l) l.push(s);
    else out.set(block, [s]);
  };
  for (const run of pageRuns(side.decoded.root)) {
    // lazy "pages" runs are the decoder's RAM runs (ram.ts), which always carry RamRunNodeInfo;
    // without it the run is read record by record below
    const info = ramRunInfo(run);
    const {
      block,
      pageKind: kind,
      count,
      firstAddr: first,
      lastAddr: last,
    } = info ?? {
      block: run.name,
      pageKind: "mixed",
      count: 0,
      firstAddr: 0,
      lastAddr: 0,
    };
    if ((kind === "page" || kind === "zero") && last - first === (count - 1) * ps) {
      const rec = kind === "page" ? 8 + ps : 9;
      const firstLen = run.span.end - run.span.start - (count - 1) * rec;
      // the first record may carry the block name (no CONTINUE flag): 1 + length bytes more
      if (firstLen === rec || firstLen === rec + 1 + utf8Length(block)) {
        const lastData = kind === "page" ? run.span.end - ps : run.span.end - 1;
        add(block, { addr: first, count, kind, off: lastData - (count - 1) * rec, stride: rec });
        continue;
      }
    }
    // anything else (mixed kinds, gaps in the addresses): read its records
    readPageRun(side.src, run, ps, (r) => {
      const s: Seg = {
        addr: r.addr,
        count: 1,
        kind: r.kind,
        off: r.kind === "zero" ? r.data.start : r.data.start,
        stride: 0,
      };
      if (r.kind === "xbzrle" || r.kind === "compressed") s.len = r.data.end - r.data.start;
      add(r.block, s);
    });
  }
  return out;
}

/** Sorted by address, without overlaps: a page sent again replaces the earlier copy. */
function normalize(list: Seg[], ps: number): Seg[] {
  const sorted = [...list].sort((x, y) => x.addr - y.addr);
  let overlaps = false;
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!;
    if (p.addr + p.count * ps > sorted[i]!.addr) {
      overlaps = true;
      break;
    }
  }
  if (!overlaps) return sorted;
  // rare (a stream with several iterations): resolve page by page, last copy wins
  const byPage = new Map<number, Seg>();
  for (const s of list) {
    for (let k = 0; k < s.count; k++) {
      const one: Seg = { addr: s.addr + k * ps, count: 1, kind: s.kind, off: s.off + k * s.stride, stride: 0 };
      if (s.len !== undefined) one.len = s.len;
      byPage.set(one.addr, one);
    }
  }
  return [...byPage.values()].sort((x, y) => x.addr - y.addr);
}

class BlockAcc {
  readonly counts: Record<PageChange, number> = {
    changed: 0,
    "zero-to-data": 0,
    "data-to-zero": 0,
    "only-a": 0,
    "only-b": 0,
    uncompared: 0,
  };
  readonly ranges: PageRange[] = [];
  rangesTruncated = false;
  readonly first: PageDiff[] = [];
  compared = 0;
  private open?: PageRange;
  /** Where the last add() ended (guest address). */
  lastEnd = -1;

  constructor(
    private readonly ps: number,
    readonly maxRanges: number,
    readonly maxFirst: number,
  ) {}

  /**
   * Append the results of the slice above this one. `cut`: the guest address where the slices
   * meet; `straddles`: the side with a segment across it. One pass adds the pages of a segment on one side only
   * ("only-a"/"only-b") in one go, as one `first` entry; cut in two, the upper slice starts that
   * stretch again at `cut`: that entry is the same stretch and is left out.
   */
  merge(r: RamSliceResult, cut?: number, straddles?: "only-a" | "only-b"): void {
    for (const k of Object.keys(this.counts) as PageChange[]) this.counts[k] += r.counts[k];
    this.compared += r.compared;
    let first = r.first;
    const last = this.first.length < this.maxFirst ? this.first[this.first.length - 1] : undefined;
    const next = first[0];
    if (
      straddles &&
      last &&
      next &&
      next.addr === cut &&
      this.lastEnd === cut &&
      last.change === straddles &&
      next.change === straddles
    )
      first = first.slice(1);
    for (const p of first) if (this.first.length < this.maxFirst) this.first.push(p);
    if (r.lastEnd >= 0) this.lastEnd = r.lastEnd;
    for (const range of r.ranges) {
      const o = this.open;
      if (o && o.change === range.change && o.end === range.start) {
        o.end = range.end;
        o.pages += range.pages;
      } else if (this.ranges.length >= this.maxRanges) {
        this.rangesTruncated = true;
        this.open = undefined;
      } else {
        this.open = { ...range };
        this.ranges.push(this.open);
      }
    }
    this.rangesTruncated ||= r.rangesTruncated;
  }

  result(): RamSliceResult {
    return {
      counts: this.counts,
      ranges: this.ranges,
      rangesTruncated: this.rangesTruncated,
      first: this.first,
      compared: this.compared,
      lastEnd: this.lastEnd,
    };
  }

  add(addr: number, pages: number, change: PageChange, detail?: Omit<PageDiff, "addr" | "change">): void {
    this.counts[change] += pages;
    this.lastEnd = addr + pages * this.ps;
    if (this.first.length < this.maxFirst) this.first.push({ addr, change, ...detail });
    const o = this.open;
    if (o && o.change === change && o.end === addr) {
      o.end += pages * this.ps;
      o.pages += pages;
      return;
    }
    if (this.ranges.length >= this.maxRanges) {
      this.rangesTruncated = true;
      this.open = undefined;
      return;
    }
    this.open = { start: addr, end: addr + pages * this.ps, pages, change };
    this.ranges.push(this.open);
  }
}

/** Compare the RAM of two streams. */
export async function compareRam(
  a: RamSide,
  b: RamSide,
  opts: RamCompareOptions,
  notes: DiffNote[],
): Promise<RamBlockDiff[]> {
  const ps = a.decoded.pageSize;
  const out: RamBlockDiff[] = [];
  if (b.decoded.pageSize !== ps) {
    notes.push({
      severity: "warning",
      code: "ram-page-size",
      message: `the streams use different target page sizes (${ps} and ${b.decoded.pageSize}); RAM pages were not compared`,
    });
    opts.whileRemote?.();
    return out;
  }
  for (const [side, d] of [
    ["A", a.decoded],
    ["B", b.decoded],
  ] as const) {
    if (d.capabilities.includes("mapped-ram"))
      notes.push({
        severity: "warning",
        code: "ram-mapped",
        message: `${side} uses mapped-ram (pages at fixed file offsets): its RAM pages are not compared`,
      });
  }
  const segA = segments(a);
  const segB = segments(b);
  const sizeA = new Map(a.decoded.ramBlocks.map((x) => [x.name, x.usedLength]));
  const sizeB = new Map(b.decoded.ramBlocks.map((x) => [x.name, x.usedLength]));
  const names: string[] = [];
  for (const n of [...sizeA.keys(), ...segA.keys(), ...sizeB.keys(), ...segB.keys()])
    if (!names.includes(n)) names.push(n);
  const maxRanges = opts.maxRanges ?? 1000;
  const maxFirst = opts.maxFirst ?? 10;
  // plan every block and hand the other thread its pieces first, so that it works while this
  // thread does whatever the caller has left (whileRemote) and then its own pieces
  const shared = typeof SharedArrayBuffer === "function" && typeof Atomics === "object";
  const plans = names.map((name) => {
    const la = normalize(segA.get(name) ?? [], ps);
    const lb = normalize(segB.get(name) ?? [], ps);
    const cuts = opts.remote ? cutPoints(la, lb, ps, opts.splitBytes ?? SPLIT_BYTES) : [];
    if (!cuts.length || !opts.remote) return { name, la, lb };
    const bounds = [-Infinity, ...cuts, Infinity];
    const pieces = cuts.map((_, i) => ({
      la: clip(la, bounds[i]!, bounds[i + 1]!, ps),
      lb: clip(lb, bounds[i]!, bounds[i + 1]!, ps),
    }));
    pieces.push({
      la: clip(la, cuts[cuts.length - 1]!, Infinity, ps),
      lb: clip(lb, cuts[cuts.length - 1]!, Infinity, ps),
    });
    // which side has a segment running across each cut (its one-sided stretch is cut in two there)
    const straddles = cuts.map((c) => {
      const across = (s: Seg) => s.addr < c && s.addr + s.count * ps > c;
      return la.some(across) ? ("only-a" as const) : lb.some(across) ? ("only-b" as const) : undefined;
    });
    const job: RamSliceJob = { pieces, ps, maxRanges, maxFirst };
    const claim = shared ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    if (claim) job.claim = claim.buffer as SharedArrayBuffer;
    else job.from = Math.ceil(pieces.length / 2);
    const remote = opts.remote(job);
    remote.catch(() => {});
    return { name, la, lb, split: { cuts, pieces, straddles, claim, remote, from: job.from } };
  });
  opts.whileRemote?.();
  const wa = new ReadWindow(a.src);
  const wb = new ReadWindow(b.src);
  const total = [...segA.values(), ...segB.values()].reduce((s, l) => s + l.reduce((t, x) => t + x.count, 0), 0) || 1;
  let done = 0;
  let lastReport = 0;
  for (const { name, la, lb, split } of plans) {
    const inA = sizeA.has(name) || segA.has(name);
    const inB = sizeB.has(name) || segB.has(name);
    const acc = new BlockAcc(ps, maxRanges, maxFirst);
    if (!split) compareBlock(la, lb, wa, wb, ps, acc, opts);
    else {
      // pieces from the bottom here while the other thread takes them from the top
      const results: (RamSliceResult | undefined)[] = new Array(split.pieces.length);
      const one = (k: number) => {
        const pa = new BlockAcc(ps, maxRanges, maxFirst);
        compareBlock(split.pieces[k]!.la, split.pieces[k]!.lb, wa, wb, ps, pa, opts);
        results[k] = pa.result();
        // both threads go at about the same pace: twice the pieces done here
        const pages = (l: Seg[]) => l.reduce((t, x) => t + x.count, 0);
        localPages += 2 * (pages(split.pieces[k]!.la) + pages(split.pieces[k]!.lb));
        opts.onProgress?.(Math.min(1, (done + localPages) / total));
      };
      let localPages = 0;
      if (split.claim)
        for (
          let k = claimPiece(split.claim, split.pieces.length, false);
          k !== undefined;
          k = claimPiece(split.claim, split.pieces.length, false)
        )
          one(k);
      else for (let k = 0; k < split.from!; k++) one(k);
      try {
        for (const [k, r] of await split.remote) results[k] = r;
      } catch {
        // the other thread failed (it died, its reply was lost): its pieces are compared here below
      }
      // the merge gives exactly what one pass over the whole block gives
      for (let k = 0; k < results.length; k++) {
        if (!results[k]) one(k); // taken by the other thread, which failed: compare it here
        if (k === 0) acc.merge(results[0]!);
        else acc.merge(results[k]!, split.cuts[k - 1], split.straddles[k - 1]);
      }
    }
    done += la.reduce((t, x) => t + x.count, 0) + lb.reduce((t, x) => t + x.count, 0);
    if (opts.onProgress && done - lastReport > total / 50) {
      lastReport = done;
      opts.onProgress(done / total);
    }
    const differing = Object.values(acc.counts).reduce((s, x) => s + x, 0) - acc.counts.uncompared;
    const ua = sizeA.get(name);
    const ub = sizeB.get(name);
    const r: RamBlockDiff = {
      name,
      status: !inA ? "only-b" : !inB ? "only-a" : differing || ua !== ub ? "changed" : "same",
      comparedPages: acc.compared,
      counts: acc.counts,
      ranges: acc.ranges,
      rangesTruncated: acc.rangesTruncated,
      first: acc.first,
    };
    if (ua !== undefined) r.usedLengthA = ua;
    if (ub !== undefined) r.usedLengthB = ub;
    out.push(r);
    if (acc.counts.uncompared)
      notes.push({
        severity: "warning",
        code: "ram-uncompared",
        message: `block ${name}: ${acc.counts.uncompared} page(s) could not be compared (XBZRLE deltas need the previous copy${opts.inflate ? "" : "; compressed pages need a decompressor"})`,
      });
  }
  return out;
}

/** The segments' pages within guest addresses [lo, hi). */
function clip(list: Seg[], lo: number, hi: number, ps: number): Seg[] {
  const out: Seg[] = [];
  for (const s of list) {
    const start = s.addr;
    const end = s.addr + s.count * ps;
    if (end <= lo || start >= hi) continue;
    const a = Math.max(start, lo);
    const b = Math.min(end, hi);
    const c: Seg = { ...s, addr: a, count: (b - a) / ps, off: s.off + ((a - start) / ps) * s.stride };
    out.push(c);
  }
  return out;
}

/** Most pieces a block is cut into for the two threads. */
const MAX_PIECES = 16;

/**
 * Where to cut a block into pieces of about equal record bytes (both sides together): none for a
 * block under `minBytes`, else up to MAX_PIECES - 1 increasing guest addresses (pieces of at
 * least `minBytes` / 2 each, so small test thresholds still cut a small block several times).
 */
function cutPoints(la: Seg[], lb: Seg[], ps: number, minBytes: number): number[] {
  const weight = (s: Seg) => s.count * Math.max(s.stride, s.len ?? 9);
  const all = [...la, ...lb].sort((x, y) => x.addr - y.addr);
  const total = all.reduce((t, s) => t + weight(s), 0);
  if (total < minBytes || !all.length) return [];
  const n = Math.max(2, Math.min(MAX_PIECES, Math.floor(total / Math.max(1, minBytes / 2))));
  const cuts: number[] = [];
  let acc = 0;
  let i = 1;
  for (const s of all) {
    const w = weight(s);
    while (i < n && acc + w >= (total * i) / n) {
      const pages = Math.max(1, Math.ceil((((total * i) / n - acc) / w) * s.count));
      const c = s.addr + Math.min(s.count, pages) * ps;
      if (!cuts.length || c > cuts[cuts.length - 1]!) cuts.push(c);
      i++;
    }
    acc += w;
  }
  return cuts;
}

/** The other thread's side of a split block: pieces from the top down (as it takes them), each compared on its own. */
export function runRamSlice(
  job: RamSliceJob,
  srcA: ByteSource,
  srcB: ByteSource,
  inflate?: (b: Uint8Array) => Uint8Array,
): [number, RamSliceResult][] {
  const wa = new ReadWindow(srcA);
  const wb = new ReadWindow(srcB);
  const out: [number, RamSliceResult][] = [];
  const one = (k: number) => {
    const acc = new BlockAcc(job.ps, job.maxRanges, job.maxFirst);
    compareBlock(job.pieces[k]!.la, job.pieces[k]!.lb, wa, wb, job.ps, acc, inflate ? { inflate } : {});
    out.push([k, acc.result()]);
  };
  const n = job.pieces.length;
  if (job.claim) {
    const c = new Int32Array(job.claim);
    for (let k = claimPiece(c, n, true); k !== undefined; k = claimPiece(c, n, true)) one(k);
  } else for (let k = job.from ?? 0; k < n; k++) one(k);
  return out;
}

function compareBlock(
  la: Seg[],
  lb: Seg[],
  wa: ReadWindow,
  wb: ReadWindow,
  ps: number,
  acc: BlockAcc,
  opts: RamCompareOptions,
): void {
  let i = 0;
  let j = 0;
  // position inside the current segments, in pages
  let ia = 0;
  let jb = 0;
  while (i < la.length || j < lb.length) {
    const sa = la[i];
    const sb = lb[j];
    const addrA = sa ? sa.addr + ia * ps : Infinity;
    const addrB = sb ? sb.addr + jb * ps : Infinity;
    if (addrA < addrB) {
      // A only, up to B's next page or A's segment end
      const n = Math.min(sa!.count - ia, Number.isFinite(addrB) ? (addrB - addrA) / ps : Infinity);
      acc.add(addrA, n, "only-a", { aOffset: sa!.off + ia * sa!.stride });
      ia += n;
    } else if (addrB < addrA) {
      const n = Math.min(sb!.count - jb, Number.isFinite(addrA) ? (addrA - addrB) / ps : Infinity);
      acc.add(addrB, n, "only-b", { bOffset: sb!.off + jb * sb!.stride });
      jb += n;
    } else {
      const n = Math.min(sa!.count - ia, sb!.count - jb);
      comparePages(sa!, ia, sb!, jb, n, addrA, wa, wb, ps, acc, opts);
      acc.compared += n;
      ia += n;
      jb += n;
    }
    if (sa && ia >= sa.count) {
      i++;
      ia = 0;
    }
    if (sb && jb >= sb.count) {
      j++;
      jb = 0;
    }
  }
}

/** Two zero-page records with other fill bytes: a fill of 0 is a zero page, any other fill is data. */
function fillChange(fa: number, fb: number): PageChange {
  return fa === 0 ? "zero-to-data" : fb === 0 ? "data-to-zero" : "changed";
}

/** n pages at the same addresses: sa's pages ia.., sb's pages jb.. */
function comparePages(
  sa: Seg,
  ia: number,
  sb: Seg,
  jb: number,
  n: number,
  addr: number,
  wa: ReadWindow,
  wb: ReadWindow,
  ps: number,
  acc: BlockAcc,
  opts: RamCompareOptions,
): void {
  // where these pages' records end in each file: the windows read no further
  const endA = sa.off + (ia + n) * sa.stride + ps;
  const endB = sb.off + (jb + n) * sb.stride + ps;
  if (sa.kind === "zero" && sb.kind === "zero" && sa.stride === sb.stride && sa.stride > 0) {
    // runs of zero pages: the records in between are `addr | CONTINUE | ZERO` on both sides, so
    // equal stretches (same fill bytes) compare in one go; else fill byte by fill byte
    const maxPages = Math.max(1, Math.floor(STRETCH_BYTES / sa.stride));
    for (let k = 0; k < n;) {
      const m = Math.min(maxPages, n - k);
      const len = (m - 1) * sa.stride + 1;
      const oa = sa.off + (ia + k) * sa.stride;
      const ob = sb.off + (jb + k) * sb.stride;
      const pa = wa.at(oa, len, endA);
      const pb = wb.at(ob, len, endB);
      if (!rangesEqual(wa.buf, pa, wb.buf, pb, len)) {
        for (let q = 0; q < m; q++) {
          const fa = wa.buf[pa + q * sa.stride]!;
          const fb = wb.buf[pb + q * sb.stride]!;
          if (fa !== fb)
            acc.add(addr + (k + q) * ps, 1, fillChange(fa, fb), {
              aOffset: oa + q * sa.stride,
              bOffset: ob + q * sb.stride,
              firstDiff: 0,
            });
        }
      }
      k += m;
    }
    return;
  }
  if (sa.kind === "page" && sb.kind === "page" && sa.stride === sb.stride && sa.stride > 0) {
    // records in between are `addr | CONTINUE | PAGE` on both sides: compare whole stretches
    const maxPages = Math.max(1, Math.floor(STRETCH_BYTES / sa.stride));
    for (let k = 0; k < n;) {
      const m = Math.min(maxPages, n - k);
      const len = (m - 1) * sa.stride + ps;
      const oa = sa.off + (ia + k) * sa.stride;
      const ob = sb.off + (jb + k) * sb.stride;
      const pa = wa.at(oa, len, endA);
      const pb = wb.at(ob, len, endB);
      if (!rangesEqual(wa.buf, pa, wb.buf, pb, len)) {
        for (let q = 0; q < m; q++) {
          const x = pa + q * sa.stride;
          const y = pb + q * sb.stride;
          if (rangesEqual(wa.buf, x, wb.buf, y, ps)) continue;
          const fd = firstDifference(wa.buf, x, wb.buf, y, ps);
          const az = allEqualTo(wa.buf, x, ps, 0);
          const bz = allEqualTo(wb.buf, y, ps, 0);
          acc.add(addr + (k + q) * ps, 1, az && !bz ? "zero-to-data" : bz && !az ? "data-to-zero" : "changed", {
            aOffset: oa + q * sa.stride,
            bOffset: ob + q * sb.stride,
            firstDiff: fd,
          });
        }
      }
      k += m;
    }
    return;
  }
  for (let k = 0; k < n; k++) {
    const oa = sa.off + (ia + k) * sa.stride;
    const ob = sb.off + (jb + k) * sb.stride;
    const pageAddr = addr + k * ps;
    const ka = sa.kind;
    const kb = sb.kind;
    if (ka === "zero" && kb === "zero") {
      const fa = wa.buf[wa.at(oa, 1)]!;
      const fb = wb.buf[wb.at(ob, 1)]!;
      if (fa !== fb) acc.add(pageAddr, 1, fillChange(fa, fb), { aOffset: oa, bOffset: ob, firstDiff: 0 });
      continue;
    }
    const pa = pageBytes(sa, oa, wa, ps, opts);
    if (!pa) {
      acc.add(pageAddr, 1, "uncompared", { aOffset: oa, bOffset: ob });
      continue;
    }
    // copy A's page: reading B's may move a window over the same file
    const aPage = pa.buf.slice(pa.at, pa.at + ps);
    const pb = pageBytes(sb, ob, wb, ps, opts);
    if (!pb) {
      acc.add(pageAddr, 1, "uncompared", { aOffset: oa, bOffset: ob });
      continue;
    }
    if (rangesEqual(aPage, 0, pb.buf, pb.at, ps)) continue;
    const fd = firstDifference(aPage, 0, pb.buf, pb.at, ps);
    const az = allEqualTo(aPage, 0, ps, 0);
    const bz = allEqualTo(pb.buf, pb.at, ps, 0);
    acc.add(pageAddr, 1, az && !bz ? "zero-to-data" : bz && !az ? "data-to-zero" : "changed", {
      aOffset: oa,
      bOffset: ob,
      firstDiff: fd,
    });
  }
}

/** A page's bytes: page data as is, a zero page filled, a compressed page inflated; undefined for XBZRLE. */
function pageBytes(
  s: Seg,
  off: number,
  w: ReadWindow,
  ps: number,
  opts: RamCompareOptions,
): { buf: Uint8Array; at: number } | undefined {
  switch (s.kind) {
    case "page":
      return { buf: w.buf, at: w.at(off, ps) };
    case "zero": {
      const fill = w.buf[w.at(off, 1)]!;
      return { buf: new Uint8Array(ps).fill(fill), at: 0 };
    }
    case "compressed": {
      if (!opts.inflate) return undefined;
      const at = w.at(off, s.len!);
      try {
        const page = opts.inflate(w.buf.slice(at, at + s.len!));
        return page.length === ps ? { buf: page, at: 0 } : undefined;
      } catch {
        return undefined;
      }
    }
    default:
      return undefined;
  }
}
