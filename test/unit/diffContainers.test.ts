// vmstate diff across file kinds: the inputs open through src/container, so a libvirt save image
// compares with the bare stream inside it, and two qcow2 internal snapshots compare by tag.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { FIXTURES, ROOT } from "./helpers";

const CLI = path.join(ROOT, "dist/cli.js");
const C = path.join(FIXTURES, "containers");
const vmstate = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });

test("diff: a gzip libvirt save image against the bare stream extracted from it is the same state", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-diffc-"));
  try {
    const bare = path.join(dir, "bare.vmstate");
    const x = vmstate("extract-stream", path.join(C, "q35-gzip.save"), "-o", bare);
    assert.equal(x.status, 0, x.stderr);
    const r = vmstate("diff", path.join(C, "q35-gzip.save"), bare, "--json");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.same, true);
    assert.match(j.a.label ?? j.a.file ?? JSON.stringify(j.a), /libvirt save image, gzip/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("diff: two libvirt images of the same guest saved at different moments differ only in timer-like fields", () => {
  const r = vmstate("diff", path.join(C, "q35-gzip.save"), path.join(C, "q35-xz.save"), "--json");
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  const paths: string[] = j.fields.map((f: { path: string }) => f.path);
  assert.ok(paths.length > 0);
  // clocks and timers only (QEMU's timer, RTC, PIT, xHCI frame index): the devices are the same
  for (const p of paths) assert.match(p, /^(timer:0\/|mc146818rtc:0\/|i8254:0\/|.*xhci.*mfindex)/, p);
  assert.ok(paths.includes("timer:0/cpu_ticks_offset"));
  assert.deepEqual(j.helpers, []);
});

test("diff: qcow2 internal snapshots picked with --snapshot-a/--snapshot-b; a missing tag is a usage error", () => {
  const q = path.join(C, "snapshots.qcow2");
  const same = vmstate("diff", q, q, "--snapshot-a", "early", "--snapshot-b", "early");
  assert.equal(same.status, 0, same.stdout + same.stderr);
  const two = vmstate("diff", q, q, "--snapshot-a", "early", "--snapshot-b", "frag");
  assert.ok(two.status === 0 || two.status === 1, two.stderr);
  assert.match(two.stdout, /qcow2 snapshot 2 "early"/);
  assert.match(two.stdout, /qcow2 snapshot 3 "frag"/);
  const bad = vmstate("diff", q, q, "--snapshot-a", "nope", "--snapshot-b", "early");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /nope/);
});
