// The read-ahead (src/io/readAhead.ts): a helper thread and the decoding thread share the copying
// of a forward walk. Small chunks make the real fixtures cross hundreds of chunk boundaries; every
// window must hold the file's bytes, and every decoded tree must be the one plain reads give.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { decodeStream } from "../../src/format";
import type { DecodedStream } from "../../src/format/types";
import { FileByteSource } from "../../src/io/fileSource";
import { ReadAhead } from "../../src/io/readAhead";
import { openVmState } from "../../src/container/open";
import { FIXTURES, FIXTURES10, fixture10File, fixtureNames, waitUntil } from "./helpers";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-ra-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function patternFile(name: string, n: number): { file: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(n);
  let x = 7;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

/** The whole decoded result as text: every node property, value and diagnostic. */
function snapshot(d: DecodedStream): string {
  return JSON.stringify(d, (_k, v: unknown) =>
    typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v,
  );
}

test("windows of a forward walk hold the file's bytes, across chunk joins and at the end; the helper reads its share", async () => {
  const { file, bytes } = patternFile("walk.bin", 300 * 1024 + 123);
  const fd = fs.openSync(file, "r");
  try {
    for (const slots of [2, 3, 8]) {
      const ra = ReadAhead.start(fd, bytes.length, 0, { chunk: 4096, slots, minBytes: 0 })!;
      assert.ok(ra, "a read-ahead starts when asked to");
      // the helper fills the ring ahead of the walk (proof it runs): wait for it before walking
      await waitUntil(() => ra.stats().helper > 0, `helper reads ahead (${slots} slots)`);
      let pos = 0;
      let step = 1;
      while (pos < bytes.length) {
        // sizes from 1 byte to a whole chunk, so windows start anywhere and join two chunks
        const n = 1 + (((step * 2654435761) >>> 0) % 4096);
        const w = ra.window(pos, n);
        const want = Math.min(n, bytes.length - pos);
        assert.ok(w.length >= want, `window at ${pos} has ${w.length} bytes, needs ${want}`);
        assert.deepEqual(w.subarray(0, want), bytes.subarray(pos, pos + want), `bytes at ${pos}`);
        pos += Math.max(1, Math.min(w.length, (step * 40503) % (2 * n)));
        step++;
      }
      assert.equal(ra.window(bytes.length, 8).length, 0, "nothing past the end");
      assert.equal(ra.window(bytes.length + 5000, 8).length, 0, "nothing further on either");
      const s = ra.stats();
      assert.ok(s.here > 0 && s.helper > 0, `both threads read chunks: ${JSON.stringify(s)}`);
      ra.close();
    }
  } finally {
    fs.closeSync(fd);
  }
});

test("a walk that jumps far ahead keeps the ring; one that moves back reads on by itself; same bytes either way", async () => {
  const { file, bytes } = patternFile("jumps.bin", 400 * 1024);
  const fd = fs.openSync(file, "r");
  try {
    const check = (ra: ReadAhead, pos: number, n: number) => {
      const w = ra.window(pos, n);
      assert.deepEqual(w.subarray(0, n), bytes.subarray(pos, pos + n), `bytes at ${pos}`);
    };
    const ra = ReadAhead.start(fd, bytes.length, 10_000, { chunk: 4096, slots: 4, minBytes: 0 })!;
    await waitUntil(() => ra.stats().helper > 0, "helper reads ahead");
    check(ra, 10_000, 100);
    check(ra, 20_000, 4096); // two chunks on, joining two
    check(ra, 150_000, 4096); // far past the ring (a big field, mapped-ram's pages)
    check(ra, 150_100, 8);
    check(ra, 190_000, 9000); // more than a chunk: a read of its own
    await waitUntil(() => ra.stats().helper > 2, "helper reads ahead after the jump");
    for (let p = 190_000; p < 300_000; p += 1000) check(ra, p, 1000);
    // the file is exactly 100 chunks: its end is a chunk boundary
    check(ra, bytes.length - 10, 10);
    assert.equal(ra.window(bytes.length, 8).length, 0, "nothing at the end");
    assert.equal(ra.stats().fellBack, undefined, "still reading ahead");
    check(ra, 5_000, 3000); // back
    assert.equal(ra.stats().fellBack, "moved back");
    check(ra, 300_000, 8);
    check(ra, bytes.length - 10, 10);
    ra.close();
    // closing twice, and reading after close, are harmless (the file's own close decides)
    ra.close();
    check(ra, 100, 10);
  } finally {
    fs.closeSync(fd);
  }
});

test("small files and single-core machines read as before (no helper thread)", () => {
  const { file, bytes } = patternFile("small.bin", 64 * 1024);
  const fd = fs.openSync(file, "r");
  try {
    assert.equal(ReadAhead.start(fd, bytes.length, 0), undefined, "below 64 MiB: undefined");
  } finally {
    fs.closeSync(fd);
  }
});

// every real stream we keep: QEMU 7.2 fixtures, generated ones, QEMU 10.2 ones (mapped-ram too)
const files: string[] = [
  ...fixtureNames().map((f) => path.join(FIXTURES, f)),
  ...fs
    .readdirSync(path.join(FIXTURES, "gen"))
    .filter((f) => f.endsWith(".vmstate"))
    .map((f) => path.join(FIXTURES, "gen", f)),
];
for (const f of fs.readdirSync(FIXTURES10).filter((f) => f.endsWith(".vmstate.gz")))
  files.push(fixture10File(f.slice(0, -3), tmp));

test(`decoding ${files.length} real streams with a 4 KiB-chunk read-ahead gives the tree plain reads give`, () => {
  let walked = 0;
  for (const file of files) {
    const plain = FileByteSource.open(file);
    plain.readAhead = false;
    const ahead = FileByteSource.open(file);
    ahead.readAhead = { chunk: 4096, slots: 3, minBytes: 0 };
    try {
      const a = snapshot(decodeStream(plain));
      const b = snapshot(decodeStream(ahead));
      const st = ahead.lastScan!.stats();
      // the record loop walks forward only: the ring served it to the end
      assert.ok(!st.fellBack && st.here + st.helper > 0, `${path.basename(file)}: read ahead (${JSON.stringify(st)})`);
      assert.equal(b.length, a.length, `${path.basename(file)}: same size of result`);
      assert.ok(a === b, `${path.basename(file)}: same tree, values and diagnostics`);
      walked++;
    } finally {
      plain.close();
      ahead.close();
    }
  }
  assert.equal(walked, files.length);
});

test("a cut-short stream decodes to the same partial tree and error with the read-ahead", () => {
  const src = path.join(FIXTURES, "q35-devices.vmstate");
  const whole = fs.readFileSync(src);
  for (const cut of [1000, 300_001, whole.length - 5000]) {
    const file = path.join(tmp, `cut-${cut}.vmstate`);
    fs.writeFileSync(file, whole.subarray(0, cut));
    const plain = FileByteSource.open(file);
    plain.readAhead = false;
    const ahead = FileByteSource.open(file);
    ahead.readAhead = { chunk: 4096, slots: 2, minBytes: 0 };
    try {
      const a = decodeStream(plain);
      assert.ok(
        a.diagnostics.some((d) => d.severity === "error"),
        "the cut is an error",
      );
      assert.equal(snapshot(decodeStream(ahead)), snapshot(a), `cut at ${cut}`);
    } finally {
      plain.close();
      ahead.close();
    }
  }
});

test("a read error reaches the walk as the same error a plain read gives, once the walk needs those bytes", () => {
  // a directory's descriptor: every read fails with EISDIR, on both threads
  const fd = fs.openSync(tmp, "r");
  try {
    const ra = ReadAhead.start(fd, 1 << 20, 0, { chunk: 4096, slots: 4, minBytes: 0 })!;
    assert.throws(
      () => ra.window(0, 16),
      (e: NodeJS.ErrnoException) => e.code === "EISDIR",
    );
    assert.equal(ra.stats().fellBack, "short read");
    ra.close();
  } finally {
    fs.closeSync(fd);
  }
});

test("a libvirt save image's stream (a slice of the file) reads ahead in stream space: the same tree", async () => {
  const file = path.join(FIXTURES, "containers", "q35-dbus-vmstate-raw.save");
  const plain = await openVmState(file);
  const ahead = await openVmState(file);
  try {
    assert.equal(plain.container.kind, "libvirt-save");
    plain.file.readAhead = false;
    ahead.file.readAhead = { chunk: 4096, slots: 3, minBytes: 0 };
    const a = decodeStream(plain.source);
    assert.equal(plain.file.lastScan, undefined);
    const b = decodeStream(ahead.source);
    const st = ahead.file.lastScan!.stats();
    assert.ok(!st.fellBack && st.here + st.helper > 0, JSON.stringify(st));
    assert.equal(a.helpers.length, 2, "the image's two dbus-vmstate helpers");
    assert.ok(snapshot(b) === snapshot(a), "same tree, values and diagnostics");
  } finally {
    plain.close();
    ahead.close();
  }
});
