// The QMP client against real QEMU 7.2 (TCG): greeting, negotiation, ids, events, QEMU's error
// text; and the failures a user meets (wrong path, a socket that is not QMP: a real dbus-daemon,
// QEMU exiting). A tiny fake server only for protocol edge cases QEMU cannot be made to produce.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  QmpClient,
  QmpCommandError,
  QmpConnectionError,
  parseQmpAddress,
  formatQmpAddress,
  queryVmInfo,
} from "../../src/qmp";
import { QemuProcess, hasQemu, QEMU } from "../helpers/qemuProcess";
import { PrivateBus, hasDbusDaemon } from "../helpers/dbusDaemon";

const skip = hasQemu() ? false : `needs ${QEMU} (apt-get install qemu-system-x86)`;
if (skip && process.env.CI) throw new Error(`QMP tests cannot run in CI: ${skip}`);

test("addresses: unix paths and tcp host:port, as QEMU's -qmp spells them", () => {
  assert.deepEqual(parseQmpAddress("/run/q.sock"), { kind: "unix", path: "/run/q.sock" });
  assert.deepEqual(parseQmpAddress("unix:/run/q.sock,server=on,wait=off"), { kind: "unix", path: "/run/q.sock" });
  assert.deepEqual(parseQmpAddress("unix:path=/run/q.sock"), { kind: "unix", path: "/run/q.sock" });
  assert.deepEqual(parseQmpAddress("q.sock"), { kind: "unix", path: "q.sock" });
  assert.deepEqual(parseQmpAddress("tcp:127.0.0.1:4444"), { kind: "tcp", host: "127.0.0.1", port: 4444 });
  assert.deepEqual(parseQmpAddress("localhost:4444"), { kind: "tcp", host: "localhost", port: 4444 });
  assert.deepEqual(parseQmpAddress("[::1]:4444"), { kind: "tcp", host: "::1", port: 4444 });
  assert.equal(formatQmpAddress({ kind: "tcp", host: "::1", port: 4444 }), "tcp:[::1]:4444");
  assert.throws(() => parseQmpAddress("tcp:host:99999"), /out of range/);
  assert.throws(() => parseQmpAddress("  "), /empty/);
});

