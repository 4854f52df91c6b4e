// The shape of the "D-Bus helpers" tree (plain data, no vscode) and the fallback hex preview.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  children,
  newConnection,
  remember,
  roots,
  shortAddress,
  type ExplorerState,
  type TreeNode,
} from "../../src/bus/busTreeModel";
import { hexdump } from "../../src/bus/hexdump";
import type { BusHelper } from "../../src/bus/client";
import { checkId, checkSave } from "../../src/bus/rules";

const helper = (n: number, id: string | null, extra: Partial<BusHelper> = {}): BusHelper => ({
  uniqueName: `:1.${n}`,
  id,
  pid: 100 + n,
  cmdline: `helper --id ${id}`,
  primary: n === 1,
  position: n - 1,
  ...extra,
});

test("disconnected: configured then recent addresses, no duplicates", () => {
  const s: ExplorerState = { configured: ["unix:path=/a", "unix:path=/b"], recent: ["unix:path=/b", "tcp:port=5"] };
  const r = roots(s);
  assert.deepEqual(
    r.map((n) => n.kind === "bus" && [n.address, n.source, n.status]),
    [
      ["unix:path=/a", "configured", "idle"],
      ["unix:path=/b", "configured", "idle"],
      ["tcp:port=5", "recent", "idle"],
    ],
  );
  assert.deepEqual(children(s, r[0]!), []);
});

test("connected: the bus first, its helpers, details and check results", () => {
  const c = newConnection("unix:path=/b");
  c.status = "connected";
  const s: ExplorerState = { connection: c, configured: ["unix:path=/b"], recent: [] };
  let [bus] = roots(s);
  assert.equal(roots(s).length, 1);
  assert.equal(bus!.kind === "bus" && bus!.description, "connected");
  assert.deepEqual(
    children(s, bus!).map((n) => n.label),
    ["Listing helpers…"],
  );
  c.helpers = [];
  [bus] = roots(s);
  const none = children(s, bus!);
  assert.equal(none[0]!.label, "No helper owns org.qemu.VMState1");
  assert.match(none[0]!.kind === "info" ? none[0]!.tooltip! : "", /without DO_NOT_QUEUE/);

  c.helpers = [helper(1, "idA"), helper(2, null, { idError: "VMState Id property is missing." })];
  [bus] = roots(s);
  assert.equal(bus!.kind === "bus" && bus!.description, "connected · 2 helpers");
  const hs = children(s, bus!);
  assert.deepEqual(
    hs.map((n) => [n.label, n.kind === "helper" ? n.description : "", n.icon]),
    [
      ["idA", ":1.1 · primary · pid 101", "helper"],
      ["(no Id)", ":1.2 · queued #1 · pid 102", "helper-fail"],
    ],
  );
  const details = (n: TreeNode) => children(s, n).map((d) => `${d.label}=${d.kind === "info" ? d.description : ""}`);
  assert.deepEqual(details(hs[0]!), [
    "Unique name=:1.1",
    "Role=primary owner",
    "PID=101",
    "Command line=helper --id idA",
  ]);
  assert.equal(details(hs[1]!)[0], "Id=VMState Id property is missing.");

  const h = c.helpers[0]!;
  const rules = [...checkId(h, c.helpers), ...checkSave({ ok: true, size: 0, ms: 2 })];
  c.checks.set(h.uniqueName, { helper: h, rules, ok: false });
  c.saves.set(h.uniqueName, { size: 0, ms: 2 });
  const [a] = children(s, roots(s)[0]!);
  assert.equal(a!.kind === "helper" && a!.description, "1 check fails · :1.1 · primary · pid 101");
  assert.equal(a!.icon, "helper-fail");
  const d = children(s, a!);
  assert.ok(d.some((x) => x.label === "Last Save" && x.kind === "info" && x.description === "0 bytes in 2 ms"));
  assert.deepEqual(
    d.filter((x) => x.icon === "fail").map((x) => x.label),
    ["Not empty"],
  );
  c.busy.set(h.uniqueName, "saving");
  assert.match(
    children(s, roots(s)[0]!)[0]!.kind === "helper"
      ? (children(s, roots(s)[0]!)[0] as { description: string }).description
      : "",
    /^saving… · :1\.1 · /,
  );
});

test("lost: a clear way back", () => {
  const c = newConnection("unix:path=/b");
  c.status = "lost";
  c.reason = "the connection to unix:path=/b was closed";
  const s: ExplorerState = { connection: c, configured: [], recent: ["unix:path=/b"] };
  const [bus] = roots(s);
  assert.equal(bus!.icon, "bus-lost");
  const kids = children(s, bus!);
  assert.deepEqual(
    kids.map((k) => k.label),
    ["Connection lost", "Reconnect"],
  );
  assert.equal(kids[1]!.kind === "info" && kids[1]!.command?.command, "qemuVmstate.bus.reconnect");
});

test("ids are stable and unique", () => {
  const c = newConnection("unix:path=/b");
  c.status = "connected";
  c.helpers = [helper(1, "x"), helper(2, "x")];
  const s: ExplorerState = { connection: c, configured: [], recent: [] };
  const ids: string[] = [];
  const walk = (n: TreeNode) => {
    ids.push(n.id);
    children(s, n).forEach(walk);
  };
  roots(s).forEach(walk);
  assert.equal(new Set(ids).size, ids.length);
});

test("recent addresses: most recent first, deduplicated, bounded", () => {
  assert.deepEqual(remember(["a", "b", "c"], "b"), ["b", "a", "c"]);
  assert.deepEqual(remember(["a", "b", "c"], "d", 3), ["d", "a", "b"]);
});

test("hexdump: offsets, hex, text, truncation", () => {
  const b = Buffer.from("I'am\0idA!\0 and more bytes here", "latin1");
  const lines = hexdump(b).trimEnd().split("\n");
  assert.equal(lines[0], "00000000  49 27 61 6d 00 69 64 41  21 00 20 61 6e 64 20 6d  |I'am.idA!. and m|");
  assert.equal(lines.length, 2);
  assert.match(hexdump(new Uint8Array(40), 16), /\.\.\. 24 more bytes not shown/);
  assert.match(hexdump(new Uint8Array(0)), /\(empty\)/);
});

test("bus items are labelled with the socket path (shortened when long) or host:port; tooltips keep the address", () => {
  assert.equal(shortAddress("unix:path=/run/vmstate/bus.sock"), "/run/vmstate/bus.sock");
  assert.equal(shortAddress("unix:path=/tmp/vmstate-e2e-bus.GjoIQf/bus/bus.sock"), "…/bus/bus.sock");
  assert.equal(shortAddress("tcp:host=127.0.0.1,port=4000"), "127.0.0.1:4000");
  assert.equal(shortAddress("unix:abstract=/x"), "unix:abstract=/x");
  assert.equal(shortAddress("unix:path=/a;unix:path=/b"), "unix:path=/a;unix:path=/b");
  const long = "unix:path=/tmp/vmstate-e2e-bus.GjoIQf/bus/bus.sock";
  const [idle] = roots({ configured: [long], recent: [] });
  assert.ok(idle!.kind === "bus" && idle!.label === "…/bus/bus.sock" && idle!.tooltip.startsWith(long));
  const c = newConnection(long);
  c.status = "connected";
  const [cur] = roots({ connection: c, configured: [long], recent: [] });
  assert.ok(cur!.kind === "bus" && cur!.tooltip.startsWith(long));
  assert.notEqual(cur!.id, idle!.id, "the connected bus is a new tree item, so VS Code expands it");
});
