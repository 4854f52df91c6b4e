// The QEMU view's tree (pure model) built from what a real QEMU 7.2 reports.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { QmpClient, queryVmInfo, type VmInfo } from "../../src/qmp";
import { childNodes, rootNode } from "../../src/qemuView/qemuTreeModel";
import { QemuProcess, hasQemu, QEMU } from "../helpers/qemuProcess";
import { PrivateBus, hasDbusDaemon } from "../helpers/dbusDaemon";

const skip = hasQemu() && hasDbusDaemon() ? false : `needs ${QEMU} and dbus-daemon`;

describe("QEMU view tree", { skip }, () => {
  let q: QemuProcess;
  let info: VmInfo;
  let bus: PrivateBus;
  before(async () => {
    bus = await PrivateBus.start(); // QEMU's dbus-vmstate connects to its bus at start-up
    q = await QemuProcess.start({ name: "tree-vm", dbusAddr: bus.address });
    const c = await QmpClient.connect(q.qmp);
    info = await queryVmInfo(c);
    c.close();
  });
  after(async () => {
    await q?.stop();
    await bus?.stop();
  });

  test("idle, failed and lost roots say so and connect on click", () => {
    const idle = rootNode({ address: "/x.sock", status: "idle" });
    assert.equal(idle.label, "/x.sock");
    assert.equal(
      rootNode({ address: "/tmp/vmstate-demo.AbCdEf/some/qmp-vm.sock", status: "idle" }).label,
      ".../some/qmp-vm.sock",
    );
    assert.equal(idle.description, "not connected");
    assert.deepEqual(idle.command?.args, ["/x.sock"]);
    assert.equal(rootNode({ address: "/x.sock", status: "idle", error: "boom" }).description, "failed: boom");
    const lost = rootNode({ address: "/x.sock", status: "lost", error: "QEMU closed the QMP connection" });
    assert.match(lost.description!, /^disconnected: QEMU closed/);
    assert.equal(lost.command?.command, "qemuVmstate.qmp.connectAddress");
    assert.deepEqual(childNodes({ address: "/x.sock", status: "idle" }, idle), []);
  });

  test("a connected VM: name, version, machine, run state, migration, capabilities, dbus-vmstate linked to its bus", () => {
    const s = { address: q.qmp, status: "connected" as const, info };
    const root = rootNode(s);
    assert.equal(root.label, "tree-vm");
    assert.match(root.description!, /^prelaunch · QEMU 7\.2\.\d+ · /);
    assert.equal(root.command, undefined);
    const kids = childNodes(s, root);
    const d = Object.fromEntries(kids.map((k) => [k.label, k.description]));
    assert.match(d["QEMU"]!, /^7\.2\.\d+/);
    assert.equal(d["Machine"], "pc-q35-7.2 (q35), x86_64");
    assert.equal(d["Run state"], "prelaunch");
    assert.equal(d["Migration"], "none yet");
    assert.equal(d["Migration capabilities"], "none on · has background-snapshot");
    const dv = kids.find((k) => k.kind === "dbus-vmstate")!;
    assert.equal(dv.label, "dbus-vmstate dv0");
    assert.equal(dv.busAddress, bus.address);
    assert.deepEqual(dv.command, {
      command: "qemuVmstate.qmp.showHelpers",
      args: [bus.address],
      title: "Show Helpers",
    });
    const caps = childNodes(
      s,
      kids.find((k) => k.kind === "capabilities")!,
    );
    assert.equal(caps.length, info.capabilities.length);
    assert.ok(caps.every((c) => c.description === "off"));
  });
});
