// The vmstate command line: exit codes, JSON shapes, safe extraction, messages for bad input.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { runCli } from "../../src/cli/commands";
import { safeHelperFileNames } from "../../src/format/helperFiles";
import { FIXTURES, ROOT } from "./helpers";
import { dbusData, dbusStream } from "./streamBuilder";

const CLI = path.join(ROOT, "dist/cli.js");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-cli-"));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("inspect --json: the documented shape, one object per file or an array", () => {
  const one = cli(["inspect", "--json", path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate")]);
  assert.equal(one.code, 0, one.err);
  const j = JSON.parse(one.out);
  assert.deepEqual(Object.keys(j), ["file", "container", "size", "sections", "commands", "helpers", "diagnostics"]);
  assert.deepEqual(j.container, { kind: "stream", compression: "none", streamOffset: 0, streamSize: j.size });
  assert.deepEqual(Object.keys(j.sections[0]), [
    "sectionId",
    "name",
    "instanceId",
    "versionId",
    "kind",
    "offset",
    "end",
  ]);
  assert.deepEqual(
    j.sections.slice(0, 3).map((s: { kind: string }) => s.kind),
    ["start", "part", "end"],
  );
  assert.deepEqual(
    j.helpers.map((h: { id: string }) => h.id),
    ["slirp-helper", "tpm-emu", "audio"],
  );
  assert.deepEqual(Object.keys(j.helpers[0]), ["id", "size", "offset", "sha256"]);
  const two = cli([
    "inspect",
    "--json",
    path.join(FIXTURES, "q35-devices.vmstate"),
    path.join(FIXTURES, "pc-devices.vmstate"),
  ]);
  assert.equal(two.code, 0);
  assert.equal(JSON.parse(two.out).length, 2);
});

test("exit status: 0 clean, 1 with error diagnostics, 2 for usage errors; no stack traces", () => {
  const dir = tmp();
  try {
    const bad = path.join(dir, "cut.vmstate");
    fs.writeFileSync(bad, fs.readFileSync(path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate")).subarray(0, 300_000));
    const r = cli(["inspect", bad]);
    assert.equal(r.code, 1);
    assert.match(r.out, /error at 0x[0-9a-f]+: /);
    assert.doesNotMatch(r.out + r.err, /    at .*\.js:\d+/);
    const wrong = path.join(dir, "notes.txt");
    fs.writeFileSync(wrong, "just some text\n");
    const w = cli(["dump", wrong]);
    assert.equal(w.code, 1);
    assert.match(w.err, /not a QEMU migration stream: magic at 0x0/);
    assert.equal(cli(["inspect"]).code, 2);
    assert.equal(cli(["frobnicate", "x"]).code, 2);
    assert.equal(cli(["dump", "--bogus", bad]).code, 2);
    const missing = cli(["inspect", path.join(dir, "nope.vmstate")]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot open .*ENOENT/);
    assert.equal(cli(["rewrite", bad]).code, 2);
    assert.equal(cli(["--help"]).code, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("helpers --extract: hostile Ids never escape the folder or collide; the manifest maps them", async () => {
  const ids = [
    "../../etc/passwd",
    "/abs",
    "a/b",
    "dup",
    "dup",
    "DUP",
    ".hidden",
    "con",
    "x".repeat(255),
    "ünï✓",
    "a\u0000b",
    "",
  ];
  const data = dbusData(
    ids.map((id, i) => ({ id, blob: Uint8Array.of(i, i, i) })),
    { padTo: 8192 },
  );
  const dir = tmp();
  try {
    const file = path.join(dir, "hostile.vmstate");
    fs.writeFileSync(file, dbusStream(data));
    const out = path.join(dir, "out");
    const io = { stdout: () => {}, stderr: () => {} };
    assert.equal(await runCli(["helpers", file, "--extract", out], io), 1); // empty and duplicate Ids are errors
    const entries = fs.readdirSync(out);
    assert.equal(entries.length, ids.length + 1);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as {
      id: string;
      file: string;
      sha256: string;
    }[];
    assert.deepEqual(
      manifest.map((m) => m.id),
      ids,
    );
    for (const [i, m] of manifest.entries()) {
      assert.equal(path.basename(m.file), m.file);
      const bytes = fs.readFileSync(path.join(out, m.file));
      assert.deepEqual([...bytes], [i, i, i]);
      assert.equal(createHash("sha256").update(bytes).digest("hex"), m.sha256);
    }
    assert.ok(!fs.existsSync(path.join(dir, "etc")));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("safeHelperFileNames: unique case-insensitively, no separators, bounded length", () => {
  const names = safeHelperFileNames(["a", "A", "a", "../x", "x".repeat(300)]);
  assert.equal(new Set(names.map((n) => n.toLowerCase())).size, names.length);
  for (const n of names) {
    assert.doesNotMatch(n, /[\\/]/);
    assert.ok(Buffer.byteLength(n) < 200);
  }
});

test("helpers on the real stream equal the helpers.json sha256s; rewrite via the CLI is identical", () => {
  const src = path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate");
  const r = cli(["helpers", "--json", src]);
  assert.equal(r.code, 0);
  const want = JSON.parse(fs.readFileSync(`${src}.helpers.json`, "utf8")).helpers as {
    id: string;
    payload_sha256: string;
  }[];
  const got = JSON.parse(r.out) as { id: string; sha256: string }[];
  for (const w of want) assert.equal(got.find((g) => g.id === w.id)?.sha256, w.payload_sha256);
  const dir = tmp();
  try {
    const out = path.join(dir, "copy.vmstate");
    assert.equal(cli(["rewrite", src, "-o", out]).code, 0);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(src)));
    assert.deepEqual(fs.readdirSync(dir), ["copy.vmstate"], "no temporary file left behind");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("dump into a pipe closed early (| head): no stack trace, SIGPIPE's status 141", () => {
  const cli = path.join(ROOT, "dist", "cli.js");
  const file = path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate");
  const r = spawnSync(
    "bash",
    [
      "-c",
      `set -o pipefail; "${process.execPath}" "${cli}" dump "${file}" 2>"$ERR" | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"`,
    ],
    {
      encoding: "utf8",
      env: { ...process.env, ERR: path.join(os.tmpdir(), `vmstate-epipe-${process.pid}.err`) },
    },
  );
  const errFile = path.join(os.tmpdir(), `vmstate-epipe-${process.pid}.err`);
  const err = fs.readFileSync(errFile, "utf8");
  fs.rmSync(errFile, { force: true });
  assert.equal(err, "");
  assert.equal(r.stdout.trim(), "141");
});
