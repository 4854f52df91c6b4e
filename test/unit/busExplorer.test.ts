// The explorer's commands end to end against a private bus, with a stand-in for the vscode API
// (the extension-host tests of the real UI come with the code-server harness).
import { recorded, fakeContext } from "../helpers/fakeVscode"; // first: it provides require("vscode")
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as vscode from "vscode";
import { registerBusExplorer, type BusExplorerApi } from "../../src/bus/busExplorer";
import type { HelperNode } from "../../src/bus/busTreeModel";
import { PrivateBus, hasDbusDaemon } from "../helpers/dbusDaemon";
import { waitUntil } from "./helpers";

const run = (id: string, ...args: unknown[]) => recorded.commands.get(id)!(...args) as Promise<unknown>;
const until = (cond: () => boolean, ms = 5000) => waitUntil(cond, "condition", ms);

describe("bus explorer commands", { skip: hasDbusDaemon() ? false : "needs dbus-daemon" }, () => {
  let bus: PrivateBus;
  let api: BusExplorerApi;
  let ctx: ReturnType<typeof fakeContext>;
  let dir: string;
  const blobs: Array<{ title: string; bytes: Uint8Array }> = [];
  const streamBlobs = new Map<string, Uint8Array>();
  before(async () => {
    bus = await PrivateBus.start();
    dir = mkdtempSync(join(tmpdir(), "vmstate-explorer-"));
    ctx = fakeContext();
    recorded.config["qemuVmstate.bus.addresses"] = [bus.address, "unix:abstract=/nope"];
    api = registerBusExplorer(ctx as unknown as vscode.ExtensionContext, {
      showBlob: async (title, bytes) => void blobs.push({ title, bytes }),
      findStreamHelper: async (id) =>
        streamBlobs.has(id) ? { file: "/x/test.vmstate", bytes: streamBlobs.get(id)! } : undefined,
    });
  });
  after(async () => {
    for (const d of ctx.subscriptions) d.dispose();
    await bus.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("disconnected: the configured addresses are listed, nothing is connected", () => {
    assert.deepEqual(
      api.roots().map((n) => n.kind === "bus" && [n.address, n.status]),
      [
        [bus.address, "idle"],
        ["unix:abstract=/nope", "idle"],
      ],
    );
    assert.equal(recorded.treeViews[0]!.description, "not connected");
    assert.equal(recorded.context.get("qemuVmstate.bus.streamsAvailable"), true);
  });

  test("a bad address from settings is an error message, not a crash", async () => {
    recorded.reset();
    await run("qemuVmstate.bus.connectAddress", "unix:abstract=/nope");
    assert.match(recorded.messages[0]!.text, /^Connect to bus: unix:abstract= sockets cannot be opened here/);
    assert.equal(api.state.connection, undefined);
  });

  test("connect via the quick pick and input box (validated), live helpers, Save, Load, Compare, Check", async () => {
    recorded.reset();
    recorded.quickPicks.push((items) => items.find((i) => i.label.includes("Enter an address")));
    recorded.inputBoxes.push(bus.address);
    await run("qemuVmstate.bus.connect");
    assert.equal(api.state.connection?.status, "connected");
    assert.equal(recorded.context.get("qemuVmstate.bus.connected"), true);
    assert.deepEqual(
      api.children(api.roots()[0]!).map((n) => n.label),
      ["No helper owns org.qemu.VMState1"],
    );

    const a = await bus.helper({ id: "idA", loadOut: join(dir, "a.loaded") });
    await until(() => api.state.connection?.helpers?.length === 1);
    const b = await bus.helper({ id: "idB", mode: "fail" });
    await until(() => api.state.connection?.helpers?.length === 2);
    const [na, nb] = api.children(api.roots()[0]!) as HelperNode[];
    assert.equal(na!.label, "idA");
    assert.match(na!.description, /primary · pid \d+/);

    recorded.reset();
    recorded.answers.push(undefined);
    const saved = (await run("qemuVmstate.bus.save", na)) as { bytes: Uint8Array };
    assert.deepEqual(Buffer.from(saved.bytes), Buffer.from("I'am\0idA!\0", "latin1"));
    assert.equal(blobs.at(-1)!.title, `"idA" · Save from ${a.uniqueName}`);
    assert.match(recorded.messages[0]!.text, /^Saved "idA": 10 bytes in \d+ ms\.$/);
    assert.deepEqual(recorded.messages[0]!.items, ["Export..."]);

    recorded.reset();
    assert.equal(await run("qemuVmstate.bus.save", nb), undefined);
    assert.match(
      recorded.messages[0]!.text,
      /^Save: Save on :1\.\d+: org\.qemu\.VMState1\.Error\.Failed: helper told to fail/,
    );
    assert.match(
      api.children(nb!).map((n) => `${n.label}: ${n.kind === "info" ? n.description : ""}`)[0]!,
      /^Error: .*helper told to fail/,
    );

    // Load from a file: the confirmation names the helper, the bus and the size
    const file = join(dir, "in.bin");
    writeFileSync(file, Buffer.from("new state"));
    const asked: string[] = [];
    api.ui.confirm = async (m) => (asked.push(m), false);
    assert.equal(await run("qemuVmstate.bus.loadFromFile", na, { fsPath: file }), false);
    assert.equal(asked[0], `Load 9 bytes into helper "idA" (${a.uniqueName}) on ${bus.address}?`);
    api.ui.confirm = async () => true;
    assert.equal(await run("qemuVmstate.bus.loadFromFile", na, { fsPath: file }), true);
    assert.equal(readFileSync(join(dir, "a.loaded"), "utf8"), "new state");

    // Load from an open stream's entry of the same Id
    streamBlobs.set("idA", Buffer.from("from the stream"));
    assert.equal(await run("qemuVmstate.bus.loadFromStream", na), true);
    assert.equal(readFileSync(join(dir, "a.loaded"), "utf8"), "from the stream");

    // Compare the live Save with the stream
    recorded.reset();
    streamBlobs.set("idA", Buffer.from("I'am\0idA!\0", "latin1"));
    assert.deepEqual(await run("qemuVmstate.bus.compare", na), { equal: true, size: 10 });
    streamBlobs.set("idA", Buffer.from("I'am\0idX!\0", "latin1"));
    const diff = (await run("qemuVmstate.bus.compare", na)) as { equal: boolean; offset: number };
    assert.equal(diff.offset, 7);
    assert.match(recorded.messages.at(-1)!.text, /differ: first difference at offset 7/);
    recorded.reset();
    assert.equal(await run("qemuVmstate.bus.compare", nb), undefined);
    assert.match(recorded.messages[0]!.text, /no open \.vmstate stream has a helper blob with Id "idB"/);

    // Check: report document, per-rule items on the helpers
    recorded.reset();
    const report = (await run("qemuVmstate.bus.check")) as { ok: boolean };
    assert.equal(report.ok, false);
    assert.match(recorded.documents[0]!, /FAIL idB [^\n]*\n(?:[^\n]*\n){3}\s+FAIL Save answers with an ay/);
    assert.match(recorded.messages.at(-1)!.text, /1 of 2 helper\(s\) break a rule/);
    const [ca, cb] = api.children(api.roots()[0]!) as HelperNode[];
    assert.equal(ca!.icon, "helper-pass");
    assert.equal(cb!.icon, "helper-fail");
    assert.ok(api.children(cb!).some((n) => n.label === "Save answers with an ay" && n.icon === "fail"));

    // a helper leaving disappears from the tree
    await b.stop();
    await until(() => api.state.connection?.helpers?.length === 1);
    await a.stop();
    await until(() => api.state.connection?.helpers?.length === 0);
    // the address is remembered
    assert.equal(api.state.recent[0], bus.address);
  });

  test("the bus going away: connection lost, a warning with Reconnect, and Reconnect works", async () => {
    const bus2 = await PrivateBus.start();
    try {
      await run("qemuVmstate.bus.connectAddress", bus2.address);
      assert.equal(api.state.connection?.address, bus2.address);
      recorded.reset();
      recorded.answers.push(undefined);
      await bus2.stopDaemon();
      await until(() => api.state.connection?.status === "lost");
      assert.match(recorded.messages[0]!.text, /lost the connection to/);
      assert.deepEqual(recorded.messages[0]!.items, ["Reconnect"]);
      assert.equal(recorded.treeViews[0]!.description, "connection lost");
      assert.deepEqual(
        api.children(api.roots()[0]!).map((n) => n.label),
        ["Connection lost", "Reconnect"],
      );
      recorded.reset();
      assert.equal(await run("qemuVmstate.bus.save", ":1.1"), undefined);
      assert.match(recorded.messages[0]!.text, /not connected to a bus/);
      recorded.reset();
      await run("qemuVmstate.bus.reconnect"); // the daemon is gone: a clear error
      assert.match(recorded.messages[0]!.text, /^Reconnect: cannot connect to .*no such socket|connection refused/);
      await run("qemuVmstate.bus.connectAddress", bus.address);
      assert.equal(api.state.connection?.status, "connected");
      await run("qemuVmstate.bus.disconnect");
      assert.equal(api.state.connection, undefined);
      assert.equal(recorded.context.get("qemuVmstate.bus.connected"), false);
    } finally {
      await bus2.stop();
    }
  });
});
