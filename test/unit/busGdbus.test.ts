// The client against helpers built on GLib's GDBus (test/helpers/gdbus_helper.py), the library
// QEMU uses, and the `vmstate bus` command line against both kinds of helper.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { VmStateBusClient } from "../../src/bus/client";
import { BusError } from "../../src/bus/errors";
import { runBusCommand } from "../../src/cli/busCommand";
import { NO_TIME_LIMIT, PrivateBus, failedRules, hasDbusDaemon, hasPythonGi, savedSlowly } from "../helpers/dbusDaemon";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runBusCommand(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

describe(
  "GDBus helpers",
  { skip: hasDbusDaemon() && hasPythonGi() ? false : "needs dbus-daemon and /usr/bin/python3 with python3-gi" },
  () => {
    let bus: PrivateBus;
    let c: VmStateBusClient;
    let dir: string;
    before(async () => {
      bus = await PrivateBus.start();
      c = new VmStateBusClient();
      c.on("error", () => {});
      await c.connect(bus.address);
      dir = mkdtempSync(join(tmpdir(), "vmstate-gdbus-"));
    });
    after(async () => {
      c.disconnect();
      await bus.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("list, Save and Load round trip byte for byte", async () => {
      try {
        const a = await bus.helper({
          impl: "gdbus",
          id: "idA",
          payload: "prng:seed:100000",
          loadOut: join(dir, "a.bin"),
        });
        const b = await bus.helper({ impl: "gdbus", id: "idB" });
        assert.equal(a.ready.request_name_reply, 1);
        assert.equal(b.ready.request_name_reply, 2);
        const hs = await c.listHelpers();
        assert.deepEqual(
          hs.map((h) => [h.uniqueName, h.id, h.primary, h.pid]),
          [
            [a.uniqueName, "idA", true, a.pid],
            [b.uniqueName, "idB", false, b.pid],
          ],
        );
        assert.match(hs[0]!.cmdline!, /gdbus_helper\.py/);
        const s = await c.save(a.uniqueName);
        assert.equal(s.bytes.length, 100000);
        assert.equal(sha(s.bytes), a.ready.payload_sha256);
        const sb = await c.save(b.uniqueName);
        assert.deepEqual(Buffer.from(sb.bytes), Buffer.from("I'am\0idB!\0", "latin1"));
        await c.load(a.uniqueName, s.bytes);
        const ev = await a.waitFor((e) => e.event === "Load");
        assert.equal(ev.matches_own_payload, true);
        assert.deepEqual(readFileSync(join(dir, "a.bin")), Buffer.from(s.bytes));
        await c.load(b.uniqueName, new Uint8Array(0)); // an empty ay is still a valid call
        assert.equal((await b.waitFor((e) => e.event === "Load")).len, 0);
        // no limit on the Save time: how fast a Save is on a loaded machine is not this test's business
        const r = await c.check({ slowMs: NO_TIME_LIMIT });
        assert.equal(r.ok, true, JSON.stringify(r));
      } finally {
        await bus.stopHelpers();
      }
    });

    test("failing, slow, Id-less and exiting GDBus helpers", async () => {
      try {
        const fail = await bus.helper({ impl: "gdbus", id: "f", mode: "fail" });
        const slow = await bus.helper({ impl: "gdbus", id: "s", mode: "slow", delayMs: 600 });
        const noid = await bus.helper({ impl: "gdbus", id: "n", mode: "noid" });
        const empty = await bus.helper({ impl: "gdbus", id: "e", payload: "empty" });
        const r = await c.check({ slowMs: 300 });
        const failed = (u: string) => failedRules(r, u, 300);
        assert.deepEqual(failed(fail.uniqueName), ["save-answers"]);
        assert.deepEqual(failed(slow.uniqueName), []);
        savedSlowly(r, slow.uniqueName, 600);
        assert.deepEqual(failed(noid.uniqueName), ["id-present"]);
        assert.deepEqual(failed(empty.uniqueName), ["not-empty"]);
        await assert.rejects(
          c.save(fail.uniqueName),
          (e: unknown) =>
            e instanceof BusError &&
            e.dbusName === "org.qemu.VMState1.Error.Failed" &&
            /gdbus helper told to fail/.test(e.message),
        );
        await assert.rejects(
          c.save(slow.uniqueName, { timeoutMs: 100 }),
          (e: unknown) => e instanceof BusError && e.kind === "timeout",
        );
        const quit = await bus.helper({ impl: "gdbus", id: "q", mode: "exit-during-save" });
        await assert.rejects(c.save(quit.uniqueName), (e: unknown) => e instanceof BusError && e.kind === "vanished");
      } finally {
        await bus.stopHelpers();
      }
    });
  },
);

describe("vmstate bus (CLI)", { skip: hasDbusDaemon() ? false : "needs dbus-daemon" }, () => {
  let bus: PrivateBus;
  let dir: string;
  before(async () => {
    bus = await PrivateBus.start();
    dir = mkdtempSync(join(tmpdir(), "vmstate-cli-"));
  });
  after(async () => {
    await bus.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("usage errors exit 2", async () => {
    assert.equal((await cli([])).code, 2);
    assert.equal((await cli(["frob", "--address", bus.address])).code, 2);
    assert.match((await cli(["list"])).stderr, /--address is required/);
    assert.equal((await cli(["save", "--address", bus.address, "-o", "x"])).code, 2);
    assert.equal((await cli(["save", "--address", bus.address, "--id", "a"])).code, 2);
    assert.equal((await cli(["load", "--address", bus.address, "--id", "a"])).code, 2);
    assert.equal((await cli(["list", "--address", bus.address, "--bogus"])).code, 2);
    const help = await cli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /vmstate bus check/);
  });

  test("the shipped command line (dist/cli.js loads the bus group from dist/cli-bus.js) lists and saves", async () => {
    try {
      const a = await bus.helper({ id: "idA", payload: "prng:x:3000" });
      const run = promisify(execFile);
      const cliJs = join(__dirname, "../../../dist/cli.js");
      const l = await run(process.execPath, [cliJs, "bus", "list", "--address", bus.address, "--json"]);
      assert.deepEqual(
        (JSON.parse(l.stdout) as Array<{ id: string }>).map((h) => h.id),
        ["idA"],
      );
      const out = join(dir, "shipped.bin");
      await run(process.execPath, [cliJs, "bus", "save", "--address", bus.address, "--id", "idA", "-o", out]);
      assert.equal(sha(readFileSync(out)), a.ready.payload_sha256);
      // a usage error raised in the group's bundle still exits 2 with its message
      await assert.rejects(run(process.execPath, [cliJs, "bus", "list"]), (e: { code: number; stderr: string }) => {
        return e.code === 2 && /--address is required/.test(e.stderr);
      });
    } finally {
      await bus.stopHelpers();
    }
  });

  test("no helpers: list is empty, check passes with a hint", async () => {
    const l = await cli(["list", "--address", bus.address, "--json"]);
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(JSON.parse(l.stdout), []);
    const t = await cli(["list", "--address", bus.address]);
    assert.match(t.stdout, /no helpers\nNo connection owns org\.qemu\.VMState1/);
    const ch = await cli(["check", "--address", bus.address]);
    assert.equal(ch.code, 0);
  });

  test("list, save, load, check against dbus-next and GDBus helpers", async () => {
    try {
      const a = await bus.helper({ id: "idA", payload: "prng:x:5000" });
      const b = await bus.helper({
        impl: hasPythonGi() ? "gdbus" : "dbus-next",
        id: "idB",
        loadOut: join(dir, "b.loaded"),
      });
      const l = await cli(["list", "--address", bus.address, "--json"]);
      assert.equal(l.code, 0, l.stderr);
      const list = JSON.parse(l.stdout) as Array<Record<string, unknown>>;
      assert.deepEqual(
        list.map((h) => [h.uniqueName, h.id, h.pid, h.primary]),
        [
          [a.uniqueName, "idA", a.pid, true],
          [b.uniqueName, "idB", b.pid, false],
        ],
      );
      const text = await cli(["list", "--address", bus.address]);
      assert.match(text.stdout, new RegExp(`${a.uniqueName.replace(".", "\\.")}  primary  id="idA"  pid=${a.pid}`));

      const out = join(dir, "a.bin");
      const s = await cli(["save", "--address", bus.address, "--id", "idA", "-o", out]);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stderr, /saved "idA" \(:1\.\d+\): 5000 bytes \(4\.9 KiB\) in \d+ ms/);
      assert.equal(sha(readFileSync(out)), a.ready.payload_sha256);

      const ld = await cli(["load", "--address", bus.address, "--id", "idB", "--from", out]);
      assert.equal(ld.code, 0, ld.stderr);
      assert.deepEqual(readFileSync(join(dir, "b.loaded")), readFileSync(out));
      const byName = await cli(["save", "--address", bus.address, "--name", b.uniqueName, "-o", join(dir, "b.bin")]);
      assert.equal(byName.code, 0, byName.stderr);
      // -o onto a symbolic link: refused, the link and its target untouched
      const victim = join(dir, "victim.txt");
      writeFileSync(victim, "keep");
      symlinkSync(victim, join(dir, "link.bin"));
      const viaLink = await cli(["save", "--address", bus.address, "--id", "idA", "-o", join(dir, "link.bin")]);
      assert.equal(viaLink.code, 2, viaLink.stderr);
      assert.match(viaLink.stderr, /symbolic link/);
      assert.equal(readFileSync(victim, "utf8"), "keep");
      assert.ok(lstatSync(join(dir, "link.bin")).isSymbolicLink());

      const missing = await cli(["save", "--address", bus.address, "--id", "nope", "-o", out]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no helper with Id "nope" on this bus \(helpers: "idA", "idB"\)/);
      const noFile = await cli(["load", "--address", bus.address, "--id", "idB", "--from", join(dir, "absent")]);
      assert.equal(noFile.code, 1);
      assert.match(noFile.stderr, /ENOENT/);

      const ok = await cli(["check", "--address", bus.address, "--json", "--slow-ms", String(NO_TIME_LIMIT)]);
      assert.equal(ok.code, 0, ok.stdout);
      assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true);

      await bus.helper({ id: "idA", mode: "fail" }); // duplicate Id, failing Save
      const bad = await cli(["check", "--address", bus.address]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /some rules FAIL/);
      assert.match(bad.stdout, /FAIL Id unique on the bus\s+also used by/);
      assert.match(bad.stdout, /FAIL Save answers with an ay\s+Save on :1\.\d+: org\.qemu\.VMState1\.Error\.Failed/);
      const dup = await cli(["save", "--address", bus.address, "--id", "idA", "-o", out]);
      assert.equal(dup.code, 1);
      assert.match(dup.stderr, /is used by :1\.\d+, :1\.\d+; pick one with --name/);
    } finally {
      await bus.stopHelpers();
    }
  });

  test("connection problems exit 1 with a clear message", async () => {
    const r = await cli(["list", "--address", `unix:path=${dir}/none.sock`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such socket \(ENOENT\)/);
    const ab = await cli(["list", "--address", "unix:abstract=/tmp/x"]);
    assert.equal(ab.code, 1);
    assert.match(ab.stderr, /usocket/);
    const to = await cli(["save", "--address", bus.address, "--id", "a", "-o", "x", "--timeout", "soon"]);
    assert.equal(to.code, 2);
  });
});
