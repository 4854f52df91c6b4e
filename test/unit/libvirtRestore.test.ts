// An edit inside a real libvirt save image restores with real libvirtd + QEMU: the dbus-vmstate
// helpers' Load receives the new bytes (test/tools/libvirt-restore-edited.sh). Needs root and
// Debian's libvirt-daemon-system + libvirt-clients (scripts/setup.sh test); skips, saying why, without.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { FIXTURES, ROOT } from "./helpers";

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (libvirtd's qemu:///system)";
  for (const bin of ["virsh", "libvirtd", "dbus-daemon", "qemu-system-x86_64"]) {
    if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0)
      return `${bin} is not installed (apt-get install libvirt-daemon-system libvirt-clients dbus qemu-system-x86)`;
  }
  if (spawnSync("/usr/bin/python3", ["-c", "import gi"]).status !== 0) return "python3-gi is not installed";
  if (
    spawnSync("sh", ["-c", "pgrep -x libvirtd >/dev/null && ! virsh -c qemu:///system version >/dev/null 2>&1"])
      .status === 0
  )
    return "a libvirtd runs but does not answer on qemu:///system";
  return undefined;
}

const reason = skipReason();
if (reason) console.log(`# libvirtRestore: skipped: ${reason}`);

test(
  "virsh restore of libvirt images written by vmstate: helpers Load the new bytes; gzip recompressed and xz written raw restore",
  { skip: reason, timeout: 240000 },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-lvr-"));
    try {
      const blob = path.join(dir, "b.bin");
      const bytes = randomBytes(3000);
      fs.writeFileSync(blob, bytes);
      const r = spawnSync(
        "bash",
        [
          path.join(ROOT, "test/tools/libvirt-restore-edited.sh"),
          path.join(FIXTURES, "containers/q35-dbus-vmstate-raw.save"),
          blob,
          path.join(dir, "w"),
        ],
        // waits up to 90 s for another run on this machine (the script takes turns on a lock)
        { encoding: "utf8", timeout: 220000 },
      );
      assert.equal(r.status, 0, r.stderr);
      const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
      assert.equal(res.rc, 0, res.message);
      assert.equal(res.state, "running (restored)");
      const meta = JSON.parse(
        fs.readFileSync(path.join(FIXTURES, "containers/q35-dbus-vmstate-raw.save.meta.json"), "utf8"),
      );
      const a = meta.dbus_vmstate_load.find((x: { id: string }) => x.id === "lvfix-helper-a");
      assert.deepEqual(res.loads, [
        { id: "lvfix-helper-a", len: a.len, sha256: a.sha256 },
        { id: "lvfix-helper-b", len: 3000, sha256: createHash("sha256").update(bytes).digest("hex") },
      ]);
      // written back: gzip recompressed by node:zlib, xz as raw (libvirt restores raw whatever qemu.conf says)
      assert.deepEqual(
        res.others.map((o: { file: string; rc: number; state: string; compressed: number; message: string }) => [
          o.file,
          o.rc,
          o.state,
          o.compressed,
          o.message,
        ]),
        [
          ["q35-gzip.save", 0, "running (restored)", 1, ""],
          ["q35-xz.save", 0, "running (restored)", 0, ""],
        ],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
