// Real QEMU 10.2.2 streams (test/fixtures/qemu-10.2): dump against QEMU 10.2's own analyzer,
// COMMAND records, mapped-ram pages at their file offsets, multifd and postcopy notes, rewrite.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { runCli } from "../../src/cli/commands";
import { StreamIndex } from "../../src/editor/streamIndex";
import { encodeStream, expandNode, type VNode } from "../../src/format";
import { dumpStateJson } from "../../src/format/dump";
import { FileByteSource } from "../../src/io/fileSource";
import { MemoryByteSource } from "../../src/io/memorySource";
import { checkSpans, decodeBytes, FIXTURES, FIXTURES10, fixture10, fixture10File, materialize, walk } from "./helpers";
import { StreamBuilder } from "./streamBuilder";

// from the project-wide fixture set (copied here), then made with the same tools by this project's QEMU 10.2.2 build
const STREAMS = [
  "q35-devices",
  "dbus-vmstate-3helpers",
  "q35-mapped-ram",
  "q35-machine-10.2-twin",
  "q35-return-path-switchover-ack",
  "q35-postcopy-advise",
  "q35-multifd-socket",
  "pc-devices",
  "q35-background-snapshot",
  "q35-machine-7.2",
  "q35-machine-9.2",
  "q35-multifd-mapped-ram",
  "q35-postcopy-run",
];

