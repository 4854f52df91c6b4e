// Capture and load through real QEMU 7.2 (TCG) over QMP, with real dbus-vmstate helpers on a
// private bus: capture while running and paused, cancel half-way (migrate speed limited so the
// cancel lands mid-stream), QEMU dying mid-migration, an edited stream loaded into a fresh QEMU
// whose helpers must receive exactly the new bytes, and a stream QEMU refuses (its own words).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeStream } from "../../src/format";
import { FileByteSource } from "../../src/io/fileSource";
import {
  CaptureError,
  LoadError,
  QmpClient,
  captureVmState,
  loadVmState,
  queryRunState,
  queryVmInfo,
  type MigrateInfo,
  type MigrationProgress,
} from "../../src/qmp";
import { QemuProcess, hasQemu, QEMU } from "../helpers/qemuProcess";
import { PrivateBus, hasDbusDaemon } from "../helpers/dbusDaemon";
import { ROOT, waitUntil } from "./helpers";

const CLI = path.join(ROOT, "dist/cli.js");
const missing = [hasQemu() ? "" : QEMU, hasDbusDaemon() ? "" : "dbus-daemon"].filter(Boolean);
const skip = missing.length ? `needs ${missing.join(", ")} (apt-get install qemu-system-x86 dbus)` : false;
if (skip && process.env.CI) throw new Error(`QMP capture tests cannot run in CI: ${skip}`);

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function decode(file: string) {
  const src = FileByteSource.open(file);
  try {
    const d = decodeStream(src);
    return {
      d,
      helpers: d.helpers.map((h) => ({ id: h.id, sha256: sha(src.read(h.blob.start, h.blob.end - h.blob.start)) })),
    };
  } finally {
    src.close?.();
  }
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 60_000 });
}

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.includes("partial"));
}

const SLIRP = "slirp state v1: 3 connections";
const TPM = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) & 0xff));

