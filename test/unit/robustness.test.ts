// Bad input never throws out of the decoder, never hangs, and still gives a partial tree.
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeStream } from "../../src/format";
import { MemoryByteSource } from "../../src/io/memorySource";
import { checkSpans, decodeBytes, fixture, fuzzRuns, materialize } from "./helpers";

function offsetsToCut(b: Uint8Array, boundaries: number[], extra: number): number[] {
  const set = new Set<number>([0, 1, 4, 7, 8, 9, 12, b.length - 1, b.length - 2, b.length - 6]);
  for (const x of boundaries)
    for (const d of [-5, -1, 0, 1, 2, 5, 9, 14]) if (x + d > 0 && x + d < b.length) set.add(x + d);
  let seed = 12345;
  for (let i = 0; i < extra; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    set.add(seed % b.length);
  }
  return [...set].sort((a, c) => a - c);
}

for (const name of ["dbus-vmstate-3helpers", "q35-no-vmdesc", "q35-no-footer"]) {
  test(`${name}: truncated at ~400 offsets, every one gives a diagnostic and a partial tree`, () => {
    const full = fixture(`${name}.vmstate`);
    const whole = decodeBytes(full);
    const boundaries = whole.sections
      .flatMap((s) => [s.offset, s.end])
      .concat(whole.helpers.flatMap((h) => [h.entry.start, h.blob.start, h.entry.end]));
    const cuts = offsetsToCut(full, boundaries, 150);
    for (const cut of cuts) {
      const part = full.subarray(0, cut);
      const d = decodeBytes(part);
      // a cut right after EOF is a valid stream without a vmdesc; a cut in a section found only by
      // the heuristic cannot be told from the end of the stream, and says it used a heuristic
      const eofCut = whole.vmdescSpan && cut === whole.vmdescSpan.start;
      const flagged = d.diagnostics.some(
        (x) => x.severity === "error" || (x.severity === "warning" && /heuristic/.test(x.message)),
      );
      assert.ok(
        eofCut || flagged,
        `cut at ${cut}: no error diagnostic (${d.diagnostics.map((x) => x.code).join(",")})`,
      );
      assert.deepEqual(checkSpans(d.root), [], `cut at ${cut}`);
      assert.equal(d.root.children!.at(-1)?.span.end ?? 0, cut, `cut at ${cut}: tree does not cover the file`);
      // what was decoded is still exact: re-encoding gives the same bytes
      const again = materialize(encodeStream(d.root), new MemoryByteSource(part));
      assert.ok(Buffer.from(again).equals(Buffer.from(part)), `cut at ${cut}: re-encoding differs`);
      if (cut > 200_000) assert.ok(d.sections.length > 0, `cut at ${cut}: no sections in the partial tree`);
    }
  });
}

test("random byte corruption never throws and always terminates", () => {
  const full = fixture("dbus-vmstate-3helpers.vmstate");
  let seed = 777;
  const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0);
  for (let i = 0, runs = fuzzRuns(30, 150); i < runs; i++) {
    const b = full.slice();
    const n = 1 + (rnd() % 8);
    for (let k = 0; k < n; k++) b[rnd() % b.length] = rnd() & 0xff;
    const d = decodeBytes(b);
    assert.deepEqual(checkSpans(d.root), []);
    const again = materialize(encodeStream(d.root), new MemoryByteSource(b));
    assert.ok(Buffer.from(again).equals(Buffer.from(b)), `iteration ${i}: re-encoding differs`);
  }
});

test("wrong files: text, zeros, random bytes", () => {
  const inputs = [
    new TextEncoder().encode("#!/bin/sh\necho hi\n"),
    new Uint8Array(4096),
    Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) & 0xff),
  ];
  for (const b of inputs) {
    const d = decodeBytes(b);
    const e = d.diagnostics.find((x) => x.severity === "error");
    assert.ok(e);
    assert.match(e.message, /0x0|magic|bytes/);
  }
});
