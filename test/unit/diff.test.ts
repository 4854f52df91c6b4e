// vmstate diff on pairs real QEMU 7.2 (and 10.2) wrote: test/tools/make-diff-fixtures.py made the
// paused/pattern/twin streams; the set-helper and set-field pairs are made here with the CLI.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { runCli } from "../../src/cli/commands";
import { inflatePage, sha256Hex } from "../../src/cli/diffCommand";
import { compareStreams } from "../../src/diff/compare";
import type { StreamDiff } from "../../src/diff/types";
import { decodeStream } from "../../src/format";
import { MemoryByteSource } from "../../src/io/memorySource";
import { FIXTURES, ROOT } from "./helpers";

const CLI = path.join(ROOT, "dist/cli.js");
const D = path.join(FIXTURES, "diff");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-diff-"));

function diffCli(a: string, b: string, ...more: string[]) {
  const r = spawnSync(process.execPath, [CLI, "diff", a, b, ...more], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function diffJson(a: string, b: string): { code: number | null; d: StreamDiff } {
  const r = diffCli(a, b, "--json");
  assert.equal(r.err, "", r.err);
  return { code: r.code, d: JSON.parse(r.out) as StreamDiff };
}

async function diffBytes(a: Uint8Array, b: Uint8Array): Promise<StreamDiff> {
  const sa = new MemoryByteSource(a);
  const sb = new MemoryByteSource(b);
  return (
    await compareStreams(
      { file: "A", src: sa, decoded: decodeStream(sa) },
      { file: "B", src: sb, decoded: decodeStream(sb) },
      { sha256: sha256Hex, inflate: inflatePage },
    )
  ).diff;
}

const nothingElse = (d: StreamDiff, except: (keyof StreamDiff["counts"])[]) => {
  for (const [k, v] of Object.entries(d.counts))
    if (!except.includes(k as keyof StreamDiff["counts"]))
      assert.equal(v, 0, `${k} should not differ: ${JSON.stringify(d, null, 1).slice(0, 2000)}`);
};

test("a stream against itself: the same, exit 0", () => {
  const f = path.join(D, "paused-1.vmstate");
  const r = diffCli(f, f);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /the states are the same/);
});

test("saved, restored into a fresh QEMU, saved again: different bytes, the same state (exit 0)", () => {
  const a = path.join(D, "paused-1.vmstate");
  const b = path.join(D, "paused-2.vmstate");
  assert.notDeepEqual(
    fs.readFileSync(a),
    fs.readFileSync(b),
    "the files differ byte-wise (RAM records framed differently)",
  );
  const { code, d } = diffJson(a, b);
  assert.equal(code, 0);
  assert.equal(d.same, true);
  const pcram = d.ram.blocks.find((x) => x.name === "mem")!;
  assert.equal(pcram.comparedPages, (32 * 1024 * 1024) / 4096, "every page of the 32 MiB guest was compared");
});

test("two cold starts of the same paused guest: only the RTC's wall-clock fields differ, offsets point at the values", () => {
  const a = path.join(D, "paused-1.vmstate");
  const b = path.join(D, "twin.vmstate");
  const { code, d } = diffJson(a, b);
  assert.equal(code, 1);
  nothingElse(d, ["fields"]);
  assert.deepEqual(d.fields.map((f) => f.path).sort(), [
    "mc146818rtc:0/base_rtc",
    "mc146818rtc:0/cmos_data",
    "mc146818rtc:0/last_update",
    "mc146818rtc:0/next_alarm_time",
    "mc146818rtc:0/update_timer",
  ]);
  assert.ok(d.fields.every((f) => f.status === "changed" && f.section === "mc146818rtc:0"));
  // the offsets are where the values are: base_rtc is a be64
  const base = d.fields.find((f) => f.path.endsWith("/base_rtc"))!;
  for (const [file, s] of [
    [a, base.a!],
    [b, base.b!],
  ] as const) {
    assert.equal(s.end - s.offset, 8);
    const v = fs.readFileSync(file).readBigUInt64BE(s.offset);
    assert.equal(String(v), s.value.split(" ")[0]);
  }
  assert.notEqual(base.a!.value, base.b!.value);
});

test("the host wrote a pattern into guest RAM: exactly those pages differ, zero -> data, at their guest addresses", () => {
  const pairs = JSON.parse(fs.readFileSync(path.join(D, "pairs.json"), "utf8"));
  const a = path.join(D, "paused-2.vmstate");
  const b = path.join(D, "pattern.vmstate");
  const { code, d } = diffJson(a, b);
  assert.equal(code, 1);
  nothingElse(d, ["ramPages", "ramBlocks"]);
  const blocks = d.ram.blocks.filter((x) => x.status !== "same");
  assert.deepEqual(
    blocks.map((x) => x.name),
    [pairs.block],
  );
  const bl = blocks[0]!;
  assert.deepEqual(bl.ranges, [
    { start: 0x100000, end: 0x103000, pages: 3, change: "zero-to-data" },
    { start: 0x1f0000, end: 0x1f1000, pages: 1, change: "zero-to-data" },
  ]);
  assert.equal(bl.counts["zero-to-data"], 4);
  assert.equal(bl.counts.changed + bl.counts["only-a"] + bl.counts["only-b"] + bl.counts.uncompared, 0);
  // the page at 0xff000 was written with zeros: not a difference
  assert.ok(!bl.first.some((p) => p.addr === 0xff000));
  // B's offsets hold the pattern bytes; the first differing byte is where the pattern starts
  const bytes = fs.readFileSync(b);
  const p0 = bl.first.find((p) => p.addr === 0x100000)!;
  assert.ok(bytes.subarray(p0.bOffset!, p0.bOffset! + 4096).every((x) => x === 0xa5));
  const p1 = bl.first.find((p) => p.addr === 0x1f0000)!;
  assert.equal(p1.firstDiff, 0x10);
  assert.ok(bytes.subarray(p1.bOffset! + 0x10, p1.bOffset! + 0x20).every((x) => x === 0x5a));
  // the text output names the ranges
  const t = diffCli(a, b);
  assert.match(t.out, /RAM block mem: 4 zero-to-data/);
  assert.match(t.out, /0x100000\.\.0x103000 {2}3 pages zero-to-data/);
});

test("a helper blob replaced with set-helper: exactly that helper differs (new size and sha256)", async () => {
  const dir = tmp();
  try {
    const src = path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate");
    const blob = path.join(dir, "tpm.bin");
    const newBlob = Buffer.alloc(5000, 0x42);
    fs.writeFileSync(blob, newBlob);
    const out = path.join(dir, "edited.vmstate");
    const io = { stdout: () => {}, stderr: (s: string) => assert.fail(s) };
    assert.equal(await runCli(["set-helper", src, "--id", "tpm-emu", "--from", blob, "-o", out], io), 0);
    const { code, d } = diffJson(src, out);
    assert.equal(code, 1);
    nothingElse(d, ["helpers"]);
    assert.equal(d.helpers.length, 1);
    const h = d.helpers[0]!;
    assert.equal(h.id, "tpm-emu");
    assert.equal(h.status, "changed");
    assert.equal(h.a!.size, 4096);
    assert.equal(h.b!.size, 5000);
    assert.equal(h.b!.sha256, createHash("sha256").update(newBlob).digest("hex"));
    const orig = fs.readFileSync(src);
    assert.equal(
      h.a!.sha256,
      createHash("sha256")
        .update(orig.subarray(h.a!.offset, h.a!.offset + 4096))
        .digest("hex"),
    );
    const firstA = orig.subarray(h.a!.offset).findIndex((x) => x !== 0x42);
    assert.equal(h.firstDiff, firstA);

    // same length, one byte changed: the first differing byte is that one
    const one = Buffer.from(orig.subarray(h.a!.offset, h.a!.offset + 4096));
    one[1234] = one[1234]! ^ 0xff;
    fs.writeFileSync(blob, one);
    assert.equal(await runCli(["set-helper", src, "--id", "tpm-emu", "--from", blob, "-o", out], io), 0);
    const r2 = diffJson(src, out).d;
    assert.deepEqual(
      r2.helpers.map((x) => [x.id, x.status, x.firstDiff]),
      [["tpm-emu", "changed", 1234]],
    );
    nothingElse(r2, ["helpers"]);

    // removed: only in A
    assert.equal(await runCli(["set-helper", src, "--id", "audio", "--remove", "-o", out], io), 0);
    const r3 = diffJson(src, out).d;
    assert.deepEqual(
      r3.helpers.map((x) => [x.id, x.status]),
      [["audio", "only-a"]],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("one field set with set-field: exactly that field differs, at the same offset in both files", async () => {
  const dir = tmp();
  try {
    const src = path.join(D, "paused-1.vmstate");
    const out = path.join(dir, "edited.vmstate");
    const io = { stdout: () => {}, stderr: (s: string) => assert.fail(s) };
    assert.equal(
      await runCli(
        ["set-field", src, "--section", "cpu:0", "--field", "env.regs[3]", "--value", "0x1234", "-o", out],
        io,
      ),
      0,
    );
    const { code, d } = diffJson(src, out);
    assert.equal(code, 1);
    nothingElse(d, ["fields"]);
    assert.equal(d.fields.length, 1);
    const f = d.fields[0]!;
    assert.equal(f.path, "cpu:0/env.regs[3]");
    assert.equal(f.status, "changed");
    assert.equal(f.a!.offset, f.b!.offset);
    assert.equal(fs.readFileSync(out).readBigUInt64BE(f.b!.offset), 0x1234n);
    assert.match(f.b!.value, /^4660\b/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("QEMU 7.2 against QEMU 10.2 (same devices): machine type, and fields that exist on one side only", async () => {
  const a = new Uint8Array(fs.readFileSync(path.join(FIXTURES, "q35-devices.vmstate")));
  const b = new Uint8Array(gunzipSync(fs.readFileSync(path.join(D, "q35-devices-10.2.vmstate.gz"))));
  const d = await diffBytes(a, b);
  assert.equal(d.same, false);
  assert.deepEqual(d.configuration.machineType, { a: "pc-q35-7.2", b: "pc-q35-10.2" });
  const f = (p: string) => d.fields.find((x) => x.path === p);
  // hpet: 7.2 sends num_timers, 10.2 num_timers_save (the field was renamed when it became a property)
  assert.equal(f("hpet:0/num_timers")?.status, "only-a");
  assert.equal(f("hpet:0/num_timers")?.b, undefined);
  assert.equal(f("hpet:0/num_timers_save")?.status, "only-b");
  assert.equal(f("hpet:0/num_timers_save")?.a, undefined);
  // globalstate gained vm_was_suspended after 7.2
  assert.equal(f("globalstate:0/vm_was_suspended")?.status, "only-b");
  // one-sided fields have the other side's value absent and their own offset inside their file
  for (const x of d.fields.filter((x) => x.status === "only-b")) assert.ok(x.b!.offset > 0 && x.b!.end <= b.length);
  // both sides' RAM was compared block by block
  const ram = d.ram.blocks.find((x) => x.name === "pc.ram")!;
  assert.ok(ram.comparedPages > 0);
  // NOTE: 10.2 struct arrays (e.g. ich9_ahci's ahci/dev) decode differently until the QEMU 10
  // decoding work is merged; this test asserts only what holds either way.
});

test("usage errors and unreadable inputs exit 2 with a message; --json has the documented keys", () => {
  const f = path.join(D, "paused-1.vmstate");
  const one = diffCli(f, "");
  assert.equal(one.code, 2);
  const r1 = spawnSync(process.execPath, [CLI, "diff", f], { encoding: "utf8" });
  assert.equal(r1.status, 2);
  assert.match(r1.stderr, /needs exactly two files/);
  const missing = diffCli(f, path.join(D, "no-such.vmstate"));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot open .*no-such\.vmstate: ENOENT/);
  const notStream = diffCli(f, path.join(D, "pairs.json"));
  assert.equal(notStream.code, 2);
  assert.match(notStream.err, /not a QEMU migration stream/);
  assert.doesNotMatch(missing.err + notStream.err, /\n\s+at /, "no stack trace");
  const { d } = diffJson(f, path.join(D, "twin.vmstate"));
  assert.deepEqual(Object.keys(d), [
    "format",
    "a",
    "b",
    "same",
    "counts",
    "configuration",
    "sections",
    "fields",
    "helpers",
    "ram",
    "notes",
  ]);
  assert.deepEqual(Object.keys(d.counts), ["configuration", "sections", "fields", "helpers", "ramBlocks", "ramPages"]);
  assert.deepEqual(
    Object.keys(d.fields[0]!),
    ["path", "section", "status", "a", "b", "firstDiff"].filter((k) => k in d.fields[0]!),
  );
});

test("the compare view's index: only-differences children, reveal paths and both sides' details", async () => {
  const { CompareIndex } = await import("../../src/diff/compareIndex");
  const a = new Uint8Array(fs.readFileSync(path.join(D, "paused-1.vmstate")));
  const b = new Uint8Array(fs.readFileSync(path.join(D, "twin.vmstate")));
  const sa = new MemoryByteSource(a);
  const sb = new MemoryByteSource(b);
  const A = { file: "/x/paused-1.vmstate", src: sa, decoded: decodeStream(sa) };
  const B = { file: "/x/twin.vmstate", src: sb, decoded: decodeStream(sb) };
  const idx = new CompareIndex(await compareStreams(A, B, { sha256: sha256Hex }), A, B);
  const info = idx.info();
  assert.equal(info.a.fileName, "paused-1.vmstate");
  assert.equal(info.diffTotal, 5);
  assert.equal(info.diffIds.length, 5);
  const all = idx.children("");
  const only = idx.children("", 0, 2000, true);
  assert.ok(all.total > 20, `${all.total} top-level nodes`);
  assert.deepEqual(
    only.nodes.map((n) => [n.name, n.mark, n.markCount]),
    [["mc146818rtc:0", "changed", 5]],
  );
  const rtcKids = idx.children(only.nodes[0]!.id, 0, 2000, true).nodes;
  assert.deepEqual(rtcKids.map((n) => n.name).sort(), [
    "base_rtc",
    "cmos_data",
    "last_update",
    "next_alarm_time",
    "update_timer",
  ]);
  const base = rtcKids.find((n) => n.name === "base_rtc")!;
  assert.match(base.detail!, /^1795964964 .*→ 1795964966/);
  const t = idx.reveal(base.id)!;
  assert.deepEqual(t.path, [only.nodes[0]!.id, base.id]);
  const d = idx.details(base.id)!;
  assert.equal(d.status, "changed");
  assert.equal(d.fieldPath, "mc146818rtc:0/base_rtc");
  assert.equal(d.a!.valueEnd! - d.a!.valueStart!, 8);
  assert.equal(Buffer.from(idx.read("a", d.a!.valueStart!, 8)).readBigUInt64BE(), 1795964964n);
  assert.equal(Buffer.from(idx.read("b", d.b!.valueStart!, 8)).readBigUInt64BE(), 1795964966n);
  // a same node: no mark count, both sides present
  const same = all.nodes.find((n) => n.mark === "same" && n.kind === "section")!;
  assert.equal(idx.details(same.id)!.status, "same");
});

// ---- synthetic RAM streams: what real QEMU does not write on demand ----
import { StreamBuilder } from "./streamBuilder";

type Rec = [block: string, addr: number, kind: "page" | "zero" | "xbzrle", fill: number];
/** A RAM-only stream: blocks of `size` bytes, then the records in order (a new block name drops CONTINUE). */
function ramStream(blocks: [string, number][], recs: Rec[]): Uint8Array {
  const b = new StreamBuilder().header().configuration().startHeader(2, "ram");
  b.u64(blocks.reduce((s, [, n]) => s + n, 0) | 0x04);
  for (const [name, n] of blocks) b.counted(name).u64(n);
  let cur = "";
  for (const [block, addr, kind, fill] of recs) {
    const flag = kind === "page" ? 0x08 : kind === "zero" ? 0x02 : 0x40;
    const cont = block === cur ? 0x20 : 0;
    b.u64(addr + flag + cont);
    if (!cont) b.counted(block);
    cur = block;
    if (kind === "page") b.bytes(new Uint8Array(4096).fill(fill));
    else if (kind === "zero") b.u8(fill);
    else b.u8(1).u16(2).bytes([0, fill]);
  }
  return b.u64(0x10).footer(2).eof().build();
}

test("RAM: a page sent twice counts with its last copy; pages and blocks on one side only; zero fill bytes", async () => {
  const blocks: [string, number][] = [["pc.ram", 0x10000]];
  const A = ramStream(blocks, [
    ["pc.ram", 0x0, "page", 1],
    ["pc.ram", 0x1000, "page", 7],
    ["pc.ram", 0x2000, "zero", 0],
    ["pc.ram", 0x3000, "zero", 0],
  ]);
  // B sends 0x1000 twice (9 then 7), lacks 0x3000, has 0x4000
  const B = ramStream(blocks, [
    ["pc.ram", 0x0, "page", 1],
    ["pc.ram", 0x1000, "page", 9],
    ["pc.ram", 0x2000, "zero", 0],
    ["pc.ram", 0x1000, "page", 7],
    ["pc.ram", 0x4000, "zero", 0],
  ]);
  const d = await diffBytes(A, B);
  const bl = d.ram.blocks[0]!;
  assert.deepEqual(bl.ranges, [
    { start: 0x3000, end: 0x4000, pages: 1, change: "only-a" },
    { start: 0x4000, end: 0x5000, pages: 1, change: "only-b" },
  ]);
  assert.equal(bl.comparedPages, 3);
  // the last copy differs: changed, first differing byte 0
  const B2 = ramStream(blocks, [
    ["pc.ram", 0x0, "page", 1],
    ["pc.ram", 0x1000, "page", 7],
    ["pc.ram", 0x2000, "zero", 0],
    ["pc.ram", 0x3000, "zero", 0],
    ["pc.ram", 0x1000, "page", 9],
  ]);
  const d2 = (await diffBytes(A, B2)).ram.blocks[0]!;
  assert.deepEqual(d2.ranges, [{ start: 0x1000, end: 0x2000, pages: 1, change: "changed" }]);
  assert.equal(d2.first[0]!.firstDiff, 0);
  // zero page with another fill byte; data page of zeros against a zero page is no difference
  const B3 = ramStream(blocks, [
    ["pc.ram", 0x0, "page", 1],
    ["pc.ram", 0x1000, "page", 7],
    ["pc.ram", 0x2000, "zero", 5],
    ["pc.ram", 0x3000, "page", 0],
  ]);
  assert.deepEqual((await diffBytes(A, B3)).ram.blocks[0]!.ranges, [
    { start: 0x2000, end: 0x3000, pages: 1, change: "zero-to-data" },
  ]);
  // a block on one side only
  const B4 = ramStream(
    [...blocks, ["pc.rom", 0x1000]],
    [
      ["pc.ram", 0x0, "page", 1],
      ["pc.ram", 0x1000, "page", 7],
      ["pc.ram", 0x2000, "zero", 0],
      ["pc.ram", 0x3000, "zero", 0],
      ["pc.rom", 0x0, "page", 3],
    ],
  );
  const d4 = await diffBytes(A, B4);
  assert.deepEqual(
    d4.ram.blocks.map((x) => [x.name, x.status]),
    [
      ["pc.ram", "same"],
      ["pc.rom", "only-b"],
    ],
  );
  assert.equal(d4.same, false);
  assert.equal((await diffBytes(A, A)).same, true);
});

test("RAM: XBZRLE pages are counted as uncompared with a note, never as equal or different", async () => {
  const blocks: [string, number][] = [["pc.ram", 0x2000]];
  const A = ramStream(blocks, [
    ["pc.ram", 0x0, "page", 1],
    ["pc.ram", 0x1000, "page", 2],
  ]);
  const B = ramStream(blocks, [
    ["pc.ram", 0x0, "page", 1],
    ["pc.ram", 0x1000, "xbzrle", 2],
  ]);
  const d = await diffBytes(A, B);
  const bl = d.ram.blocks[0]!;
  assert.equal(bl.counts.uncompared, 1);
  assert.equal(d.counts.ramPages, 0);
  assert.ok(
    d.notes.some((n) => n.code === "ram-uncompared"),
    JSON.stringify(d.notes),
  );
});

test("RAM: compressed pages (real QEMU, compress capability) are inflated and compared", async () => {
  const f = new Uint8Array(fs.readFileSync(path.join(FIXTURES, "q35-cap-compress.vmstate")));
  const d = await diffBytes(f, f);
  assert.equal(d.same, true);
  const compared = d.ram.blocks.reduce((s, b) => s + b.comparedPages, 0);
  assert.ok(compared > 1000, `${compared} pages compared`);
  assert.equal(
    d.ram.blocks.reduce((s, b) => s + b.counts.uncompared, 0),
    0,
  );
  assert.deepEqual(d.notes, []);
});

test("RAM split between two threads: the pieces merge into exactly the single-thread result", async () => {
  const { runRamSlice } = await import("../../src/diff/ram");
  for (const [fa, fb] of [
    ["paused-2", "pattern"],
    ["paused-1", "twin"],
    ["paused-1", "pattern"],
  ]) {
    const a = new Uint8Array(fs.readFileSync(path.join(D, `${fa}.vmstate`)));
    const b = new Uint8Array(fs.readFileSync(path.join(D, `${fb}.vmstate`)));
    const sa = new MemoryByteSource(a);
    const sb = new MemoryByteSource(b);
    const A = { file: "A", src: sa, decoded: decodeStream(sa) };
    const B = { file: "B", src: sb, decoded: decodeStream(sb) };
    const single = (await compareStreams(A, B, { sha256: sha256Hex })).diff;
    // the other thread takes every piece (it starts first), none (this thread is faster), or the
    // upper half before this thread starts: each piece is compared by one thread only, and the
    // merge is the same
    // the other thread fails (it died): its pieces are compared here, the result is the same
    const failed = (
      await compareStreams(A, B, {
        sha256: sha256Hex,
        ramSplitBytes: 4096,
        ramRemote: (job) => (
          Atomics.store(new Int32Array(job.claim!), 0, 3 << 16),
          Promise.reject(new Error("helper worker exited with 1"))
        ),
      })
    ).diff;
    assert.deepEqual(failed, single, "the other thread failed");
    for (const mode of ["all", "none", "upper half"]) {
      const jobs: number[] = [];
      const split = (
        await compareStreams(A, B, {
          sha256: sha256Hex,
          ramSplitBytes: 4096,
          ramRemote: async (job) => {
            jobs.push(job.pieces.length);
            const n = job.pieces.length;
            if (mode === "none") await new Promise((r) => setImmediate(r));
            let j = job;
            if (mode === "upper half") {
              const half = Math.floor(n / 2);
              Atomics.store(new Int32Array(job.claim!), 0, half << 16);
              j = { ...job, from: n - half };
              delete j.claim;
            }
            // through a structured clone, as to a worker
            const r = structuredClone(runRamSlice(structuredClone(j), sa, sb));
            assert.equal(r.length, mode === "all" ? n : mode === "none" ? 0 : Math.floor(n / 2));
            return r;
          },
        })
      ).diff;
      assert.ok(jobs.length >= 1 && jobs.every((n) => n >= 2), `blocks were cut: ${jobs.join(" ")}`);
      assert.ok(
        jobs.some((n) => n > 2),
        `some block in more than 2 pieces: ${jobs.join(" ")}`,
      );
      assert.deepEqual(split, single, mode);
    }
  }
  // a split in the middle of a range of differing pages joins the range again
  const blocks: [string, number][] = [["pc.ram", 0x8000]];
  const recs = (fill: number): Rec[] =>
    Array.from({ length: 8 }, (_, i) => ["pc.ram", i * 0x1000, "page", i >= 2 && i < 7 ? fill : 0] as Rec);
  const x = ramStream(blocks, recs(1));
  const y = ramStream(blocks, recs(2));
  const sx = new MemoryByteSource(x);
  const sy = new MemoryByteSource(y);
  const X = { file: "A", src: sx, decoded: decodeStream(sx) };
  const Y = { file: "B", src: sy, decoded: decodeStream(sy) };
  const r = (
    await compareStreams(X, Y, {
      sha256: sha256Hex,
      ramSplitBytes: 1,
      ramRemote: async (job) => runRamSlice(job, sx, sy),
    })
  ).diff;
  assert.deepEqual(r.ram.blocks[0]!.ranges, [{ start: 0x2000, end: 0x7000, pages: 5, change: "changed" }]);
  // a split inside pages sent by one side only: one pass lists that stretch once in `first`, and so
  // does the split (the upper slice starts the same stretch again at the cut)
  for (const [na, nb] of [
    [16, 2],
    [2, 16],
  ] as const) {
    const pages = (n: number): Rec[] => Array.from({ length: n }, (_, i) => ["pc.ram", i * 0x1000, "page", 7] as Rec);
    const sp = new MemoryByteSource(ramStream([["pc.ram", 0x10000]], pages(na)));
    const sq = new MemoryByteSource(ramStream([["pc.ram", 0x10000]], pages(nb)));
    const P = { file: "A", src: sp, decoded: decodeStream(sp) };
    const Q = { file: "B", src: sq, decoded: decodeStream(sq) };
    const one = (await compareStreams(P, Q, { sha256: sha256Hex })).diff;
    let cut = 0;
    const two = (
      await compareStreams(P, Q, {
        sha256: sha256Hex,
        ramSplitBytes: 1,
        ramRemote: async (job) => (cut++, runRamSlice(job, sp, sq)),
      })
    ).diff;
    assert.equal(cut, 1);
    assert.equal(one.ram.blocks[0]!.first.length, 1, JSON.stringify(one.ram.blocks[0]));
    assert.deepEqual(two, one);
  }
});

test("vmstate diff with the RAM split forced between its two threads gives the same JSON", () => {
  for (const [fa, fb] of [
    ["paused-2", "pattern"],
    ["paused-1", "twin"],
  ]) {
    const a = path.join(D, `${fa}.vmstate`);
    const b = path.join(D, `${fb}.vmstate`);
    const one = diffCli(a, b, "--json");
    const r = spawnSync(process.execPath, [CLI, "diff", a, b, "--json"], {
      encoding: "utf8",
      env: { ...process.env, VMSTATE_DIFF_SPLIT_BYTES: "4096" },
    });
    assert.equal(r.status, one.code, r.stderr);
    const m = /(\d+) RAM slice\(s\) compared in the helper thread/.exec(r.stderr);
    assert.ok(m && Number(m[1]) >= 3, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(one.out));
  }
});
