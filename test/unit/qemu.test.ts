// Round trips through real QEMU 7.2: edited streams are loaded by a fresh destination QEMU with
// the project's own GDBus helpers on a private bus (test/tools/roundtrip.py), and each helper's
// Load must receive exactly the new bytes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { FIXTURES, ROOT } from "./helpers";

const CLI = path.join(ROOT, "dist/cli.js");
const ROUNDTRIP = path.join(ROOT, "test/tools/roundtrip.py");
const PY = "/usr/bin/python3";

const missing = ["/usr/bin/qemu-system-x86_64", "/usr/bin/dbus-daemon", PY].filter((p) => !fs.existsSync(p));
const gi = missing.length ? false : spawnSync(PY, ["-c", "import gi"]).status === 0;
const skip =
  missing.length || !gi
    ? `needs ${[...missing, ...(gi ? [] : ["python3-gi"])].join(", ")} (.ci/run installs them)`
    : false;
if (skip && process.env.CI) throw new Error(`QEMU round-trip tests cannot run in CI: ${skip}`);

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function vmstate(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, `vmstate ${args.join(" ")}: ${r.stderr}`);
}

function roundtrip(stream: string, meta: string, ids: string[]) {
  const r = spawnSync(PY, [ROUNDTRIP, stream, "--meta", meta, ...ids.flatMap((id) => ["--helper-id", id])], {
    encoding: "utf8",
    timeout: 120_000,
  });
  let report: any;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    assert.fail(`roundtrip.py printed no report (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  }
  return report;
}

test(
  "helper edits: replace with a longer blob, shrink one, add one, remove one; QEMU loads exactly the new bytes",
  { skip },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-qemu-"));
    try {
      const orig = path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate");
      const longer = Uint8Array.from({ length: 12_000 }, (_, i) => (i * 13) & 0xff); // grows data_size past 8 KiB: vmdesc updated
      const shorter = new TextEncoder().encode("slirp v2");
      const added = new TextEncoder().encode("state of a brand-new helper\n");
      fs.writeFileSync(path.join(dir, "longer.bin"), longer);
      fs.writeFileSync(path.join(dir, "shorter.bin"), shorter);
      fs.writeFileSync(path.join(dir, "added.bin"), added);
      const s1 = path.join(dir, "1.vmstate");
      vmstate("set-helper", orig, "--id", "tpm-emu", "--from", path.join(dir, "longer.bin"), "-o", s1);
      vmstate("set-helper", s1, "--id", "slirp-helper", "--from", path.join(dir, "shorter.bin"), "-o", s1);
      vmstate("set-helper", s1, "--id", "added", "--add", "--from", path.join(dir, "added.bin"), "-o", s1);
      vmstate("set-helper", s1, "--id", "audio", "--remove", "-o", s1);
      const report = roundtrip(s1, `${orig}.meta.json`, ["slirp-helper", "tpm-emu", "added", "audio"]);
      assert.equal(report.status, "completed", JSON.stringify(report.dest));
      const loads = new Map<string, { len: number; sha256: string }>(report.dbus.load_calls.map((l: any) => [l.id, l]));
      assert.equal(loads.get("tpm-emu")?.sha256, sha(longer));
      assert.equal(loads.get("slirp-helper")?.sha256, sha(shorter));
      assert.equal(loads.get("added")?.sha256, sha(added));
      assert.equal(loads.has("audio"), false, "the removed helper must not be loaded");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "set-field: QEMU loads an edited register, and refuses an edited field it checks (proving it reads our bytes)",
  { skip },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-qemu-"));
    try {
      const orig = path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate");
      const ok = path.join(dir, "reg.vmstate");
      vmstate("set-field", orig, "--section", "cpu:0", "--field", "env.regs[3]", "--value", "0x1234", "-o", ok);
      const good = roundtrip(ok, `${orig}.meta.json`, ["slirp-helper", "tpm-emu", "audio"]);
      assert.equal(good.status, "completed", JSON.stringify(good.dest));
      const bad = path.join(dir, "nirq.vmstate");
      const r = spawnSync(
        process.execPath,
        [CLI, "set-field", orig, "--section", "PCIBUS", "--field", "nirq", "--value", "99", "-o", bad],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 1, "an 'int32 equal' field needs --force");
      assert.match(r.stderr, /checked by QEMU/);
      vmstate("set-field", orig, "--section", "PCIBUS", "--field", "nirq", "--value", "99", "-o", bad, "--force");
      const refused = roundtrip(bad, `${orig}.meta.json`, ["slirp-helper", "tpm-emu", "audio"]);
      assert.notEqual(refused.status, "completed");
      assert.match(refused.dest.qemu_stderr, /Failed to load PCIBUS:nirq/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
