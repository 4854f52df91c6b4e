// VmStateBusClient against a real dbus-daemon on a private socket, with dbus-next helpers written
// in this project (test/helpers/dbusNextHelper.mjs), well-behaved and misbehaving.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VmStateBusClient, type BusHelper } from "../../src/bus/client";
import { BusError } from "../../src/bus/errors";
import { NO_TIME_LIMIT, PrivateBus, failedRules, hasDbusDaemon, savedSlowly } from "../helpers/dbusDaemon";

const skip = hasDbusDaemon() ? false : "dbus-daemon is not installed";
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const qtestBlob = (id: string) => Buffer.from(`I'am\0${id}!\0`, "latin1");

async function connected(bus: PrivateBus): Promise<VmStateBusClient> {
  const c = new VmStateBusClient();
  c.on("error", () => {});
  await c.connect(bus.address);
  return c;
}

async function rejectsWith(p: Promise<unknown>, kind: string, re: RegExp): Promise<BusError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BusError, `expected a BusError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, re);
    return e;
  }
  assert.fail("expected a rejection");
}

describe("bus client on a private dbus-daemon", { skip }, () => {
  let bus: PrivateBus;
  const clients: VmStateBusClient[] = [];
  const use = async () => {
    const c = await connected(bus);
    clients.push(c);
    return c;
  };
  before(async () => {
    bus = await PrivateBus.start();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await bus.stop();
  });

  test("nobody owns the name: an empty list and a hint, not an error", async () => {
    const c = await use();
    assert.deepEqual(await c.listHelpers(), []);
    const r = await c.check();
    assert.equal(r.ok, true);
    assert.deepEqual(r.helpers, []);
    assert.match(r.hint!, /RequestName\("org\.qemu\.VMState1"\) without DO_NOT_QUEUE/);
    // the address the daemon printed (with ,guid=) works too
    const c2 = new VmStateBusClient();
    await c2.connect(bus.printedAddress);
    assert.match(c2.uniqueName!, /^:1\.\d+$/);
    c2.disconnect();
  });

  test("two helpers: Id, unique name, primary/queued, PID and command line; Save and Load", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vmstate-load-"));
    try {
      const a = await bus.helper({ id: "idA" });
      const b = await bus.helper({ id: "idB", loadOut: join(dir, "b.bin") });
      const c = await use();
      const hs = await c.listHelpers();
      assert.deepEqual(
        hs.map((h) => [h.uniqueName, h.id, h.primary, h.position, h.pid]),
        [
          [a.uniqueName, "idA", true, 0, a.pid],
          [b.uniqueName, "idB", false, 1, b.pid],
        ],
      );
      assert.match(hs[0]!.cmdline!, /dbusNextHelper\.mjs --address unix:path=.* --id idA/);

      const s = await c.save(a.uniqueName);
      assert.deepEqual(Buffer.from(s.bytes), qtestBlob("idA"));
      assert.ok(s.ms >= 0 && s.ms < 5000);

      const blob = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7) & 0xff));
      await c.load(b.uniqueName, blob);
      const ev = await b.waitFor((e) => e.event === "Load");
      assert.equal(ev.len, blob.length);
      assert.equal(ev.sha256, sha(blob));
      assert.deepEqual(readFileSync(join(dir, "b.bin")), blob);

      const r = await c.check({ slowMs: NO_TIME_LIMIT });
      assert.equal(r.ok, true, JSON.stringify(r, null, 1));
      assert.deepEqual(
        r.helpers.map((h) => h.save?.size),
        [10, 10],
      );
    } finally {
      await bus.stopHelpers();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("misbehaving helpers: every rule fails where QEMU would", async () => {
    try {
      const hs = {
        slow: await bus.helper({ id: "slow", mode: "slow", delayMs: 1500 }),
        fail: await bus.helper({ id: "fail", mode: "fail" }),
        empty: await bus.helper({ id: "empty", mode: "empty" }),
        big: await bus.helper({ id: "big", mode: "big" }),
        noid: await bus.helper({ id: "noid", mode: "noid" }),
        dup1: await bus.helper({ id: "dup" }),
        dup2: await bus.helper({ id: "dup" }),
        wrong: await bus.helper({ id: "wrong", mode: "wrongtype" }),
        intid: await bus.helper({ id: "intid", mode: "intid" }),
        long: await bus.helper({ id: "L".repeat(256) }),
      };
      const c = await use();
      const r = await c.check({ slowMs: 1000 });
      assert.equal(r.ok, false);
      const failed = (u: string) => failedRules(r, u, 1000);
      assert.deepEqual(failed(hs.slow.uniqueName), []);
      savedSlowly(r, hs.slow.uniqueName, 1500);
      assert.deepEqual(failed(hs.fail.uniqueName), ["save-answers"]);
      assert.deepEqual(failed(hs.empty.uniqueName), ["not-empty"]);
      assert.deepEqual(failed(hs.big.uniqueName), ["size-limit"]);
      assert.deepEqual(failed(hs.noid.uniqueName), ["id-present"]);
      assert.deepEqual(failed(hs.dup1.uniqueName), ["id-unique"]);
      assert.deepEqual(failed(hs.dup2.uniqueName), ["id-unique"]);
      assert.deepEqual(failed(hs.wrong.uniqueName), ["save-answers"]);
      assert.deepEqual(failed(hs.intid.uniqueName), ["id-present"]);
      assert.deepEqual(failed(hs.long.uniqueName), ["id-length"]);
      const msg = (u: string, rule: string) =>
        r.helpers.find((h) => h.helper.uniqueName === u)!.rules.find((x) => x.rule === rule)!.message;
      assert.match(msg(hs.fail.uniqueName, "save-answers"), /org\.qemu\.VMState1\.Error\.Failed: helper told to fail/);
      assert.match(msg(hs.wrong.uniqueName, "save-answers"), /signature 's', expected 'ay'/);
      assert.match(msg(hs.noid.uniqueName, "id-present"), /VMState Id property is missing/);
      assert.match(msg(hs.intid.uniqueName, "id-present"), /type 'u', expected 's'/);
      assert.match(msg(hs.big.uniqueName, "size-limit"), /1048577 bytes .* over 1 MiB/);

      // the same failures from single calls
      await rejectsWith(
        c.save(hs.fail.uniqueName),
        "dbus",
        /Save on :1\.\d+: org\.qemu\.VMState1\.Error\.Failed: helper told to fail/,
      );
      await rejectsWith(c.save(hs.wrong.uniqueName), "wrong-type", /expected 'ay'/);
      const answered = () => hs.slow.events.filter((e) => e.event === "SaveAnswered").length;
      const before = answered();
      await rejectsWith(c.save(hs.slow.uniqueName, { timeoutMs: 150 }), "timeout", /no reply within 150 ms/);
      // a late reply after a timeout is dropped and the connection keeps working (the helper says
      // when it has answered: no guessed sleep)
      await hs.slow.waitFor(() => answered() > before, 10_000);
      assert.equal((await c.save(hs.empty.uniqueName)).bytes.length, 0);
      assert.equal((await c.save(hs.big.uniqueName)).bytes.length, 1024 * 1024 + 1);
      await rejectsWith(c.save("org.qemu.VMState1"), "usage", /not a unique connection name/);
    } finally {
      await bus.stopHelpers();
    }
  });

  test("a helper that exits during Save, and one that is already gone", async () => {
    try {
      const h = await bus.helper({ id: "quitter", mode: "exit-during-save" });
      const c = await use();
      await rejectsWith(c.save(h.uniqueName), "vanished", /left the bus without replying .*NoReply/);
      assert.ok(await h.exited());
      await rejectsWith(c.save(h.uniqueName), "vanished", /no longer on the bus/);
      assert.deepEqual(await c.listHelpers(), []);
    } finally {
      await bus.stopHelpers();
    }
  });

  test("live updates: ownersChanged when helpers join the queue and leave", async () => {
    const c = await use();
    await c.watch();
    const next = () => new Promise<string[]>((resolve) => c.once("ownersChanged", resolve));
    try {
      let p = next();
      const a = await bus.helper({ id: "w1" });
      assert.deepEqual(await p, [a.uniqueName]);
      p = next();
      const b = await bus.helper({ id: "w2" }); // only queued: no NameOwnerChanged for the name
      assert.deepEqual(await p, [a.uniqueName, b.uniqueName]);
      p = next();
      await b.stop(); // a queued owner leaves
      assert.deepEqual(await p, [a.uniqueName]);
      p = next();
      await a.stop();
      assert.deepEqual(await p, []);
    } finally {
      await bus.stopHelpers();
    }
  });

  test("connection failures are clear messages", async () => {
    const c = new VmStateBusClient({ connectTimeoutMs: 2000 });
    await rejectsWith(
      c.connect(`unix:path=${bus.dir}/nope.sock`),
      "connect",
      /cannot connect to unix:path=.*nope\.sock: no such socket \(ENOENT\)/,
    );
    await rejectsWith(c.connect("tcp:host=127.0.0.1,port=1"), "connect", /connection refused \(ECONNREFUSED\)/);
    await rejectsWith(c.connect("unix:abstract=/tmp/dbus-test"), "address", /usocket/);
    await rejectsWith(c.connect("nonsense"), "address", /not a D-Bus address/);
    await rejectsWith(
      c.connect(`unix:path=${bus.dir}/nope.sock;${bus.address}`).then(() => c.listHelpers()),
      "never",
      /x/,
    ).catch((e: unknown) => {
      assert.ok(!(e instanceof BusError), "the second address of a list connects");
    });
    assert.equal(c.state, "connected");
    c.disconnect();
    assert.equal(c.state, "disconnected");
    await rejectsWith(c.listHelpers(), "closed", /not connected/);
    await rejectsWith(new VmStateBusClient().connectSession({}), "connect", /DBUS_SESSION_BUS_ADDRESS is not set/);
  });
});

describe("the bus going away", { skip }, () => {
  test("pending calls fail with 'closed', 'close' is emitted, reconnecting to a new bus works", async () => {
    const bus = await PrivateBus.start();
    try {
      const h = await bus.helper({ id: "slowpoke", mode: "slow", delayMs: 5000 });
      const c = await connected(bus);
      const closed = new Promise<{ reason: string; expected: boolean }>((r) => c.once("close", r));
      const pending = rejectsWith(c.save(h.uniqueName), "closed", /closed/);
      await h.waitFor((e) => e.event === "Save");
      await bus.stopDaemon();
      await pending;
      const ev = await closed;
      assert.equal(ev.expected, false);
      assert.equal(c.state, "disconnected");
      await rejectsWith(c.listHelpers(), "closed", /not connected/);
      const bus2 = await PrivateBus.start();
      try {
        await c.connect(bus2.address);
        const hs: BusHelper[] = await c.listHelpers();
        assert.deepEqual(hs, []);
        c.disconnect();
      } finally {
        await bus2.stop();
      }
    } finally {
      await bus.stop();
    }
  });

  test("a socket that is not a bus: a clear timeout, no hang", async () => {
    const net = await import("node:net");
    const dir = mkdtempSync(join(tmpdir(), "vmstate-notbus-"));
    const conns: Array<{ destroy(): void }> = [];
    const server = net.createServer((s) => void conns.push(s)); // accepts, never speaks
    await new Promise<void>((r) => server.listen(join(dir, "s.sock"), r));
    try {
      const c = new VmStateBusClient({ connectTimeoutMs: 300 });
      await rejectsWith(c.connect(`unix:path=${join(dir, "s.sock")}`), "connect", /no answer within 300 ms/);
      const server2 = net.createServer((s) => s.end()); // accepts and hangs up
      await new Promise<void>((r) => server2.listen(join(dir, "t.sock"), r));
      await rejectsWith(
        new VmStateBusClient({ connectTimeoutMs: 3000 }).connect(`unix:path=${join(dir, "t.sock")}`),
        "connect",
        /closed the connection during the handshake/,
      );
      server2.close();
    } finally {
      for (const s of conns) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
