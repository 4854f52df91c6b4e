// Reader (src/format/reader.ts) where its 128 KiB window ends and where a ChunkSource's chunks
// meet, and ChunkSource (src/model/chunkSource.ts) on its own: every value read across a boundary
// is the one a plain DataView over the same bytes gives.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DecodeError } from "../../src/format/errors";
import type { Chunk } from "../../src/format/encode";
import { Reader } from "../../src/format/reader";
import type { ByteSource } from "../../src/format/types";
import { MemoryByteSource } from "../../src/io/memorySource";
import { ChunkSource, rebase } from "../../src/model/chunkSource";
import { materialize } from "./helpers";

const WINDOW = 128 * 1024; // Reader's CHUNK

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** A source that can fill the reader's own buffer (as a file does), counting its calls. */
class IntoSource implements ByteSource {
  reads = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    this.reads++;
    return this.bytes.subarray(offset, Math.min(this.bytes.length, offset + length));
  }
  readInto(offset: number, target: Uint8Array): number {
    this.reads++;
    const part = this.bytes.subarray(offset, Math.min(this.bytes.length, offset + target.length));
    target.set(part);
    return part.length;
  }
}

const data = pattern(3 * WINDOW + 37);
const dv = new DataView(data.buffer);
const sources: [string, () => ByteSource][] = [
  ["read()", () => new MemoryByteSource(data)],
  ["readInto()", () => new IntoSource(data)],
];

for (const [kind, make] of sources) {
  test(`Reader over a ${kind} source: u16, u32, u64 and bytes straddling the window boundary`, () => {
    for (const boundary of [WINDOW, 2 * WINDOW]) {
      for (let back = 1; back <= 9; back++) {
        const at = boundary - back;
        // fill the window first, then read across its end (the case a fresh reader never meets)
        const r = new Reader(make(), boundary - WINDOW);
        r.skip(at - r.pos);
        assert.equal(r.u8(), data[at]);
        r.pos = at;
        assert.equal(r.u16(), dv.getUint16(at), `u16 at ${at}`);
        r.pos = at;
        assert.equal(r.u32(), dv.getUint32(at), `u32 at ${at}`);
        r.pos = at;
        assert.equal(r.u64(), dv.getBigUint64(at), `u64 at ${at}`);
        r.pos = at;
        assert.equal(r.u64n(), Number(dv.getBigUint64(at)), `u64n at ${at}`);
        assert.equal(r.pos, at + 8);
        r.pos = at;
        assert.deepEqual(r.bytes(20), data.slice(at, at + 20), `bytes at ${at}`);
      }
    }
  });

  test(`Reader over a ${kind} source: byte by byte through every window equals the source`, () => {
    const r = new Reader(make());
    const out = new Uint8Array(data.length);
    for (let i = 0; !r.atEnd(); i++) out[i] = r.u8();
    assert.deepEqual(out, data);
    assert.equal(r.remaining, 0);
  });

  test(`Reader over a ${kind} source: bytes() are copies that outlive the window, also past the window size`, () => {
    const r = new Reader(make(), WINDOW - 10);
    const a = r.bytes(16);
    const big = r.bytes(WINDOW + 5); // larger than the window: read straight from the source
    const c = r.bytes(16); // a new window
    assert.deepEqual(a, data.slice(WINDOW - 10, WINDOW + 6));
    assert.deepEqual(big, data.slice(WINDOW + 6, 2 * WINDOW + 11));
    assert.deepEqual(c, data.slice(2 * WINDOW + 11, 2 * WINDOW + 27));
    big[0] = big[0]! ^ 0xff;
    assert.equal(data[WINDOW + 6], big[0]! ^ 0xff, "the source is not changed through a returned copy");
  });
}

test("Reader: the window holds many small reads (one source call per 128 KiB, not one per value)", () => {
  const src = new IntoSource(data);
  const r = new Reader(src);
  while (r.remaining >= 4) r.u32();
  assert.ok(src.reads <= Math.ceil(data.length / WINDOW) + 1, `${src.reads} source reads`);
});

test("Reader: sameRecords counts fixed-size records across the window boundary", () => {
  // 9-byte records (be64 header with flags 0x2 in the low bits + 1 fill byte) from WINDOW - 40 on
  const n = 20;
  const start = WINDOW - 40;
  const b = new Uint8Array(WINDOW + 200);
  const v = new DataView(b.buffer);
  for (let k = 0; k < n; k++) {
    v.setBigUint64(start + 9 * k, (BigInt(k) << 12n) | 0x2n);
    b[start + 9 * k + 8] = 0xaa;
  }
  v.setBigUint64(start + 9 * n, 0x10n); // a record of another kind stops the run
  const r = new Reader(new IntoSource(b), start);
  assert.equal(r.sameRecords(0x2, 0xfff, 9), n);
  assert.equal(r.pos, start + 9 * n);
  assert.equal(r.lastAddr, (n - 1) << 12);
});