describe("capture and load with real QEMU", { skip, timeout: 240_000 }, () => {
  let dir: string;
  let bus: PrivateBus;
  let src: QemuProcess;
  let client: QmpClient;
  let captured: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-capture-"));
    bus = await PrivateBus.start();
    await bus.helper({ id: "slirp-helper", payload: `text:${SLIRP}` });
    await bus.helper({ id: "tpm-emu", payload: `hex:${TPM.toString("hex")}` });
    src = await QemuProcess.start({ name: "src", dbusAddr: bus.address });
    client = await QmpClient.connect(src.qmp);
  });
  after(async () => {
    client?.close();
    await src?.stop();
    await bus?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("info lists the dbus-vmstate object with its bus address", async () => {
    const info = await queryVmInfo(client);
    assert.deepEqual(info.dbusVmstate, [{ id: "dv0", addr: bus.address, idList: "" }]);
    assert.equal(info.runState.status, "prelaunch");
  });

  test("capture a paused (prelaunch) VM: a clean stream with both helpers' exact bytes; stays paused", async () => {
    captured = path.join(dir, "paused.vmstate");
    const progress: MigrationProgress[] = [];
    const r = await captureVmState(client, captured, { mode: "pause", onProgress: (p) => progress.push(p) });
    assert.equal(r.final.status, "completed");
    assert.equal(r.after.running, false);
    assert.equal(r.size, fs.statSync(captured).size);
    assert.equal(progress.at(-1)?.status, "completed");
    const { d, helpers } = decode(captured);
    assert.deepEqual(
      d.diagnostics.filter((x) => x.severity === "error"),
      [],
    );
    assert.equal(d.machineType, "pc-q35-7.2");
    assert.deepEqual(
      helpers.sort((a, b) => a.id.localeCompare(b.id)),
      [
        { id: "slirp-helper", sha256: sha(Buffer.from(SLIRP)) },
        { id: "tpm-emu", sha256: sha(TPM) },
      ],
    );
    assert.deepEqual(leftovers(dir), []);
  });

  test("capture live while running: it keeps running; pause-first with --after paused leaves it paused", async () => {
    const q = await QemuProcess.start({ paused: false });
    const c = await QmpClient.connect(q.qmp);
    try {
      assert.equal((await queryRunState(c)).status, "running");
      const live = path.join(dir, "live.vmstate");
      const r = await captureVmState(c, live, { mode: "live" });
      assert.equal(r.before.status, "running");
      assert.equal(r.after.status, "running");
      assert.deepEqual(
        decode(live).d.diagnostics.filter((x) => x.severity === "error"),
        [],
      );
      const paused = path.join(dir, "pause-first.vmstate");
      const stop = c.waitForEvent((e) => e.event === "STOP", 5000);
      const r2 = await captureVmState(c, paused, { mode: "pause", after: "paused" });
      await stop; // paused before the migration began
      assert.equal(r2.after.running, false);
      assert.deepEqual(
        decode(paused).d.diagnostics.filter((x) => x.severity === "error"),
        [],
      );
    } finally {
      c.close();
      await q.stop();
    }
  });

  test("background-snapshot (QEMU 7.2 has it): the VM keeps running, the capability is switched off again", async () => {
    const q = await QemuProcess.start({ paused: false });
    const c = await QmpClient.connect(q.qmp);
    try {
      const file = path.join(dir, "bg.vmstate");
      let r;
      try {
        r = await captureVmState(c, file, { mode: "background-snapshot" });
      } catch (e) {
        // needs userfaultfd write-protect in the host kernel: QEMU's own refusal is the message
        assert.ok(
          e instanceof CaptureError &&
            e.reason === "unsupported" &&
            /QEMU refused background-snapshot=true: ./.test(e.message),
          String(e),
        );
        return;
      }
      assert.equal(r.after.status, "running");
      assert.deepEqual(
        decode(file).d.diagnostics.filter((x) => x.severity === "error"),
        [],
      );
      const caps = await c.execute<Array<{ capability: string; state: boolean }>>("query-migrate-capabilities");
      assert.equal(caps.find((x) => x.capability === "background-snapshot")?.state, false);
    } finally {
      c.close();
      await q.stop();
    }
  });

  test("cancel half-way: migrate_cancel, no file under the chosen name, no partial file, VM still running", async () => {
    const q = await QemuProcess.start({ paused: false });
    const c = await QmpClient.connect(q.qmp);
    try {
      await c.execute("migrate-set-parameters", { "max-bandwidth": 40_000 }); // ~10 s for a 64M guest
      const target = path.join(dir, "cancelled.vmstate");
      const ac = new AbortController();
      let at: MigrationProgress | undefined;
      const p = captureVmState(c, target, {
        mode: "live",
        pollMs: 100,
        signal: ac.signal,
        onProgress: (pr) => {
          if (!at && pr.status === "active" && (pr.transferred ?? 0) > 50_000) {
            at = pr;
            ac.abort();
          }
        },
      });
      await assert.rejects(
        p,
        (e: unknown) => e instanceof CaptureError && e.reason === "cancelled" && /cancelled/.test(e.message),
      );
      assert.ok(at && at.remaining! > 0, `cancelled mid-way: ${JSON.stringify(at)}`);
      assert.equal((await c.execute<MigrateInfo>("query-migrate")).status, "cancelled");
      assert.equal(fs.existsSync(target), false);
      // cat may outlive the cancel briefly
      await waitUntil(() => leftovers(dir).length === 0, `partial files removed (${leftovers(dir).join(", ")})`).catch(
        () => {},
      );
      assert.deepEqual(leftovers(dir), []);
      assert.equal((await queryRunState(c)).status, "running");
    } finally {
      c.close();
      await q.stop();
    }
  });

  test("QEMU exiting mid-migration: a clear error and no file", async () => {
    const q = await QemuProcess.start({ paused: false });
    const c = await QmpClient.connect(q.qmp);
    try {
      await c.execute("migrate-set-parameters", { "max-bandwidth": 40_000 });
      const target = path.join(dir, "died.vmstate");
      let killed = false;
      const p = captureVmState(c, target, {
        mode: "pause",
        pollMs: 100,
        onProgress: (pr) => {
          if (!killed && pr.status === "active" && (pr.transferred ?? 0) > 20_000) {
            killed = true;
            q.kill("SIGKILL");
          }
        },
      });
      await assert.rejects(
        p,
        (e: unknown) =>
          e instanceof CaptureError &&
          e.reason === "qemu-exited" &&
          /QEMU went away during the capture/.test(e.message),
      );
      assert.ok(killed);
      assert.equal(fs.existsSync(target), false);
      await waitUntil(() => leftovers(dir).length === 0).catch(() => {});
      assert.deepEqual(leftovers(dir), []);
    } finally {
      c.close();
      await q.stop();
    }
  });

  test("load an edited stream (set-helper) into a fresh QEMU: its helpers receive exactly the new bytes", async () => {
    assert.ok(captured, "needs the paused capture");
    const edited = path.join(dir, "edited.vmstate");
    const newBlob = path.join(dir, "new-tpm.bin");
    const NEW = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff));
    fs.writeFileSync(newBlob, NEW);
    const e = cli("set-helper", captured, "--id", "tpm-emu", "--from", newBlob, "-o", edited);
    assert.equal(e.status, 0, e.stderr);
    const dbus = await PrivateBus.start();
    const slirp = await dbus.helper({ id: "slirp-helper", mode: "empty" });
    const tpm = await dbus.helper({ id: "tpm-emu", mode: "empty" });
    const dst = await QemuProcess.start({ incoming: true, dbusAddr: dbus.address });
    const c = await QmpClient.connect(dst.qmp);
    try {
      const progress: MigrationProgress[] = [];
      const r = await loadVmState(c, edited, { onProgress: (p) => progress.push(p) });
      assert.equal(r.final.status, "completed");
      assert.equal(r.size, fs.statSync(edited).size);
      assert.equal(progress.find((p) => p.status === "completed")?.sent, r.size);
      const tpmLoad = await tpm.waitFor((ev) => ev.event === "Load");
      const slirpLoad = await slirp.waitFor((ev) => ev.event === "Load");
      assert.equal(tpmLoad.sha256, sha(NEW));
      assert.equal(tpmLoad.len, NEW.length);
      assert.equal(slirpLoad.sha256, sha(Buffer.from(SLIRP)));
    } finally {
      c.close();
      await dst.stop();
      await dbus.stop();
    }
  });

  test("a stream QEMU refuses: QEMU's own reason (from its stderr), and a QEMU that is not waiting", async () => {
    assert.ok(captured);
    const bad = path.join(dir, "nirq.vmstate");
    const e = cli(
      "set-field",
      captured,
      "--section",
      "PCIBUS",
      "--field",
      "nirq",
      "--value",
      "99",
      "-o",
      bad,
      "--force",
    );
    assert.equal(e.status, 0, e.stderr);
    const dst = await QemuProcess.start({ incoming: true, dbusAddr: bus.address });
    const c = await QmpClient.connect(dst.qmp);
    try {
      await assert.rejects(loadVmState(c, bad), (err: unknown) => {
        assert.ok(err instanceof LoadError, String(err));
        assert.equal(err.reason, "refused");
        assert.match(err.message, /QEMU refused the stream and exited/);
        assert.match(err.message, /Failed to load PCIBUS:nirq/);
        return true;
      });
    } finally {
      c.close();
      await dst.stop();
    }
    await assert.rejects(
      loadVmState(client, captured),
      (err: unknown) => err instanceof LoadError && err.reason === "not-waiting" && /-incoming defer/.test(err.message),
    );
  });

  test("the destination QEMU dying during a load: a clear error, not a hang", async () => {
    assert.ok(captured);
    const dst = await QemuProcess.start({ incoming: true, dbusAddr: bus.address });
    const c = await QmpClient.connect(dst.qmp);
    try {
      let killed = false;
      const p = loadVmState(c, captured, {
        onProgress: () => {
          if (!killed) {
            killed = true;
            dst.kill("SIGKILL");
          }
        },
      });
      await assert.rejects(
        p,
        (e: unknown) =>
          e instanceof LoadError && e.reason === "qemu-exited" && /QEMU exited during the load/.test(e.message),
      );
    } finally {
      c.close();
      await dst.stop();
    }
  });

  test("over tcp QMP: capture, and load through QEMU's tcp:HOST:0 listener (port from socket-address)", async () => {
    const a = await QemuProcess.start({ tcp: true });
    const b = await QemuProcess.start({ tcp: true, incoming: true });
    const ca = await QmpClient.connect(a.qmp);
    const cb = await QmpClient.connect(b.qmp);
    try {
      assert.equal(ca.address.kind, "tcp");
      const file = path.join(dir, "tcp.vmstate");
      const r = await captureVmState(ca, file, { mode: "pause" });
      const l = await loadVmState(cb, file);
      assert.equal(l.final.status, "completed");
      assert.equal(l.size, r.size);
    } finally {
      ca.close();
      cb.close();
      await a.stop();
      await b.stop();
    }
  });

  test("CLI: qmp info / capture / load, exit codes and messages", async () => {
    // QEMU's QMP socket serves one client at a time: a second one gets no greeting (tested below)
    const busy = cli("qmp", "info", "--qmp", src.qmp, "--timeout", "1000");
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, /sent no QMP greeting within .*no other client connected/);
    client.close();
    const info = cli("qmp", "info", "--qmp", src.qmp);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /machine\s+pc-q35-7\.2 \(q35\)/);
    assert.match(info.stdout, new RegExp(`dv0\\s+addr ${bus.address.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
    const json = JSON.parse(cli("qmp", "info", "--qmp", `unix:${src.qmp}`, "--json").stdout);
    assert.equal(json.dbusVmstate[0].addr, bus.address);
    const out = path.join(dir, "cli.vmstate");
    const again = cli("qmp", "capture", "--qmp", src.qmp, "-o", out, "--pause");
    assert.equal(again.status, 1);
    assert.match(
      again.stderr,
      /cannot migrate this VM again: it is paused after a previous migration \(run state postmigrate\)/,
    );
    const running = await QemuProcess.start({ paused: false, dbusAddr: bus.address });
    try {
      const cap = cli("qmp", "capture", "--qmp", running.qmp, "-o", out, "--pause");
      assert.equal(cap.status, 0, cap.stderr);
      assert.match(cap.stderr, /captured .* \(pause\) .* -> .*; VM was running, now running/);
    } finally {
      await running.stop();
    }
    const dst = await QemuProcess.start({ incoming: true, dbusAddr: bus.address });
    try {
      const ld = cli("qmp", "load", "--qmp", dst.qmp, out);
      assert.equal(ld.status, 0, ld.stderr);
      assert.match(ld.stderr, /loaded .* migration completed/);
    } finally {
      await dst.stop();
    }
    const wrong = cli("qmp", "info", "--qmp", path.join(dir, "nope.sock"));
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /no such socket/);
    const notQmp = cli("qmp", "info", "--qmp", bus.address.replace(/^unix:path=/, ""), "--timeout", "1000");
    assert.equal(notQmp.status, 1);
    assert.match(notQmp.stderr, /sent no QMP greeting/);
    const usage = cli("qmp", "capture", "--qmp", src.qmp);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /capture needs -o FILE/);
  });
});