const meta = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES10, `${name}.vmstate.meta.json`), "utf8"));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function capture() {
  let out = "";
  let err = "";
  return {
    io: { stdout: (s: string) => (out += s), stderr: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

const cache = new Map<string, Uint8Array>();
function bytesOf(name: string): Uint8Array {
  let b = cache.get(name);
  if (!b) cache.set(name, (b = fixture10(`${name}.vmstate`)));
  return b;
}

for (const name of STREAMS) {
  test(`10.2 ${name}: decodes as the fixture maker's probe saw it; spans nest and tile the file`, () => {
    const bytes = bytesOf(name);
    const m = meta(name);
    assert.equal(sha(bytes), m.sha256);
    const d = decodeBytes(bytes);
    const problems = d.diagnostics.filter((x) => x.severity !== "info");
    if (name === "q35-multifd-socket")
      assert.deepEqual(
        problems.map((x) => x.code),
        ["multifd-pages-elsewhere"],
      );
    else assert.deepEqual(problems, []);
    assert.deepEqual(checkSpans(d.root), []);
    let pos = 0;
    for (const k of d.root.children!) {
      assert.equal(k.span.start, pos, `${k.id} leaves a gap`);
      assert.notEqual(k.kind, "unparsed", `${k.id} is unparsed`);
      pos = k.span.end;
    }
    assert.equal(pos, d.size);
    const f = m.features;
    assert.equal(d.machineType, f.configuration_section.machine_name);
    assert.deepEqual(
      d.capabilities,
      f.configuration_section.subsections.flatMap((s: { capabilities?: string[] }) => s.capabilities ?? []),
    );
    assert.deepEqual(
      d.ramBlocks.map((b) => ({ idstr: b.name, used_length: b.usedLength })),
      f.first_section.ram_blocks.map((b: { idstr: string; used_length: number }) => ({
        idstr: b.idstr,
        used_length: b.used_length,
      })),
    );
    if (f.vmdesc) assert.equal(d.vmdescSpan?.start, f.vmdesc.offset);
    else {
      assert.equal(d.vmdesc, undefined);
      assert.match(d.diagnostics.find((x) => x.code === "no-vmdesc")!.message, /postcopy/);
    }
    // COMMAND records: the leading ones and SWITCHOVER_START where the probe found them
    const firstSection = d.sections[0]!.offset;
    const leading = d.commands.filter((c) => c.offset < firstSection);
    assert.deepEqual(
      leading.map((c) => ({ offset: c.offset, cmd: c.cmd })),
      f.leading_commands.map((c: { offset: number; cmd: number }) => ({ offset: c.offset, cmd: c.cmd })),
    );
    assert.deepEqual(
      d.commands.filter((c) => c.name === "SWITCHOVER_START").map((c) => c.offset),
      f.switchover_start_offsets,
    );
  });

  test(`10.2 ${name}: rewrite is byte-identical and every valued leaf is re-encoded`, () => {
    const bytes = bytesOf(name);
    const d = decodeBytes(bytes);
    assert.ok(Buffer.from(materialize(encodeStream(d.root), new MemoryByteSource(bytes))).equals(Buffer.from(bytes)));
    const poisoned = bytes.slice();
    walk(d.root, (n) => {
      if (n.enc && !n.incomplete && !(n.children && n.children.length)) poisoned.fill(0xa5, n.span.start, n.span.end);
    });
    assert.ok(
      Buffer.from(materialize(encodeStream(d.root), new MemoryByteSource(poisoned))).equals(Buffer.from(bytes)),
      "re-encoding from values differs",
    );
  });

  const gz = path.join(FIXTURES10, `${name}.vmstate.analyzer-state.json.gz`);
  if (fs.existsSync(gz)) {
    test(`10.2 ${name}: dump equals QEMU 10.2's analyze-migration.py -d state`, () => {
      const bytes = bytesOf(name);
      const ours = dumpStateJson(new MemoryByteSource(bytes), decodeBytes(bytes));
      assert.equal(ours, gunzipSync(fs.readFileSync(gz)).toString("utf8").replace(/\n?$/, "\n"));
    });
  } else {
    test(`10.2 ${name}: QEMU 10.2's analyzer cannot read it (recorded why)`, () => {
      assert.ok(meta(name).analyzer.root_cause, "a stream without analyzer output must say why");
    });
  }
}

test("10.2: struct arrays whose last element has no index are one array (ich9_ahci ahci/dev: 6 ports)", () => {
  const d = decodeBytes(bytesOf("q35-devices"));
  let dev: VNode | undefined;
  walk(d.root, (n) => {
    if (n.kind === "array" && n.id.endsWith("/ahci/dev")) dev = n;
  });
  assert.ok(dev);
  assert.equal(dev.children!.length, 6);
  assert.deepEqual(
    dev.children!.map((c) => c.name),
    [0, 1, 2, 3, 4, 5].map((i) => `dev[${i}]`),
  );
  // the vmdesc really writes the last element without "index"
  const entries = d
    .vmdesc!.devices.find((x) => x.name.endsWith("ich9_ahci"))!
    .fields!.find((f) => f.name === "ahci")!
    .struct!.fields!.filter((f) => f.name === "dev");
  assert.deepEqual(
    entries.map((f) => f.index),
    [0, 1, 2, 3, 4, undefined],
  );
});

test("10.2: the guest pattern sits at 0x200000 of pc.ram and pc.bios equals the mapped-ram stream's", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10-"));
  try {
    const c = capture();
    const file = fixture10File("q35-devices.vmstate", dir);
    assert.equal(await runCli(["ram", file, "--extract", path.join(dir, "x")], c.io), 0, c.err());
    const ram = fs.readFileSync(path.join(dir, "x", "pc.ram.ram"));
    const pattern = fs.readFileSync(path.join(FIXTURES, "q35-devices.guest-pattern-64k.bin"));
    assert.ok(ram.subarray(0x200000, 0x200000 + pattern.length).equals(pattern));
    const probe = JSON.parse(fs.readFileSync(path.join(FIXTURES10, "q35-mapped-ram.vmstate.probe.json"), "utf8"));
    assert.equal(
      sha(fs.readFileSync(path.join(dir, "x", "pc.bios.ram"))),
      probe.ram_blocks["pc.bios"].sha256,
      "the same SeaBIOS through page records and through mapped-ram",
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const mr of ["q35-mapped-ram", "q35-multifd-mapped-ram"])
  test(`10.2 ${mr}: ram --extract reads every present page at its file offset (independent probe), from a sparse file`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10-"));
    try {
      const file = fixture10File(`${mr}.vmstate`, dir);
      assert.ok(fs.statSync(file).blocks * 512 < fs.statSync(file).size / 10, "the fixture should be sparse on disk");
      const c = capture();
      assert.equal(await runCli(["ram", file, "--extract", path.join(dir, "x")], c.io), 0, c.err());
      assert.equal(c.err(), "");
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, "x", "manifest.json"), "utf8")) as {
        block: string;
        size: number;
        sha256: string;
      }[];
      const probe = JSON.parse(fs.readFileSync(path.join(FIXTURES10, `${mr}.vmstate.probe.json`), "utf8")).ram_blocks;
      assert.deepEqual(
        manifest.map((x) => x.block),
        Object.keys(probe),
      );
      for (const mb of manifest) assert.equal(mb.sha256, probe[mb.block].sha256, mb.block);
      // present pages = the pages QEMU counted as "normal" (the rest were zero and not written)
      const present = Object.values(probe as Record<string, { present: number }>).reduce((n, b) => n + b.present, 0);
      assert.equal(present, meta(mr).query_migrate_final.ram.normal);
      assert.ok(present > 0);
      const fw = path.join(FIXTURES10, `${mr}.vmstate.firmware.json`);
      if (fs.existsSync(fw)) {
        // pc.bios is byte for byte the SeaBIOS image the source QEMU ran
        const bios = JSON.parse(fs.readFileSync(fw, "utf8"))["bios-256k.bin"];
        const ours = fs.readFileSync(path.join(dir, "x", "pc.bios.ram"));
        assert.equal(ours.length, bios.size);
        assert.equal(sha(ours), bios.sha256);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

test("10.2 mapped-ram: page runs carry file offsets, present pages select their bytes, zero pages are not written", () => {
  const bytes = bytesOf("q35-mapped-ram");
  const d = decodeBytes(bytes);
  const src = new MemoryByteSource(bytes);
  const probe = JSON.parse(
    fs.readFileSync(path.join(FIXTURES10, "q35-mapped-ram.vmstate.probe.json"), "utf8"),
  ).ram_blocks;
  for (const b of d.ramBlocks) {
    const h = meta("q35-mapped-ram").features.first_section.ram_blocks.find(
      (x: { idstr: string }) => x.idstr === b.name,
    ).mapped_ram_header;
    assert.equal(b.mapped?.pagesOffset, h.pages_offset);
    assert.equal(b.mapped?.bitmapOffset, h.bitmap_offset);
    assert.equal(b.mapped?.present, probe[b.name].present, b.name);
  }
  const runs: VNode[] = [];
  walk(d.root, (n) => void (n.lazy === "mapped-pages" && runs.push(n)));
  const bios = runs.filter((r) => r.info!.block === "pc.bios");
  const pagesOffset = d.ramBlocks.find((b) => b.name === "pc.bios")!.mapped!.pagesOffset;
  // the runs tile the block's pages region
  assert.equal(bios[0]!.span.start, pagesOffset);
  assert.equal(bios.at(-1)!.span.end, pagesOffset + 0x40000);
  let present = 0;
  let zero = 0;
  const h = createHash("sha256");
  for (const run of bios) {
    assert.match(run.detail!, /file 0x/);
    for (const p of expandNode(src, run, d.pageSize)) {
      assert.equal(p.span.start, pagesOffset + p.info!.addr!, "a page sits at pages_offset + addr");
      if (p.info!.pageKind === "page") {
        present++;
        assert.deepEqual(p.valueSpan, p.span);
        h.update(src.read(p.span.start, p.span.end - p.span.start));
      } else {
        zero++;
        assert.match(p.detail!, /not written/);
        h.update(new Uint8Array(d.pageSize));
      }
    }
  }
  assert.equal(present, probe["pc.bios"].present);
  assert.equal(present + zero, 64);
  assert.equal(h.digest("hex"), probe["pc.bios"].sha256);
});

test("10.2 mapped-ram: a file cut inside the pages region gives an error naming the unreadable pages, and ram --extract fails", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10-"));
  try {
    const bytes = bytesOf("q35-mapped-ram");
    const d0 = decodeBytes(bytes);
    const bios = d0.ramBlocks.find((b) => b.name === "pc.bios")!.mapped!;
    // cut in the middle of pc.bios's pages: some present pages lie past the end
    const cut = bios.pagesOffset + 0x20000;
    const d = decodeBytes(bytes.subarray(0, cut));
    const err = d.diagnostics.find((x) => x.code === "ram-mapped-unreadable");
    assert.ok(err, JSON.stringify(d.diagnostics.map((x) => x.code)));
    assert.equal(err.severity, "error");
    assert.match(err.message, /pc\.bios.*cannot be read/);
    const file = path.join(dir, "cut.vmstate");
    const fd = fs.openSync(file, "w");
    const whole = fixture10File("q35-mapped-ram.vmstate", dir);
    const src = FileByteSource.open(whole);
    try {
      for (let p = 0; p < cut; p += 1 << 20) {
        const b = src.read(p, Math.min(1 << 20, cut - p));
        if (b.some((x) => x !== 0)) fs.writeSync(fd, b, 0, b.length, p);
      }
      fs.ftruncateSync(fd, cut);
    } finally {
      src.close();
      fs.closeSync(fd);
    }
    const c = capture();
    assert.equal(await runCli(["ram", file, "--extract", path.join(dir, "x")], c.io), 1);
    assert.match(c.err(), /pc\.bios.*cannot be read.*not zero/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("10.2 multifd socket: a warning that the pages went over the other channels, with the captured channel files counted", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10-"));
  try {
    const file = fixture10File("q35-multifd-socket.vmstate", dir);
    const c0 = capture();
    await runCli(["inspect", "--json", file], c0.io);
    const alone = JSON.parse(c0.out()).diagnostics.find((x: { code: string }) => x.code === "multifd-pages-elsewhere");
    assert.equal(alone.severity, "warning");
    assert.match(alone.message, /not in this file.*not known/);
    const x = capture();
    assert.equal(
      await runCli(["ram", file, "--extract", path.join(dir, "x")], x.io),
      1,
      "extracting RAM that is not in the file must fail",
    );
    assert.match(x.err(), /not in this file.*no FILE\.channelN captures/);
    fixture10File("q35-multifd-socket.vmstate.channel1", dir);
    fixture10File("q35-multifd-socket.vmstate.channel2", dir);
    const c = capture();
    assert.equal(await runCli(["inspect", "--json", file], c.io), 0);
    const diag = JSON.parse(c.out()).diagnostics.find((x: { code: string }) => x.code === "multifd-pages-elsewhere");
    assert.match(
      diag.message,
      /2 other channels captured next to it: q35-multifd-socket\.vmstate\.channel1 \(channel id 0: 45 pages \+ 16404 zero pages\), q35-multifd-socket\.vmstate\.channel2 \(channel id 1: 4 pages \+ 16445 zero pages\)/,
    );
    // the MultiFD packets' page counts are what QEMU counted: normal and zero ("duplicate") pages
    const ram = meta("q35-multifd-socket").query_migrate_final.ram;
    assert.equal(45 + 4, ram.normal);
    assert.equal(16404 + 16445, ram.duplicate);
    // with the channels next to it, ram --extract takes the pages from their packets
    const y = capture();
    assert.equal(await runCli(["ram", file, "--extract", path.join(dir, "y")], y.io), 0, y.err());
    const probe = JSON.parse(
      fs.readFileSync(path.join(FIXTURES10, "q35-mapped-ram.vmstate.probe.json"), "utf8"),
    ).ram_blocks;
    assert.equal(
      sha(fs.readFileSync(path.join(dir, "y", "pc.bios.ram"))),
      probe["pc.bios"].sha256,
      "the same SeaBIOS as the mapped-ram stream of the same QEMU",
    );
    // a channel capture cut short: extraction fails instead of leaving zeros
    const ch2 = path.join(dir, "q35-multifd-socket.vmstate.channel2");
    fs.truncateSync(ch2, fs.statSync(ch2).size - 100);
    const z = capture();
    assert.equal(await runCli(["ram", file, "--extract", path.join(dir, "z")], z.io), 1);
    assert.match(z.err(), /channel2: the capture ends inside the packet/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("10.2: inspect lists COMMAND records in stream order (text and --json)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10-"));
  try {
    const file = fixture10File("q35-postcopy-advise.vmstate", dir);
    const j = capture();
    assert.equal(await runCli(["inspect", "--json", file], j.io), 0);
    const cmds = JSON.parse(j.out()).commands;
    assert.deepEqual(
      cmds.map((c: { name: string; cmd: number }) => [c.name, c.cmd]),
      [
        ["OPEN_RETURN_PATH", 1],
        ["PING", 2],
        ["POSTCOPY_ADVISE", 3],
        ["SWITCHOVER_START", 11],
      ],
    );
    assert.deepEqual(Object.keys(cmds[0]), ["name", "cmd", "offset", "end"]);
    assert.deepEqual(
      cmds.map((c: { offset: number; end: number }) => c.end - c.offset),
      [5, 9, 21, 5],
    );
    const t = capture();
    assert.equal(await runCli(["inspect", file], t.io), 0);
    const lines = t.out().split("\n");
    const i = (re: RegExp) => lines.findIndex((l) => re.test(l));
    assert.ok(i(/CMD +1 OPEN_RETURN_PATH/) < i(/CMD +2 PING 1$/));
    assert.ok(i(/CMD +2 PING 1$/) < i(/CMD +3 POSTCOPY_ADVISE \(page size summary 0x1000, target page size 4096\)/));
    assert.ok(i(/CMD +3 POSTCOPY_ADVISE/) < i(/START +1 ram/));
    assert.ok(i(/PART +1 ram/) < i(/CMD +11 SWITCHOVER_START/));
    assert.ok(i(/CMD +11 SWITCHOVER_START/) < i(/END +1 ram/));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("10.2: COMMAND nodes carry their decoded arguments", () => {
  const d = decodeBytes(bytesOf("q35-postcopy-advise"));
  const cmds = d.root.children!.filter((n) => n.kind === "command");
  assert.deepEqual(
    cmds.map((n) => n.name),
    ["MIG_CMD_OPEN_RETURN_PATH", "MIG_CMD_PING", "MIG_CMD_POSTCOPY_ADVISE", "MIG_CMD_SWITCHOVER_START"],
  );
  const ping = cmds[1]!.children!.find((c) => c.name === "value")!;
  assert.equal(ping.value, 1);
  const advise = cmds[2]!;
  assert.equal(advise.children!.find((c) => c.name === "ram_pagesize_summary")!.value, 0x1000n);
  assert.equal(advise.children!.find((c) => c.name === "target_page_size")!.value, 4096n);
  assert.deepEqual(d.commands[2]!.args, { ram_pagesize_summary: 4096, target_page_size: 4096 });
});

test("10.2 mapped-ram in the editor's index: an offset inside the pages region reveals its page; a page's details select its 4 KiB", () => {
  const bytes = bytesOf("q35-mapped-ram");
  const idx = new StreamIndex(new MemoryByteSource(bytes));
  const bios = idx.decoded.ramBlocks.find((b) => b.name === "pc.bios")!.mapped!;
  // the first present page of pc.bios
  let firstPresent = -1;
  for (let i = 0; i < bios.pages && firstPresent < 0; i++)
    if ((bytes[bios.bitmapOffset + (i >> 3)]! >> (i & 7)) & 1) firstPresent = i;
  const at = bios.pagesOffset + firstPresent * 4096 + 123;
  const t = idx.nodeAt(at)!;
  assert.equal(t.node.start, bios.pagesOffset + firstPresent * 4096);
  assert.equal(t.node.end, t.node.start + 4096);
  assert.match(t.node.name, new RegExp(`^0x${(firstPresent * 4096).toString(16)}$`));
  const det = idx.details(t.node.id)!;
  assert.equal(det.node.start, t.node.start);
  assert.equal(det.node.end, t.node.end);
  // a hole (a zero page that was not written) is a page too, shown as such
  let firstAbsent = -1;
  for (let i = 0; i < bios.pages && firstAbsent < 0; i++)
    if (!((bytes[bios.bitmapOffset + (i >> 3)]! >> (i & 7)) & 1)) firstAbsent = i;
  const hole = idx.nodeAt(bios.pagesOffset + firstAbsent * 4096)!;
  assert.match(hole.node.detail ?? "", /not written/);
});

test("10.2 mapped-ram: rewrite of the sparse file is byte-identical and stays sparse", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10-"));
  try {
    const file = fixture10File("q35-mapped-ram.vmstate", dir);
    const out = path.join(dir, "out.vmstate");
    const c = capture();
    assert.equal(await runCli(["rewrite", file, "-o", out], c.io), 0, c.err());
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(file)));
    const st = fs.statSync(out);
    assert.ok(st.blocks * 512 < st.size / 10, `the copy uses ${st.blocks * 512} bytes on disk for ${st.size}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The postcopy layout (savevm.c postcopy_start), built by hand for the edge cases around it; the
// real QEMU 10.2 postcopy stream is tested above when its fixture is present.
test("postcopy layout: DISCARD ranges, PACKAGED with its nested commands, no vmdesc: device state dumps as hex and an info says why", () => {
  const inner = new StreamBuilder()
    .u8(8)
    .u16(4)
    .u16(0) // POSTCOPY_LISTEN
    .fullHeader(5, "timer", 0, 2)
    .u64(0x1122334455667788n)
    .footer(5)
    .u8(8)
    .u16(2)
    .u16(4)
    .u32(3) // PING 3
    .u8(8)
    .u16(5)
    .u16(0) // POSTCOPY_RUN
    .eof()
    .build();
  const b = new StreamBuilder()
    .header()
    .configuration("pc-q35-10.2")
    .u8(8)
    .u16(1)
    .u16(0) // OPEN_RETURN_PATH
    .u8(8)
    .u16(2)
    .u16(4)
    .u32(1) // PING 1
    .u8(8)
    .u16(3)
    .u16(16)
    .u64(0x1000)
    .u64(0x1000) // POSTCOPY_ADVISE
    .u8(8)
    .u16(6)
    .u16(3 + 6 + 32)
    .u8(0)
    .counted("pc.ram")
    .u8(0)
    .u64(0x1000)
    .u64(0x2000)
    .u64(0x8000)
    .u64(0x1000) // RAM_DISCARD
    .u8(8)
    .u16(7)
    .u16(4)
    .u32(inner.length)
    .bytes(inner) // PACKAGED
    .u8(8)
    .u16(2)
    .u16(4)
    .u32(4) // PING 4
    .eof();
  const d = decodeBytes(b.build());
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
  assert.deepEqual(
    d.commands.map((c) => [c.name, c.depth]),
    [
      ["OPEN_RETURN_PATH", 0],
      ["PING", 0],
      ["POSTCOPY_ADVISE", 0],
      ["POSTCOPY_RAM_DISCARD", 0],
      ["PACKAGED", 0],
      ["POSTCOPY_LISTEN", 1],
      ["PING", 1],
      ["POSTCOPY_RUN", 1],
      ["PING", 0],
    ],
  );
  assert.deepEqual(d.commands[3]!.args, { block: "pc.ram", ranges: 2, bytes: 0x3000 });
  const pkg = d.commands[4]!;
  assert.equal(pkg.end - pkg.offset, 9 + inner.length);
  const info = d.diagnostics.find((x) => x.code === "no-vmdesc")!;
  assert.match(info.message, /postcopy.*PACKAGED.*raw bytes/);
  const dump = dumpStateJson(new MemoryByteSource(b.build()), d);
  assert.match(dump, /"timer \(5\)": "11 22 33 44 55 66 77 88"/);
  assert.deepEqual(checkSpans(d.root), []);
});

test("10.2 q35-postcopy-run (a real postcopy switch): DISCARDs, PACKAGED with the device state and its commands, PING 4, pages, no vmdesc; dump shows the device sections as hex", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10-"));
  try {
    const file = fixture10File("q35-postcopy-run.vmstate", dir);
    const d = decodeBytes(bytesOf("q35-postcopy-run"));
    const names = d.commands.map((c) => `${"  ".repeat(c.depth)}${c.name}`);
    const pk = names.indexOf("PACKAGED");
    assert.ok(pk > 0);
    assert.deepEqual(names.slice(0, 3), ["OPEN_RETURN_PATH", "PING", "POSTCOPY_ADVISE"]);
    assert.ok(names.slice(3, pk).includes("POSTCOPY_RAM_DISCARD"));
    assert.deepEqual(names.slice(pk + 1, pk + 2), ["  POSTCOPY_LISTEN"]);
    assert.deepEqual(names.slice(-2), ["  POSTCOPY_RUN", "PING"]);
    assert.equal(d.commands.at(-1)!.args!.value, 4);
    const discard = d.commands.find((c) => c.name === "POSTCOPY_RAM_DISCARD")!;
    assert.equal(discard.args!.block, "pc.ram");
    // the device state is inside PACKAGED, each section raw (no vmdesc), found by its footer
    const pkg = d.commands[pk]!;
    const inside = d.sections.filter((s) => s.offset > pkg.offset && s.end <= pkg.end);
    assert.ok(inside.length > 20, `${inside.length} sections inside PACKAGED`);
    assert.ok(inside.some((s) => s.name === "cpu"));
    const j = capture();
    assert.equal(await runCli(["inspect", "--json", file], j.io), 0, j.err());
    const listed = JSON.parse(j.out()).commands as { name: string; offset: number }[];
    assert.deepEqual(
      listed.map((c) => c.name),
      d.commands.map((c) => c.name),
    );
    assert.deepEqual(
      listed.map((c) => c.offset),
      [...listed.map((c) => c.offset)].sort((a, b) => a - b),
      "in stream order",
    );
    const dump = capture();
    assert.equal(await runCli(["dump", file], dump.io), 0, dump.err());
    const state = JSON.parse(dump.out()) as Record<string, unknown>;
    const cpu = Object.entries(state).find(([k]) => k.startsWith("cpu ("))!;
    assert.match(String(cpu[1]), /^[0-9a-f]{2}( [0-9a-f]{2})+$/);
    assert.ok(!Object.values(state).includes(""), "no section dumps as an empty string");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("10.2 q35-background-snapshot: RAM START/PARTs, then the device state, no ram END and no SWITCHOVER_START", () => {
  const d = decodeBytes(bytesOf("q35-background-snapshot"));
  const ram = d.sections.filter((s) => s.name === "ram");
  assert.deepEqual([...new Set(ram.map((s) => s.kind))], ["start", "part"]);
  const lastRam = ram.at(-1)!;
  assert.ok(
    d.sections.filter((s) => s.name !== "ram").every((s) => s.offset >= lastRam.end),
    "device state after the RAM pages",
  );
  assert.deepEqual(d.commands, []);
});

test("10.2 machine types: pc-q35-7.2 and 9.2 on QEMU 10.2 have no SWITCHOVER_START, 10.2 has one", () => {
  for (const [name, n] of [
    ["q35-machine-7.2", 0],
    ["q35-machine-9.2", 0],
    ["q35-machine-10.2-twin", 1],
  ] as const) {
    const d = decodeBytes(bytesOf(name));
    assert.equal(d.commands.filter((c) => c.name === "SWITCHOVER_START").length, n, name);
    assert.equal(d.machineType, name === "q35-machine-10.2-twin" ? "pc-q35-10.2" : `pc-q35-${name.slice(-3)}`);
  }
});

test("10.2 pc-devices: the pc struct arrays QEMU 10 writes without a last index are whole lists", () => {
  const d = decodeBytes(bytesOf("pc-devices"));
  const arrays: string[] = [];
  for (const sec of d.root.children!.filter((n) => n.kind === "section")) {
    walk(sec, (n) => void (n.kind === "array" && arrays.push(`${sec.name}:${n.name}:${n.children!.length}`)));
  }
  for (const want of [
    "0000:00:01.1/ide:bmdma:2",
    "0000:00:01.1/ide:bus:2",
    "0000:00:01.1/ide:bus[0].ifs:2",
    "0000:00:01.1/ide:bus[1].ifs:2",
    "0000:00:01.3/piix4_pm:acpi_pci_hotplug.acpi_pcihp_pci_status:256",
    "fdc:drives:2",
  ]) {
    assert.ok(
      arrays.includes(want),
      `${want} not in ${arrays.filter((a) => a.startsWith(want.split(":")[0]!)).join(", ")}`,
    );
  }
});
