// Crafted hostile inputs (issue 8, part 2): each reproducer of the security review, built here from
// synthetic bytes. Every one must give a clear diagnostic or message, exit 0/1/2, run in seconds,
// stay in bounded memory, write only inside the target folder and print names escaped.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { formatCheckReport, formatHelperList } from "../../src/bus/report";
import type { BusHelper } from "../../src/bus/client";
import { runCli } from "../../src/cli/commands";
import { StreamIndex } from "../../src/editor/streamIndex";
import { decodeStream, encodeStream } from "../../src/format";
import { dumpStateJson } from "../../src/format/dump";
import { escapeControls, jsonForTerminal } from "../../src/format/escape";
import { safeHelperFileNames } from "../../src/format/helperFiles";
import { arrayLimits } from "../../src/format/vmsd";
import { FileByteSource } from "../../src/io/fileSource";
import { MemoryByteSource } from "../../src/io/memorySource";
import { checkSpans, codes, cpuMs, decodeBytes, fuzzRuns, ROOT } from "./helpers";
import { dbusData, dbusStream, StreamBuilder } from "./streamBuilder";

const CLI = path.join(ROOT, "dist/cli.js");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-hostile-"));

function capture() {
  let out = "";
  let err = "";
  return {
    io: { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s) },
    out: () => out,
    err: () => err,
  };
}

/** Runs the built CLI in a child process; reports its exit status, output, peak RSS (Linux) and time. */
function cliChild(args: string[], timeoutMs = 60_000) {
  const dir = tmp();
  const hwm = path.join(dir, "hwm.js");
  fs.writeFileSync(
    hwm,
    `process.on("exit", () => { const c = process.cpuUsage(); process.stderr.write("\\nCPU_US " + (c.user + c.system) + "\\n"); try { const m = /VmHWM:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/self/status", "utf8")); if (m) process.stderr.write("HWM_KB " + m[1] + "\\n"); } catch {} });\n`,
  );
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["-r", hwm, CLI, ...args], {
    encoding: "utf8",
    timeout: timeoutMs,
    maxBuffer: 512 * 1024 * 1024,
  });
  const ms = Date.now() - t0;
  fs.rmSync(dir, { recursive: true, force: true });
  const m = /HWM_KB (\d+)/.exec(r.stderr ?? "");
  const cpu = /CPU_US (\d+)/.exec(r.stderr ?? "");
  // CPU time, not wall time: the test machine may be shared and loaded
  return {
    code: r.status,
    out: r.stdout ?? "",
    err: (r.stderr ?? "").replace(/\nCPU_US \d+\n(HWM_KB \d+\n)?/, ""),
    rssMB: m ? Number(m[1]) / 1024 : undefined,
    ms: cpu ? Number(cpu[1]) / 1000 : ms,
  };
}

const noStack = (s: string) => assert.doesNotMatch(s, /internal error|    at .*\.js:\d+/);

/** A stream whose RAM section declares `blocks`, with optional PAGE records (addr, fill byte). */
function ramStream(
  blocks: { name: string; used: number | bigint }[],
  pages: { block: string; addr: number; fill: number }[] = [],
): Uint8Array {
  const total = blocks.reduce((t, b) => t + BigInt(b.used), 0n);
  const b = new StreamBuilder().header().startHeader(1, "ram", 0, 4);
  b.u64((total & ~0xfffn) | 4n);
  if (total & 0xfffn) throw new Error("total must be page aligned in this builder");
  for (const x of blocks) b.counted(x.name).u64(x.used);
  let last = "";
  for (const p of pages) {
    const cont = p.block === last ? 0x20 : 0;
    b.u64(BigInt(p.addr) | 0x08n | BigInt(cont));
    if (!cont) b.counted(p.block);
    b.bytes(new Uint8Array(4096).fill(p.fill));
    last = p.block;
  }
  b.u64(0x10).footer(1).eof();
  return b.build();
}

function writeTmp(dir: string, name: string, bytes: Uint8Array): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
}

// ---------------------------------------------------------------- helpers: linear time