describe("real QEMU", { skip, timeout: 120_000 }, () => {
  let qemu: QemuProcess;
  let client: QmpClient;
  before(async () => {
    qemu = await QemuProcess.start({ name: "unit-vm" });
    client = await QmpClient.connect(qemu.qmp);
  });
  after(async () => {
    client?.close();
    await qemu?.stop();
  });

  test("greeting: QEMU's version, as qemu-system-x86_64 --version says", () => {
    const v = spawnSync(QEMU, ["--version"], { encoding: "utf8" }).stdout;
    const m = /version (\d+)\.(\d+)\.(\d+)/.exec(v)!;
    assert.deepEqual(client.version.qemu, { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]) });
    assert.ok(client.serverCapabilities.includes("oob"));
  });

  test("commands in flight at once get their own answers (ids)", async () => {
    const [name, status, target, name2] = await Promise.all([
      client.execute<{ name: string }>("query-name"),
      client.execute<{ status: string }>("query-status"),
      client.execute<{ arch: string }>("query-target"),
      client.execute<{ name: string }>("query-name"),
    ]);
    assert.equal(name.name, "unit-vm");
    assert.equal(name2.name, "unit-vm");
    assert.equal(status.status, "prelaunch");
    assert.equal(target.arch, "x86_64");
  });

  test("errors carry QEMU's class and desc", async () => {
    await assert.rejects(client.execute("qom-get", { path: "/nope", property: "type" }), (e: unknown) => {
      assert.ok(e instanceof QmpCommandError);
      assert.equal(e.errorClass, "DeviceNotFound");
      assert.match(e.desc, /\/nope/);
      return true;
    });
    await assert.rejects(
      client.execute("no-such-command"),
      (e: unknown) =>
        e instanceof QmpCommandError && e.errorClass === "CommandNotFound" && /no-such-command/.test(e.desc),
    );
    // the connection is still usable afterwards
    assert.equal((await client.execute<{ status: string }>("query-status")).status, "prelaunch");
  });

  test("events: cont and stop are seen as RESUME and STOP", async () => {
    const resume = client.waitForEvent((e) => e.event === "RESUME", 5000);
    await client.execute("cont");
    assert.equal((await resume).event, "RESUME");
    const stop = client.waitForEvent((e) => e.event === "STOP", 5000);
    await client.execute("stop");
    const ev = await stop;
    assert.equal(typeof ev.timestamp?.seconds, "number");
  });

  test("VM info: name, version, machine, run state, capabilities", async () => {
    const info = await queryVmInfo(client);
    assert.equal(info.name, "unit-vm");
    assert.equal(info.machine, "pc-q35-7.2");
    assert.equal(info.machineAlias, "q35");
    assert.equal(info.arch, "x86_64");
    assert.ok(info.capabilities.some((c) => c.capability === "background-snapshot"));
    assert.deepEqual(info.dbusVmstate, []);
    assert.deepEqual(info.warnings, []);
  });

  test("QEMU exiting fails the command in flight and later ones, with a clear message", async () => {
    const q2 = await QemuProcess.start();
    const c2 = await QmpClient.connect(q2.qmp);
    try {
      const closed = new Promise<QmpConnectionError>((r) => c2.onClose(r));
      await c2.execute("quit").catch(() => {});
      assert.match((await closed).message, /QEMU closed the QMP connection/);
      await assert.rejects(c2.execute("query-status"), /QEMU closed the QMP connection/);
    } finally {
      await q2.stop();
    }
  });
});

describe("connection failures", () => {
  test("a socket path that does not exist", async () => {
    await assert.rejects(
      QmpClient.connect("/tmp/vmstate-no-such-dir/qmp.sock"),
      (e: unknown) => e instanceof QmpConnectionError && /no such socket/.test(e.message),
    );
  });

  test("a socket nobody listens on (QEMU gone): connection refused", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-qmp-"));
    const p = path.join(dir, "dead.sock");
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(p, r));
    // close the listener but keep the file: what a killed QEMU leaves behind
    await new Promise<void>((r) => srv.close(() => r()));
    fs.writeFileSync(p, "");
    try {
      await assert.rejects(
        QmpClient.connect(p),
        (e: unknown) => e instanceof QmpConnectionError && /connection refused|not a socket/.test(e.message),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a tcp port where nothing listens", async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await assert.rejects(QmpClient.connect(`127.0.0.1:${port}`), /connection refused/);
  });

  test(
    "a real socket that is not QMP: a dbus-daemon (waits for the client to speak): no greeting",
    { skip: hasDbusDaemon() ? false : "needs dbus-daemon" },
    async () => {
      const bus = await PrivateBus.start();
      try {
        // the message comes from the 700 ms timer: no wall-clock bound of the test's own needed
        await assert.rejects(
          QmpClient.connect(bus.address, { timeoutMs: 700 }),
          (e: unknown) => e instanceof QmpConnectionError && /sent no QMP greeting within 700 ms/.test(e.message),
        );
      } finally {
        await bus.stop();
      }
    },
  );
});

/** A fake QMP peer for protocol edge cases only: serve(socket) scripts what it sends. */
async function fake(serve: (s: net.Socket) => void): Promise<{ path: string; close(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-fakeqmp-"));
  const p = path.join(dir, "fake.sock");
  // resume(): a server socket nobody reads from never sees the client's close
  const srv = net.createServer((s) => {
    s.on("error", () => {});
    if (!s.listenerCount("data")) s.resume();
    serve(s);
  });
  await new Promise<void>((r) => srv.listen(p, r));
  return {
    path: p,
    close: () =>
      new Promise<void>((r) =>
        srv.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          r();
        }),
      ),
  };
}

