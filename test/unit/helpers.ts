import * as fs from "node:fs";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { decodeStream, type Chunk, type DecodedStream, type VNode } from "../../src/format";
import { MemoryByteSource } from "../../src/io/memorySource";

/** Repository root (tests run from out/test/unit/). */
export const ROOT = path.resolve(__dirname, "../../..");
export const FIXTURES = path.join(ROOT, "test/fixtures");

export function fixture(name: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(path.join(FIXTURES, name)));
}

export function decodeBytes(b: Uint8Array): DecodedStream {
  return decodeStream(new MemoryByteSource(b));
}

export function codes(d: DecodedStream): string[] {
  return d.diagnostics.map((x) => x.code);
}

export function walk(n: VNode, visit: (n: VNode, parent?: VNode) => void, parent?: VNode): void {
  visit(n, parent);
  for (const c of n.children ?? []) walk(c, visit, n);
}

/** Children lie inside their parent, in order, without overlap. */
export function checkSpans(root: VNode): string[] {
  const problems: string[] = [];
  walk(root, (n) => {
    if (n.span.start > n.span.end) problems.push(`${n.id}: span ${n.span.start}..${n.span.end} is reversed`);
    let pos = n.span.start;
    for (const c of n.children ?? []) {
      if (c.span.start < pos)
        problems.push(`${c.id}: starts at ${c.span.start}, before ${pos} (overlap or disorder in ${n.id})`);
      if (c.span.end > n.span.end)
        problems.push(`${c.id}: ends at ${c.span.end}, past its parent ${n.id} (${n.span.end})`);
      pos = Math.max(pos, c.span.end);
    }
  });
  return problems;
}

export function fixtureNames(): string[] {
  return fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".vmstate"))
    .sort();
}

export function materialize(chunks: Chunk[], src: { read(o: number, n: number): Uint8Array }): Uint8Array {
  const parts = chunks.map((c) => ("bytes" in c ? c.bytes : src.read(c.copy.start, c.copy.end - c.copy.start).slice()));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** QEMU 10.2.2 streams, stored gzip-compressed (test/fixtures/qemu-10.2/README.md). */
/** CPU milliseconds (user + system, all threads) since `from`: robust on a loaded machine, unlike wall time. */
export function cpuMs(from: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1000;
}

/** Waits until cond() holds, checking every 20 ms: a wait on an outcome, never a guessed sleep. Fails after `ms` (a hang guard). */
export async function waitUntil(cond: () => boolean, what = "condition", ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Iterations of a fuzz loop: npm test runs a bounded few (seconds); the bench runs the long one
 * (VMSTATE_FUZZ=full, scripts/bench.sh). The seeds are fixed: each size always runs the same inputs.
 */
export function fuzzRuns(quick: number, full: number): number {
  return process.env.VMSTATE_FUZZ === "full" ? full : quick;
}

export const FIXTURES10 = path.join(FIXTURES, "qemu-10.2");

export function fixture10(name: string): Uint8Array {
  return new Uint8Array(gunzipSync(fs.readFileSync(path.join(FIXTURES10, `${name}.gz`))));
}

/**
 * Writes a QEMU 10.2 fixture to `dir` and returns its path. All-zero 4 KiB blocks are left as
 * holes, so the mapped-ram stream (40 MB, mostly holes) is sparse on disk as QEMU wrote it.
 */
export function fixture10File(name: string, dir: string): string {
  const bytes = fixture10(name);
  const file = path.join(dir, name);
  const fd = fs.openSync(file, "w");
  try {
    const B = 4096;
    for (let p = 0; p < bytes.length; p += B) {
      const chunk = bytes.subarray(p, Math.min(bytes.length, p + B));
      if (chunk.some((x) => x !== 0)) fs.writeSync(fd, chunk, 0, chunk.length, p);
    }
    fs.ftruncateSync(fd, bytes.length);
  } finally {
    fs.closeSync(fd);
  }
  return file;
}