test('20,000 helpers all named "a": docInfo and helpers --extract take well under a few seconds', async (t) => {
  const entries = Array.from({ length: 20_000 }, () => ({ id: "a", blob: Uint8Array.of(1) }));
  const bytes = dbusStream(dbusData(entries));
  let t0 = process.cpuUsage();
  const idx = new StreamIndex(new MemoryByteSource(bytes));
  const info = idx.docInfo("x.vmstate", "file:///x.vmstate");
  const docMs = cpuMs(t0);
  assert.equal(info.helpers.length, 20_000);
  // every duplicate is reported on its own entry, not in the list-level diagnostics
  assert.equal(info.helpers[1]!.diagnostics.filter((d) => d.code === "dbus-id-duplicate").length, 1);
  // beyond the first 1,000, repeats are summed up once, at the list level
  assert.deepEqual(
    info.helperListDiagnostics.filter((d) => d.code === "dbus-id-duplicate").map((d) => /^\d+ more/.test(d.message)),
    [true],
  );
  t.diagnostic(`decode + docInfo: ${Math.round(docMs)} ms CPU`);
  assert.ok(docMs < 5000, `docInfo took ${docMs} ms`);
  const dir = tmp();
  try {
    const file = writeTmp(dir, "many.vmstate", bytes);
    const c = capture();
    t0 = process.cpuUsage();
    assert.equal(await runCli(["helpers", file, "--extract", path.join(dir, "out")], c.io), 1); // duplicates are errors
    const exMs = cpuMs(t0);
    t.diagnostic(`helpers --extract: ${Math.round(exMs)} ms CPU`);
    assert.ok(exMs < 10_000, `extract took ${exMs} ms`);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "out/manifest.json"), "utf8")) as { file: string }[];
    assert.equal(new Set(manifest.map((m) => m.file)).size, 20_000);
    assert.equal(manifest[19_999]!.file, "a~20000.bin");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("220,000 empty Ids decode, index and name files in linear time", (t) => {
  const n = 220_000;
  // (an empty Id with an empty blob is 8 zero bytes: the padding; these carry one byte each)
  const data = new StreamBuilder().u32(n);
  for (let i = 0; i < n; i++) data.u32(0).u32(1).u8(1);
  const bytes = dbusStream(data.build());
  const t0 = process.cpuUsage();
  const idx = new StreamIndex(new MemoryByteSource(bytes));
  const info = idx.docInfo("x", "file:///x");
  const names = safeHelperFileNames(idx.decoded.helpers.map((h) => h.id));
  const ms = cpuMs(t0);
  // 4 nodes per entry: the node budget (context.ts NODE_BUDGET) stops the decode with an error
  assert.ok(codes(idx.decoded).includes("too-many-nodes"));
  assert.ok(info.helpers.length > 60_000, String(info.helpers.length));
  assert.equal(new Set(names.map((x) => x.toLowerCase())).size, names.length);
  t.diagnostic(`${info.helpers.length} helpers decoded, indexed and named: ${Math.round(ms)} ms CPU`);
  assert.ok(ms < 15_000, `${ms} ms`);
});

