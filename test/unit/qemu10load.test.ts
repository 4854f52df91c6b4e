// Edited QEMU 10.2 streams loaded by a real QEMU 10.x (test/tools/roundtrip.py), when one is
// available: set VMSTATE_QEMU10=/path/to/qemu-system-x86_64 (10.x, with its firmware where it
// finds it). Debian 12 ships QEMU 7.2 only, so without the variable these tests are skipped and
// say so; the QEMU 7.2 round trips (qemu.test.ts) always run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { FIXTURES10, fixture10File, ROOT } from "./helpers";

const CLI = path.join(ROOT, "dist/cli.js");
const ROUNDTRIP = path.join(ROOT, "test/tools/roundtrip.py");
const PY = "/usr/bin/python3";
const QEMU10 = process.env.VMSTATE_QEMU10;

function why(): string | false {
  if (!QEMU10) return "VMSTATE_QEMU10 is not set (path to a QEMU 10.x qemu-system-x86_64; Debian 12 has only 7.2)";
  if (!fs.existsSync(QEMU10)) return `VMSTATE_QEMU10=${QEMU10} does not exist`;
  const v = spawnSync(QEMU10, ["--version"], { encoding: "utf8" });
  if (!/version (\d+)\./.test(v.stdout) || Number(/version (\d+)\./.exec(v.stdout)![1]) < 10)
    return `VMSTATE_QEMU10=${QEMU10} is not QEMU 10.x (${v.stdout.split("\n")[0]})`;
  const missing = ["/usr/bin/dbus-daemon", PY].filter((p) => !fs.existsSync(p));
  if (missing.length) return `needs ${missing.join(", ")}`;
  if (spawnSync(PY, ["-c", "import gi"]).status !== 0) return "needs python3-gi";
  return false;
}
const skip = why();
if (skip) console.log(`# qemu10load: skipped: ${skip}`);

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function vmstate(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, `vmstate ${args.join(" ")}: ${r.stderr}`);
}

function roundtrip(stream: string, name: string, ids: string[] = []) {
  const meta = path.join(FIXTURES10, `${name}.vmstate.meta.json`);
  const r = spawnSync(
    PY,
    [ROUNDTRIP, stream, "--meta", meta, "--qemu", QEMU10!, ...ids.flatMap((id) => ["--helper-id", id])],
    { encoding: "utf8", timeout: 180_000 },
  );
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.fail(`roundtrip.py printed no report (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  }
}

const IDS = ["slirp-helper", "tpm-emu", "audio"];

test("QEMU 10.x loads the unedited 10.2 streams as written (baseline for the edits below)", { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10load-"));
  try {
    // pc-devices and q35-devices need their disk images, which are not kept
    for (const name of [
      "q35-machine-10.2-twin",
      "q35-machine-7.2",
      "q35-mapped-ram",
      "q35-multifd-mapped-ram",
      "q35-postcopy-run",
      "q35-background-snapshot",
      "q35-return-path-switchover-ack",
    ]) {
      const file = fixture10File(`${name}.vmstate`, dir);
      const out = path.join(dir, `${name}.rewritten.vmstate`);
      vmstate("rewrite", file, "-o", out);
      assert.ok(fs.readFileSync(out).equals(fs.readFileSync(file)), `${name}: rewrite must be byte-identical`);
      const rep = roundtrip(out, name);
      assert.equal(rep.status, "completed", `${name}: ${JSON.stringify(rep.dest)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "set-helper on a 10.2 stream: QEMU 10.x loads it and each helper's Load gets exactly the new bytes",
  { skip },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10load-"));
    try {
      const orig = fixture10File("dbus-vmstate-3helpers.vmstate", dir);
      const longer = Uint8Array.from({ length: 12_000 }, (_, i) => (i * 7) & 0xff);
      const shorter = new TextEncoder().encode("slirp v2 from QEMU 10");
      fs.writeFileSync(path.join(dir, "longer.bin"), longer);
      fs.writeFileSync(path.join(dir, "shorter.bin"), shorter);
      const s1 = path.join(dir, "1.vmstate");
      vmstate("set-helper", orig, "--id", "tpm-emu", "--from", path.join(dir, "longer.bin"), "-o", s1);
      vmstate("set-helper", s1, "--id", "slirp-helper", "--from", path.join(dir, "shorter.bin"), "-o", s1);
      const rep = roundtrip(s1, "dbus-vmstate-3helpers", IDS);
      assert.equal(rep.status, "completed", JSON.stringify(rep.dest));
      const loads = new Map<string, { sha256: string }>(
        rep.dbus.load_calls.map((l: { id: string; sha256: string }) => [l.id, l]),
      );
      assert.equal(loads.get("tpm-emu")?.sha256, sha(longer));
      assert.equal(loads.get("slirp-helper")?.sha256, sha(shorter));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "set-field on a 10.2 stream: QEMU 10.x loads an edited register and refuses an edited checked field",
  { skip },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10load-"));
    try {
      const orig = fixture10File("dbus-vmstate-3helpers.vmstate", dir);
      const ok = path.join(dir, "reg.vmstate");
      vmstate("set-field", orig, "--section", "cpu:0", "--field", "env.regs[3]", "--value", "0x1234", "-o", ok);
      const good = roundtrip(ok, "dbus-vmstate-3helpers", IDS);
      assert.equal(good.status, "completed", JSON.stringify(good.dest));
      const bad = path.join(dir, "nirq.vmstate");
      vmstate("set-field", orig, "--section", "PCIBUS", "--field", "nirq", "--value", "99", "-o", bad, "--force");
      const refused = roundtrip(bad, "dbus-vmstate-3helpers", IDS);
      assert.notEqual(refused.status, "completed");
      assert.match(refused.dest.qemu_stderr, /PCIBUS/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "set-field on a 10.2 mapped-ram stream: the edited (still sparse) file loads through file: in QEMU 10.x",
  { skip },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "q10load-"));
    try {
      const orig = fixture10File("q35-mapped-ram.vmstate", dir);
      const out = path.join(dir, "reg.vmstate");
      vmstate("set-field", orig, "--section", "cpu:0", "--field", "env.regs[3]", "--value", "0x5678", "-o", out);
      const st = fs.statSync(out);
      assert.ok(st.blocks * 512 < st.size / 10, "the edited copy stays sparse");
      const rep = roundtrip(out, "q35-mapped-ram");
      assert.equal(rep.status, "completed", JSON.stringify(rep.dest));
      const bad = path.join(dir, "nirq.vmstate");
      vmstate("set-field", orig, "--section", "PCIBUS", "--field", "nirq", "--value", "99", "-o", bad, "--force");
      assert.notEqual(roundtrip(bad, "q35-mapped-ram").status, "completed", "QEMU reads the edited bytes");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