const GREETING =
  JSON.stringify({ QMP: { version: { qemu: { major: 9, minor: 1, micro: 0 }, package: "" }, capabilities: [] } }) +
  "\r\n";

/** Answers each command line by its id, after the hook has had its say. */
function answering(hook: (cmd: { execute: string; id: string }, s: net.Socket) => boolean) {
  return (s: net.Socket) => {
    s.write(GREETING);
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const cmd = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (!hook(cmd, s)) s.write(JSON.stringify({ return: {}, id: cmd.id }) + "\r\n");
      }
    });
  };
}

describe("protocol edge cases (fake peer)", () => {
  test("something that greets with text, not QMP", async () => {
    const f = await fake((s) => s.write("220 smtp.example ESMTP\r\n"));
    try {
      await assert.rejects(
        QmpClient.connect(f.path),
        /is not a QMP socket: its first line is "220 smtp.example ESMTP"/,
      );
    } finally {
      await f.close();
    }
  });

  test("a greeting split across writes, events and replies interleaved, answers out of order", async () => {
    let held: { id: string } | undefined;
    const f = await fake(
      answering((cmd, s) => {
        if (cmd.execute === "slow") {
          held = cmd;
          return true;
        }
        if (cmd.execute === "fast") {
          s.write(JSON.stringify({ event: "X", data: { n: 1 }, timestamp: { seconds: 1, microseconds: 2 } }) + "\r\n");
          s.write(
            JSON.stringify({ return: "fast", id: cmd.id }) +
              "\r\n" +
              JSON.stringify({ return: "slow", id: held!.id }).slice(0, 10),
          );
          setTimeout(() => s.write(JSON.stringify({ return: "slow", id: held!.id }).slice(10) + "\r\n"), 20);
          return true;
        }
        return false;
      }),
    );
    try {
      const c = await QmpClient.connect(f.path);
      const events: string[] = [];
      c.onEvent((e) => events.push(e.event));
      const slow = c.execute("slow");
      const fast = await c.execute("fast");
      assert.equal(fast, "fast");
      assert.equal(await slow, "slow");
      assert.deepEqual(events, ["X"]);
      assert.equal(c.version.qemu.major, 9);
      c.close();
    } finally {
      await f.close();
    }
  });

  test("the peer closes with a command in flight; a reply with neither return nor error", async () => {
    const f = await fake(
      answering((cmd, s) => {
        if (cmd.execute === "weird") {
          s.write(JSON.stringify({ id: cmd.id, surprise: 1 }) + "\r\n");
          return true;
        }
        if (cmd.execute === "die") {
          s.destroy();
          return true;
        }
        return false;
      }),
    );
    try {
      const c = await QmpClient.connect(f.path);
      await assert.rejects(c.execute("weird"), /neither "return" nor "error"/);
      await assert.rejects(
        c.execute("die"),
        (e: unknown) => e instanceof QmpConnectionError && /closed the QMP connection/.test(e.message),
      );
    } finally {
      await f.close();
    }
  });

  test("a peer that never answers qmp_capabilities times out; one that floods a line without end is cut off", async () => {
    const silent = await fake((s) => s.write(GREETING));
    try {
      await assert.rejects(QmpClient.connect(silent.path, { timeoutMs: 300 }), /no answer to qmp_capabilities within/);
    } finally {
      await silent.close();
    }
    const flood = await fake((s) => {
      const junk = Buffer.alloc(1 << 20, 0x41);
      let n = 0;
      const more = () => {
        while (n++ < 40) if (!s.write(junk)) return void s.once("drain", more);
      };
      s.on("error", () => {});
      more();
    });
    try {
      await assert.rejects(QmpClient.connect(flood.path, { timeoutMs: 10_000 }), /longer than|not a QMP/);
    } finally {
      await flood.close();
    }
  });
});