test("one helper with a 200 KB Id: a short safe file name, at once", async () => {
  const id = "\u00e9x".repeat(100_000);
  const t0 = process.cpuUsage();
  const [name] = safeHelperFileNames([id]);
  assert.ok(cpuMs(t0) < 500);
  assert.ok(Buffer.byteLength(name!) <= 190, name);
  assert.ok(name!.endsWith(".bin") && name!.startsWith("\u00e9x\u00e9x"));
  assert.doesNotMatch(name!, /\uFFFD/);
  const dir = tmp();
  try {
    const file = writeTmp(dir, "long.vmstate", dbusStream(dbusData([{ id, blob: Uint8Array.of(7) }])));
    const c = capture();
    const t1 = process.cpuUsage();
    await runCli(["helpers", file, "--extract", path.join(dir, "out")], c.io);
    assert.ok(cpuMs(t1) < 3000);
    assert.deepEqual(fs.readdirSync(path.join(dir, "out")).sort(), ["manifest.json", name!].sort());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("safeHelperFileNames: 100,000 duplicates and names colliding with generated ones stay unique", () => {
  const ids = [...Array.from({ length: 100_000 }, () => "x"), "x~2", "X", "x~3"];
  const t0 = process.cpuUsage();
  const names = safeHelperFileNames(ids);
  assert.ok(cpuMs(t0) < 2000);
  assert.equal(new Set(names.map((n) => n.toLowerCase())).size, ids.length);
});

// ---------------------------------------------------------------- ram --extract

test("ram --extract: blocks larger than the file could hold are refused, not written (2 GB, 1 TiB, 2^62)", async (t) => {
  for (const used of [0x7ff00000, 2 ** 40, 2n ** 62n]) {
    const dir = tmp();
    try {
      const file = writeTmp(dir, "big.vmstate", ramStream([{ name: "pc.ram", used }]));
      const r = cliChild(["ram", file, "--extract", path.join(dir, "out")]);
      assert.equal(r.code, 1, r.err);
      noStack(r.err);
      assert.match(r.err, /pc\.ram.*(more than the \d+-byte stream can hold|impossible size|beyond any guest)/);
      t.diagnostic(`${used}: exit ${r.code}, ${Math.round(r.ms)} ms CPU, peak ${Math.round(r.rssMB ?? 0)} MB`);
      assert.ok(r.ms < 10_000, `${r.ms} ms`);
      assert.deepEqual(fs.readdirSync(path.join(dir, "out")), ["manifest.json"]);
      const m = JSON.parse(fs.readFileSync(path.join(dir, "out/manifest.json"), "utf8"));
      assert.ok(m[0].skipped);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("ram --extract: 3,000 zero-length blocks need no more than one open file", async () => {
  const dir = tmp();
  try {
    const blocks = [
      ...Array.from({ length: 3000 }, (_, i) => ({ name: `b${i}`, used: 0 })),
      { name: "pc.ram", used: 4096 },
    ];
    const file = writeTmp(dir, "many.vmstate", ramStream(blocks));
    // a low descriptor limit proves files are not all open at once
    const r = spawnSync(
      "sh",
      ["-c", `ulimit -n 64 && exec "${process.execPath}" "${CLI}" ram "${file}" --extract "${path.join(dir, "out")}"`],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readdirSync(path.join(dir, "out")).length, 3002);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("ram --extract: two blocks named pc.ram get a diagnostic, distinct files and their own hashes", async () => {
  const dir = tmp();
  try {
    const file = writeTmp(
      dir,
      "dup.vmstate",
      ramStream(
        [
          { name: "pc.ram", used: 8192 },
          { name: "pc.ram", used: 4096 },
        ],
        [{ block: "pc.ram", addr: 4096, fill: 0xab }],
      ),
    );
    assert.ok(codes(decodeBytes(fs.readFileSync(file))).includes("ram-block-duplicate"));
    const c = capture();
    assert.equal(await runCli(["ram", file, "--extract", path.join(dir, "out")], c.io), 1);
    assert.match(c.err(), /declared twice/);
    const m = JSON.parse(fs.readFileSync(path.join(dir, "out/manifest.json"), "utf8")) as {
      file: string;
      sha256: string;
      size: number;
    }[];
    assert.deepEqual(
      m.map((x) => x.file),
      ["pc.ram.ram", "pc.ram~2.ram"],
    );
    for (const x of m) {
      const data = fs.readFileSync(path.join(dir, "out", x.file));
      assert.equal(data.length, x.size);
      assert.equal(createHash("sha256").update(data).digest("hex"), x.sha256, x.file);
    }
    assert.equal(fs.readFileSync(path.join(dir, "out/pc.ram.ram"))[4096], 0xab);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("--extract DIR never follows symlinks already in DIR (manifest.json, block and blob files)", async () => {
  const dir = tmp();
  try {
    const outside = path.join(dir, "outside");
    fs.writeFileSync(outside, "precious\n");
    const out = path.join(dir, "out");
    fs.mkdirSync(out);
    fs.symlinkSync(outside, path.join(out, "manifest.json"));
    fs.symlinkSync(outside, path.join(out, "pc.ram.ram"));
    fs.symlinkSync(outside, path.join(out, "slirp.bin"));
    const ram = writeTmp(
      dir,
      "r.vmstate",
      ramStream([{ name: "pc.ram", used: 8192 }], [{ block: "pc.ram", addr: 0, fill: 1 }]),
    );
    assert.equal(await runCli(["ram", ram, "--extract", out], capture().io), 0);
    const helpers = writeTmp(dir, "h.vmstate", dbusStream(dbusData([{ id: "slirp", blob: Uint8Array.of(1, 2, 3) }])));
    assert.equal(await runCli(["helpers", helpers, "--extract", out], capture().io), 0);
    assert.equal(fs.readFileSync(outside, "utf8"), "precious\n");
    for (const f of ["manifest.json", "pc.ram.ram", "slirp.bin"])
      assert.ok(fs.lstatSync(path.join(out, f)).isFile(), f);
    assert.deepEqual([...fs.readFileSync(path.join(out, "slirp.bin"))], [1, 2, 3]);
    assert.deepEqual(
      fs.readdirSync(out).filter((f) => f.endsWith(".tmp")),
      [],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- many tiny sections

function tinySections(n: number, footers: boolean): Uint8Array {
  const b = new StreamBuilder().header();
  for (let i = 1; i <= n; i++) {
    b.fullHeader(i, "x", 0, 1).bytes([1, 2, 3]);
    if (footers) b.footer(i);
  }
  return b.eof().build();
}

for (const footers of [true, false]) {
  test(`~1 MB of tiny sections without a vmdesc (${footers ? "footers" : "no footers"}): linear time and memory`, (t) => {
    const bytes = tinySections(50_000, footers);
    assert.ok(bytes.length > 900_000);
    const dir = tmp();
    try {
      const file = writeTmp(dir, "tiny.vmstate", bytes);
      const t0 = process.cpuUsage();
      const src = FileByteSource.open(file);
      const d = decodeStream(src);
      src.close();
      const ms = cpuMs(t0);
      // 7 to 10 nodes per section: the node budget may stop the decode with an error (bounded memory)
      assert.ok(
        d.sections.length === 50_000 || (d.sections.length > 25_000 && codes(d).includes("too-many-nodes")),
        String(d.sections.length),
      );
      assert.ok(ms < 5000, `${ms} ms`);
      const r = cliChild(["inspect", file]);
      assert.ok(r.code === 0 || r.code === 1, r.err);
      t.diagnostic(
        `decode ${Math.round(ms)} ms CPU (${d.sections.length} sections); inspect: ${Math.round(r.ms)} ms CPU, peak ${Math.round(r.rssMB ?? 0)} MB`,
      );
      if (r.rssMB !== undefined) assert.ok(r.rssMB < 300, `peak RSS ${r.rssMB} MB`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// ---------------------------------------------------------------- memory: huge primitive arrays

function deviceStream(payload: Uint8Array, fields: unknown[], extra: Record<string, unknown> = {}): Uint8Array {
  return new StreamBuilder()
    .header()
    .fullHeader(1, "big", 0, 1)
    .bytes(payload)
    .footer(1)
    .eof()
    .vmdesc({
      page_size: 4096,
      devices: [{ name: "big", instance_id: 0, vmsd_name: "big", version: 1, fields, ...extra }],
    })
    .build();
}

test("uint8 array_len 1,900,000: inspect, dump and rewrite stay under 300 MB and dump lists every element", (t) => {
  const n = 1_900_000;
  const payload = Uint8Array.from({ length: n }, (_, i) => i & 0xff);
  const bytes = deviceStream(payload, [{ name: "x", type: "uint8", size: 1, array_len: n }]);
  const d = decodeBytes(bytes);
  assert.ok(d.root.children!.length < 20);
  let nodes = 0;
  const walk = (v: { children?: unknown[] }) => {
    nodes++;
    for (const c of (v.children ?? []) as { children?: unknown[] }[]) walk(c);
  };
  walk(d.root);
  assert.ok(nodes < 100, `${nodes} nodes`);
  const dir = tmp();
  try {
    const file = writeTmp(dir, "arr.vmstate", bytes);
    for (const args of [
      ["inspect", file],
      ["dump", file],
      ["rewrite", file, "-o", path.join(dir, "copy.vmstate")],
    ]) {
      const r = cliChild(args);
      assert.equal(r.code, 0, `${args[0]}: ${r.err}`);
      t.diagnostic(`${args[0]}: ${Math.round(r.ms)} ms CPU, peak ${Math.round(r.rssMB ?? 0)} MB`);
      if (r.rssMB !== undefined) assert.ok(r.rssMB < 300, `${args[0]}: peak RSS ${r.rssMB} MB`);
      assert.ok(r.ms < 30_000, `${args[0]}: ${r.ms} ms`);
      if (args[0] === "dump") {
        const j = JSON.parse(r.out) as Record<string, { x: string[] }>;
        const x = j["big (1)"]!.x;
        assert.equal(x.length, n);
        assert.equal(x[0], "0x00");
        assert.equal(x[n - 1], "0x" + ((n - 1) & 0xff).toString(16).padStart(2, "0"));
      }
    }
    assert.ok(fs.readFileSync(path.join(dir, "copy.vmstate")).equals(Buffer.from(bytes)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("raw array runs dump exactly like one node per element (real fixtures, limit lowered)", () => {
  const name = path.join(ROOT, "test/fixtures/q35-devices.vmstate");
  const bytes = new Uint8Array(fs.readFileSync(name));
  const src = new MemoryByteSource(bytes);
  const full = dumpStateJson(src, decodeBytes(bytes));
  const saved = arrayLimits.maxArrayNodes;
  arrayLimits.maxArrayNodes = 8;
  try {
    const d = decodeBytes(bytes);
    let raw = 0;
    const walk = (n: { info?: Record<string, unknown>; children?: unknown[] }) => {
      if (typeof n.info?.elements === "number") raw++;
      for (const c of (n.children ?? []) as (typeof n)[]) walk(c);
    };
    walk(d.root);
    assert.ok(raw > 10, `${raw} raw runs`);
    assert.equal(dumpStateJson(src, d), full);
  } finally {
    arrayLimits.maxArrayNodes = saved;
  }
});

// ---------------------------------------------------------------- depth and malformed vmdesc

test("vmdesc structs nested 1,100 deep: a diagnostic, the section raw, no stack overflow", () => {
  let f: Record<string, unknown> = { name: "leaf", type: "uint8", size: 1 };
  for (let i = 0; i < 1100; i++)
    f = { name: `s${i}`, type: "struct", size: 1, struct: { vmsd_name: `v${i}`, version: 1, fields: [f] } };
  const d = decodeBytes(deviceStream(Uint8Array.of(5), [f]));
  assert.ok(codes(d).includes("vmdesc-malformed"), codes(d).join());
  assert.match(d.diagnostics.find((x) => x.code === "vmdesc-malformed")!.message, /nested more than \d+/);
  assert.deepEqual(checkSpans(d.root), []);
});

test("PACKAGED nested 3,000 deep: an error diagnostic, no stack overflow", async () => {
  const depth = 3000;
  // innermost: an EOF; each level: 0x08, cmd 7, len 4, be32 length of what it packages
  let inner: Uint8Array = Uint8Array.of(0);
  for (let i = 0; i < depth; i++) {
    const b = new StreamBuilder().u8(0x08).u16(7).u16(4).u32(inner.length).bytes(inner);
    inner = b.build();
  }
  const bytes = new StreamBuilder().header().bytes(inner).eof().build();
  const d = decodeBytes(bytes);
  assert.ok(codes(d).includes("packaged-depth"), codes(d).join());
  const dir = tmp();
  try {
    const r = cliChild(["inspect", writeTmp(dir, "pk.vmstate", bytes)]);
    assert.equal(r.code, 1, r.err);
    noStack(r.out + r.err);
    assert.match(r.out, /nested \d+ deep/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("malformed vmdesc entries give diagnostics, not TypeErrors", () => {
  const cases: [string, unknown[], Record<string, unknown>?][] = [
    ["fields: [null]", [null]],
    ["a field whose type is an object", [{ name: "a", type: { evil: 1 }, size: 1 }]],
    ["a field whose name is a list", [{ name: [1], type: "uint8", size: 1 }]],
    ["subsections: [null]", [{ name: "a", type: "uint8", size: 1 }], { subsections: [null] }],
    ["subsections: 5", [{ name: "a", type: "uint8", size: 1 }], { subsections: 5 }],
    ["struct: null", [{ name: "a", type: "struct", size: 1, struct: null }]],
  ];
  for (const [what, fields, extra] of cases) {
    const d = decodeBytes(deviceStream(Uint8Array.of(1), fields, extra));
    assert.ok(codes(d).includes("vmdesc-malformed"), `${what}: ${codes(d).join()}`);
    assert.deepEqual(checkSpans(d.root), [], what);
  }
  // configuration.subsections = 5
  const b = new StreamBuilder()
    .header()
    .configuration()
    .eof()
    .vmdesc({ page_size: 4096, configuration: { vmsd_name: "configuration", subsections: 5 }, devices: [] })
    .build();
  assert.ok(codes(decodeBytes(b)).includes("vmdesc-malformed"));
});

// ---------------------------------------------------------------- output paths and exit codes

test("-o onto a directory, into a missing folder, onto a symlink: exit 2 with a message; nothing left behind", async () => {
  const dir = tmp();
  try {
    const file = writeTmp(dir, "s.vmstate", dbusStream(dbusData([{ id: "a", blob: Uint8Array.of(1) }])));
    fs.mkdirSync(path.join(dir, "adir"));
    const target = writeTmp(dir, "target", new TextEncoder().encode("keep\n"));
    fs.symlinkSync(target, path.join(dir, "link"));
    const cases: [string, RegExp][] = [
      [path.join(dir, "adir"), /is a directory/],
      [path.join(dir, "missing/dir/x"), /does not exist/],
      [path.join(dir, "link"), /symbolic link .*real path/],
    ];
    for (const [out, re] of cases) {
      const r = cliChild(["rewrite", file, "-o", out]);
      assert.equal(r.code, 2, `${out}: ${r.err}`);
      assert.match(r.err, re);
      noStack(r.err);
    }
    assert.equal(fs.readFileSync(target, "utf8"), "keep\n");
    assert.ok(fs.lstatSync(path.join(dir, "link")).isSymbolicLink());
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a full disk: exit 1 with ENOSPC, the temporary file removed (tmpfs; skipped without mount rights)", (t) => {
  const dir = tmp();
  try {
    const mnt = path.join(dir, "mnt");
    fs.mkdirSync(mnt);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], { encoding: "utf8" });
    if (m.status !== 0) {
      t.skip(`cannot mount a small tmpfs here (${(m.stderr || m.error?.message || "").trim()})`);
      return;
    }
    try {
      const file = writeTmp(
        dir,
        "s.vmstate",
        dbusStream(dbusData([{ id: "a", blob: new Uint8Array(200_000).fill(1) }])),
      );
      const r = cliChild(["rewrite", file, "-o", path.join(mnt, "out.vmstate")]);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /ENOSPC \(no space left on device\)/);
      noStack(r.err);
      assert.deepEqual(fs.readdirSync(mnt), []);
    } finally {
      spawnSync("umount", [mnt]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- dbus-vmstate data_size

test("data_size that disagrees with the vmdesc is an error; set-field data_size is refused without --force", async () => {
  const dir = tmp();
  try {
    const file = writeTmp(
      dir,
      "s.vmstate",
      dbusStream(dbusData([{ id: "a", blob: Uint8Array.of(1, 2) }], { padTo: 64 })),
    );
    const out = path.join(dir, "out.vmstate");
    const setDataSize = (value: string, io: ReturnType<typeof capture>["io"], ...more: string[]) =>
      runCli(
        [
          "set-field",
          file,
          "--section",
          "dbus-vmstate/dbus-vmstate",
          "--field",
          "data_size",
          "--value",
          value,
          "-o",
          out,
          ...more,
        ],
        io,
      );
    const c = capture();
    assert.equal(await setDataSize("5", c.io), 1);
    assert.match(c.err(), /refusing to write dbus-vmstate data_size 5 while the data is 64 bytes/);
    assert.ok(!fs.existsSync(out));
    // the same value is no problem
    assert.equal(await setDataSize("64", capture().io), 0);
    const f = capture();
    assert.equal(await setDataSize("5", f.io, "--force"), 0);
    const d = decodeBytes(fs.readFileSync(out));
    const e = d.diagnostics.find((x) => x.code === "dbus-data-size-mismatch");
    assert.ok(e && e.severity === "error", codes(d).join());
    assert.match(e.message, /data_size is 5 but the vmdesc describes 64 bytes/);
    assert.equal(await runCli(["inspect", out], capture().io), 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- FIFOs, devices, directories

test("a FIFO, a character device and a directory are refused at once with a clear message", (t) => {
  const dir = tmp();
  try {
    const fifo = path.join(dir, "pipe");
    const mk = spawnSync("mkfifo", [fifo]);
    if (mk.status !== 0) {
      t.skip("mkfifo is not available");
      return;
    }
    for (const [p, re] of [
      [fifo, /FIFO/],
      ["/dev/null", /character device/],
      [dir, /directory/],
    ] as [string, RegExp][]) {
      const r = cliChild(["inspect", p], 10_000);
      assert.equal(r.code, 2, `${p}: ${r.err}`);
      assert.match(r.err, re);
      assert.match(r.err, /not a regular file/);
      assert.ok(r.ms < 5000);
      // the editor opens files through the same FileByteSource.open
      assert.throws(() => FileByteSource.open(p), re);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- terminal escapes

test("inspect prints section and RAM block names with control characters escaped", async () => {
  const evil = "x\x1b[2K\x1b]0;pwned\x07\nforged";
  const b = new StreamBuilder()
    .header()
    .startHeader(1, "ram", 0, 4)
    .u64(4096 | 4)
    .counted(evil)
    .u64(4096)
    .u64(0x10)
    .footer(1);
  b.fullHeader(2, evil, 0, 1).bytes([1, 2]).footer(2).eof();
  const dir = tmp();
  try {
    const file = writeTmp(dir, "esc.vmstate", b.build());
    for (const args of [
      ["inspect", file],
      ["inspect", "--json", file],
      ["dump", file],
      ["ram", file, "--extract", path.join(dir, "out")],
    ]) {
      const c = capture();
      await runCli(args, c.io);
      const all = c.out() + c.err();
      assert.doesNotMatch(all, /\x1b|\x07/, args[0]);
      assert.doesNotMatch(all, /^forged/m, args[0]);
      if (args[0] === "inspect" && args.length === 2) assert.match(c.out(), /x\\x1b\[2K\\x1b\]0;pwned\\x07\\nforged/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("bus reports escape helper Ids and /proc cmdlines", () => {
  const h: BusHelper = {
    uniqueName: ":1.7",
    id: "ok\nPASS forged (:1.9, primary, pid 1)",
    pid: 42,
    cmdline: "helper --x \x1b[31mred\x9b2J",
    primary: true,
    position: 0,
  };
  const list = formatHelperList([h], "");
  assert.doesNotMatch(list, /\x1b|\x9b/);
  assert.equal(list.trimEnd().split("\n").length, 1);
  const report = formatCheckReport({
    address: "unix:path=/x",
    ok: true,
    helpers: [{ helper: h, rules: [], ok: true }],
  });
  assert.doesNotMatch(report, /^PASS forged/m);
  assert.match(report, /ok\\nPASS forged/);
  assert.equal(escapeControls("a\u202eb\u0085c"), "a\\u202eb\\x85c");
  assert.equal(jsonForTerminal(JSON.stringify("\x9b\u2028")), '"\\u009b\\u2028"');
  assert.equal(JSON.parse(jsonForTerminal(JSON.stringify("\x9b\u2028"))), "\x9b\u2028");
});

// ---------------------------------------------------------------- fuzz: the JSON vmdesc

/** Deterministic mutations of a parsed vmdesc: values swapped for null, numbers, strings, objects, lists; keys dropped; deep nesting. */
function mutate(v: unknown, rnd: () => number, budget: { n: number }): unknown {
  const odd = [
    null,
    0,
    -1,
    1e300,
    2 ** 53,
    "",
    "x",
    {},
    [],
    [null],
    { fields: 5 },
    { struct: null },
    true,
    1.5,
    "uint8",
  ];
  if (budget.n > 0 && rnd() % 40 === 0) {
    budget.n--;
    const k = rnd() % (odd.length + 1);
    if (k === odd.length) {
      let deep: unknown = { name: "d", type: "uint8", size: 1 };
      for (let i = 0; i < 200; i++) deep = { name: `n${i}`, type: "struct", size: 1, struct: { fields: [deep] } };
      return deep;
    }
    return structuredClone(odd[k]);
  }
  if (Array.isArray(v)) return v.filter(() => !(budget.n > 0 && rnd() % 200 === 0)).map((x) => mutate(x, rnd, budget));
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (budget.n > 0 && rnd() % 150 === 0) {
        budget.n--;
        continue;
      }
      out[k] = mutate(x, rnd, budget);
    }
    return out;
  }
  return v;
}

test("fuzz: mutated vmdesc JSON of real streams never throws, never hangs, re-encodes exactly", (t) => {
  const t0 = process.cpuUsage();
  let seed = 4242;
  const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0);
  let runs = 0;
  for (const name of ["dbus-vmstate-3helpers", "q35-no-footer"]) {
    const iterations = name === "q35-no-footer" ? fuzzRuns(2, 10) : fuzzRuns(6, 30);
    const full = new Uint8Array(fs.readFileSync(path.join(ROOT, `test/fixtures/${name}.vmstate`)));
    const whole = decodeBytes(full);
    const span = whole.vmdescSpan!;
    const desc = JSON.parse(whole.vmdescText!) as unknown;
    const head = full.subarray(0, span.start);
    for (let i = 0; i < iterations; i++) {
      const json = JSON.stringify(mutate(desc, rnd, { n: 1 + (rnd() % 6) }));
      const bytes = new StreamBuilder().bytes(head).vmdesc(json).build();
      const d = decodeBytes(bytes);
      assert.deepEqual(checkSpans(d.root), [], `${name} #${i}`);
      const src = new MemoryByteSource(bytes);
      const again = encodeStream(d.root);
      let len = 0;
      for (const c of again) len += "bytes" in c ? c.bytes.length : c.copy.end - c.copy.start;
      assert.equal(len, bytes.length, `${name} #${i}: re-encoded length`);
      dumpStateJson(src, d);
      if (i % 5 === 0) new StreamIndex(src, d).docInfo("f", "file:///f");
      runs++;
    }
  }
  const ms = cpuMs(t0);
  assert.equal(runs, fuzzRuns(8, 40));
  t.diagnostic(`${runs} mutated vmdescs: ${Math.round(ms)} ms CPU`);
  assert.ok(ms < 30_000, `${ms} ms`);
});

// ---------------------------------------------------------------- real QEMU agrees about data_size

const QEMU_MISSING = ["/usr/bin/qemu-system-x86_64", "/usr/bin/dbus-daemon", "/usr/bin/python3"].filter(
  (p) => !fs.existsSync(p),
);
const QEMU_SKIP =
  QEMU_MISSING.length || spawnSync("/usr/bin/python3", ["-c", "import gi"]).status !== 0
    ? `needs ${QEMU_MISSING.join(", ") || "python3-gi"}`
    : false;

test(
  "real QEMU 7.2 refuses the stream with data_size 5 that vmstate now flags as an error",
  { skip: QEMU_SKIP },
  () => {
    const dir = tmp();
    try {
      const orig = path.join(ROOT, "test/fixtures/dbus-vmstate-3helpers.vmstate");
      const bad = path.join(dir, "size5.vmstate");
      const r = cliChild([
        "set-field",
        orig,
        "--section",
        "dbus-vmstate/dbus-vmstate",
        "--field",
        "data_size",
        "--value",
        "5",
        "-o",
        bad,
        "--force",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /dbus-data-size-mismatch/);
      const run = spawnSync(
        "/usr/bin/python3",
        [
          path.join(ROOT, "test/tools/roundtrip.py"),
          bad,
          "--meta",
          `${orig}.meta.json`,
          "--helper-id",
          "slirp-helper",
          "--helper-id",
          "tpm-emu",
          "--helper-id",
          "audio",
        ],
        { encoding: "utf8", timeout: 120_000 },
      );
      const report = JSON.parse(run.stdout) as { status: string; dest: { qemu_stderr: string } };
      assert.notEqual(report.status, "completed");
      assert.match(report.dest.qemu_stderr, /Unexpected early end-of-stream/);
      assert.match(
        report.dest.qemu_stderr,
        /error while loading state for instance 0x0 of device 'dbus-vmstate\/dbus-vmstate'/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("ram --extract under x-ignore-shared: a large shared block without pages is skipped with a note, the rest extracted", async () => {
  const caps = new StreamBuilder()
    .u8(0x05)
    .counted("configuration/capabilities")
    .u32(1)
    .u32(1)
    .counted("x-ignore-shared")
    .build();
  const b = new StreamBuilder().header().configuration().bytes(caps).startHeader(1, "ram", 0, 4);
  const shared = 2 ** 34; // 16 GiB of shared memory: not in the stream
  b.u64(BigInt(shared + 4096) | 4n)
    .counted("mem0")
    .u64(shared)
    .u64(0)
    .counted("pc.ram")
    .u64(4096)
    .u64(0x100000000);
  b.u64(0x08).counted("pc.ram").bytes(new Uint8Array(4096).fill(0x5a));
  b.u64(0x10).footer(1).eof();
  const dir = tmp();
  try {
    const file = writeTmp(dir, "shared.vmstate", b.build());
    const d = decodeBytes(fs.readFileSync(file));
    assert.deepEqual(
      d.ramBlocks.map((x) => x.mrAddr),
      [0, 0x100000000],
    );
    const c = capture();
    assert.equal(await runCli(["ram", file, "--extract", path.join(dir, "out")], c.io), 0, c.err());
    assert.match(c.err(), /"mem0" has no pages in the stream \(x-ignore-shared/);
    const m = JSON.parse(fs.readFileSync(path.join(dir, "out/manifest.json"), "utf8")) as {
      block: string;
      file?: string;
      skipped?: string;
    }[];
    assert.equal(m[0]!.file, undefined);
    assert.match(m[0]!.skipped!, /x-ignore-shared/);
    assert.equal(fs.readFileSync(path.join(dir, "out", m[1]!.file!))[100], 0x5a);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a problem repeated 20,000 times is listed 1,000 times and summed up once", () => {
  const entries = Array.from({ length: 20_000 }, () => ({ id: "same", blob: Uint8Array.of(1) }));
  const d = decodeBytes(dbusStream(dbusData(entries)));
  const dups = d.diagnostics.filter((x) => x.code === "dbus-id-duplicate");
  assert.equal(dups.length, 1001);
  assert.match(dups.at(-1)!.message, /18999 more "dbus-id-duplicate" diagnostics \(19999 in all\)/);
  assert.equal(dups.at(-1)!.severity, "error");
  assert.equal(d.helpers.length, 20_000);
});