test("Reader: a limit below the source's end is a truncation with offset, needed and available", () => {
  const r = new Reader(new MemoryByteSource(data), 100, 110);
  r.skip(8);
  assert.throws(
    () => r.u32("be32 thing"),
    (e: unknown) =>
      e instanceof DecodeError &&
      e.code === "truncated" &&
      e.offset === 108 &&
      e.needed === 4 &&
      e.available === 2 &&
      /be32 thing at 0x6c needs 4 bytes, only 2 left/.test(e.message),
  );
  assert.equal(r.pos, 108, "a failed read does not move");
  assert.throws(() => r.bytes(-1), DecodeError);
  assert.throws(
    () => r.bytes(1e12),
    (e: unknown) => e instanceof DecodeError && e.available === 2,
  );
});

test("Reader: a source that returns fewer bytes than it claims is an io error, not a wrong value", () => {
  const short: ByteSource = { size: 1000, read: (o, n) => data.subarray(o, o + Math.min(n, 3)) };
  const r = new Reader(short, 0);
  assert.throws(
    () => r.u32(),
    (e: unknown) => e instanceof DecodeError && e.code === "io" && e.offset === 0,
  );
});

// ---------------------------------------------------------------- ChunkSource

const base = pattern(1000, 7);
const chunks: Chunk[] = [
  { copy: { start: 10, end: 20 } },
  { bytes: Uint8Array.of(1, 2, 3) },
  { copy: { start: 500, end: 600 } },
  { bytes: new Uint8Array(0) },
  { copy: { start: 0, end: 0 } },
  { copy: { start: 990, end: 1000 } },
  { bytes: Uint8Array.of(9) },
];
const expected = materialize(chunks, new MemoryByteSource(base));
/** Offsets where chunks meet, and the ends. */
const edges = [0, 1, 9, 10, 11, 12, 13, 14, 112, 113, 114, 122, 123, 124];

for (const [kind, make] of [
  ["read()", () => new MemoryByteSource(base)],
  ["readInto()", () => new IntoSource(base)],
] as [string, () => ByteSource][]) {
  test(`ChunkSource over a ${kind} base: read and readInto give the edited bytes at every chunk edge`, () => {
    const cs = new ChunkSource(make(), chunks);
    assert.equal(cs.size, expected.length);
    assert.equal(cs.size, 124);
    for (const o of edges) {
      for (const n of [0, 1, 2, 3, 5, 11, 200]) {
        const want = expected.slice(Math.min(o, cs.size), Math.min(cs.size, o + n));
        assert.deepEqual(cs.read(o, n), want, `read(${o}, ${n})`);
        const t = new Uint8Array(n).fill(0xee);
        const got = cs.readInto(o, t);
        assert.equal(got, want.length, `readInto(${o}, ${n}) count`);
        assert.deepEqual(t.subarray(0, got), want, `readInto(${o}, ${n})`);
        assert.ok(
          t.subarray(got).every((x) => x === 0xee),
          "nothing written past what was read",
        );
      }
    }
    assert.deepEqual(cs.read(-5, 3), expected.slice(0, 3), "a negative offset is clipped");
  });
}

test("ChunkSource: a Reader reads values across chunk edges", () => {
  const cs = new ChunkSource(new IntoSource(base), chunks);
  const ev = new DataView(expected.buffer);
  for (let at = 0; at + 8 <= cs.size; at++) {
    const r = new Reader(cs, at);
    assert.equal(r.u32(), ev.getUint32(at), `u32 at ${at}`);
    r.pos = at;
    assert.equal(r.u64(), ev.getBigUint64(at), `u64 at ${at}`);
  }
});

test("ChunkSource: flatten and rebase express any span in the base's terms", () => {
  const src = new MemoryByteSource(base);
  const cs = new ChunkSource(src, chunks);
  for (const s of edges) {
    for (const e of edges) {
      if (e < s) continue;
      const flat = cs.flatten({ start: s, end: e });
      assert.deepEqual(materialize(flat, src), expected.slice(s, e), `flatten [${s}, ${e})`);
      for (const c of flat)
        if ("copy" in c) assert.ok(c.copy.start >= 0 && c.copy.end <= base.length && c.copy.end > c.copy.start);
    }
  }
  // an edit over an edit: chunks of a ChunkSource over a ChunkSource, rebased onto the file
  const top = new ChunkSource(cs, [
    { copy: { start: 5, end: 15 } },
    { bytes: Uint8Array.of(7, 7) },
    { copy: { start: 100, end: 124 } },
  ]);
  const want = materialize(top.chunks, cs);
  const flat = rebase(top.chunks, cs);
  assert.deepEqual(materialize(flat, src), want);
  assert.deepEqual(top.read(0, top.size), want);
  assert.ok(flat.every((c) => "bytes" in c || c.copy.end <= base.length));
  assert.equal(rebase(chunks, src), chunks, "chunks over a plain source stay as they are");
});
