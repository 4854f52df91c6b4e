/// <reference types="mocha" />
// Extension-host tests of the "QEMU" view with the real vscode API, against the demo environment
// scripts/e2e-qemu.sh starts with scripts/demo-env.sh (a private bus with three helpers, a paused
// QEMU "demo-vm" and a QEMU "demo-incoming" waiting with -incoming defer). It passes them through
// the environment (the extension host inherits code-server's):
//   VMSTATE_E2E_QMP, VMSTATE_E2E_QMP_INCOMING, VMSTATE_E2E_BUS (also in the workspace settings)
// Without them (e.g. under scripts/e2e.sh) the suite is skipped.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import type { BusExplorerApi } from "../../src/bus/busExplorer";
import type { QemuViewApi } from "../../src/qemuView/qemuView";
import type { CaptureResult, LoadResult } from "../../src/qmp";
import { EXT_ID, waitFor } from "./util";

const QMP = process.env.VMSTATE_E2E_QMP;
const QMP_IN = process.env.VMSTATE_E2E_QMP_INCOMING;
const BUS = process.env.VMSTATE_E2E_BUS;

suite("QEMU view in VS Code (demo QEMU over QMP)", function () {
  let qemu: QemuViewApi;
  let bus: BusExplorerApi;
  let tmp = "";
  let captured = "";

  suiteSetup(async function () {
    if (!QMP || !QMP_IN || !BUS) {
      this.skip();
      return;
    }
    const ext = vscode.extensions.getExtension<{ qemu: QemuViewApi; bus: BusExplorerApi }>(EXT_ID);
    assert.ok(ext, `extension ${EXT_ID} not found`);
    const exports = await ext.activate();
    assert.ok(exports?.qemu, "the extension's exports have no QEMU view");
    qemu = exports.qemu;
    bus = exports.bus;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-qemu-it-"));
  });

  suiteTeardown(async () => {
    if (qemu) for (const s of qemu.states()) qemu.disconnect(s.address);
    if (bus?.state.connection) bus.disconnect();
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("both QMP sockets from the workspace settings are listed, not connected", () => {
    assert.deepEqual(vscode.workspace.getConfiguration("qemuVmstate.qmp").get("addresses"), [QMP, QMP_IN]);
    const roots = qemu.roots();
    assert.deepEqual(
      roots.map((r) => [r.address, r.context]),
      [
        [QMP, "idle"],
        [QMP_IN, "idle"],
      ],
    );
    assert.equal(roots[0]!.description, "not connected");
  });

  test("connect shows the VM: name, QEMU version, machine, run state, and its dbus-vmstate object", async () => {
    await vscode.commands.executeCommand("qemuVmstate.qmp.connectAddress", QMP);
    const root = qemu.roots().find((r) => r.address === QMP)!;
    assert.equal(root.context, "connected");
    assert.equal(root.label, "demo-vm");
    assert.match(root.description ?? "", /^prelaunch · QEMU 7\.\d+\.\d+/);
    const kids = qemu.children(root);
    const byLabel = new Map(kids.map((k) => [k.label, k]));
    assert.match(byLabel.get("Machine")?.description ?? "", /^pc-q35-\d+\.\d+ \(q35\), x86_64$/);
    assert.equal(byLabel.get("Run state")?.description, "prelaunch");
    assert.equal(byLabel.get("Migration")?.description, "none yet");
    assert.match(byLabel.get("Migration capabilities")?.description ?? "", /has background-snapshot/);
    const dv = byLabel.get("dbus-vmstate dv0");
    assert.ok(dv, `no dbus-vmstate item in ${[...byLabel.keys()].join(", ")}`);
    assert.equal(dv.busAddress, BUS);
    assert.ok(
      qemu.children(kids.find((k) => k.kind === "capabilities")!).some((c) => c.label === "background-snapshot"),
    );
  });

  test("the dbus-vmstate item connects the D-Bus helpers view to that bus", async () => {
    await vscode.commands.executeCommand("qemuVmstate.qmp.showHelpers", BUS);
    await waitFor(
      "the bus explorer connected with three helpers",
      () => bus.state.connection?.address === BUS && bus.state.connection?.helpers?.length === 3,
    );
    assert.deepEqual(bus.state.connection!.helpers!.map((h) => h.id).sort(), ["audio", "slirp-helper", "tpm-emu"]);
  });

  test("Capture VM State (pause-first, stay paused) writes the file and opens it in the stream editor", async () => {
    captured = path.join(tmp, "demo-vm.vmstate");
    // through the dialogs, as a person would: the quick pick offers what fits a paused VM
    const saved = { ...qemu.ui };
    let offered: string[] = [];
    qemu.ui.pickCapture = async (items) => {
      offered = items.map((i) => i.label);
      return items.find((i) => i.choice.mode === "pause" && i.choice.after === "paused")?.choice;
    };
    qemu.ui.pickSaveFile = async () => vscode.Uri.file(captured);
    let r: CaptureResult | undefined;
    try {
      r = (await vscode.commands.executeCommand("qemuVmstate.qmp.capture", QMP)) as CaptureResult | undefined;
    } finally {
      Object.assign(qemu.ui, saved);
    }
    assert.deepEqual(offered, ["$(debug-pause) Capture, stay paused", "$(play) Capture, then run"]);
    assert.ok(r, "the capture command returned nothing (it showed an error)");
    assert.equal(r.final.status, "completed");
    assert.equal(fs.statSync(captured).size, r.size);
    assert.equal(r.after.running, false);
    await waitFor("the capture open in the custom editor", () =>
      vscode.window.tabGroups.all.some((g) =>
        g.tabs.some(
          (t) =>
            t.input instanceof vscode.TabInputCustom &&
            t.input.uri.fsPath === captured &&
            t.input.viewType === "qemuVmstate.editor",
        ),
      ),
    );
    const root = qemu.roots().find((r) => r.address === QMP)!;
    await waitFor("migration completed in the tree", () =>
      qemu
        .children(root)
        .find((k) => k.label === "Migration")
        ?.description?.startsWith("completed"),
    );
  });

  test("a second capture of the postmigrate VM is refused with a clear warning, no file", async () => {
    const again = path.join(tmp, "again.vmstate");
    // the warning has a "Resume VM" button; nobody clicks it here
    const r = await vscode.commands.executeCommand("qemuVmstate.qmp.capture", QMP, vscode.Uri.file(again), {
      mode: "pause",
      after: "paused",
    });
    assert.equal(r, undefined);
    assert.equal(fs.existsSync(again), false);
  });

  test("Load into QEMU streams the capture into the waiting QEMU; it completes", async () => {
    assert.ok(captured);
    await vscode.commands.executeCommand("qemuVmstate.qmp.connectAddress", QMP_IN);
    const before = qemu.roots().find((r) => r.address === QMP_IN)!;
    assert.equal(before.label, "demo-incoming");
    assert.match(before.description ?? "", /^inmigrate/);
    const r = (await vscode.commands.executeCommand("qemuVmstate.qmp.load", QMP_IN, vscode.Uri.file(captured))) as
      LoadResult | undefined;
    assert.ok(r, "the load command returned nothing (it showed an error)");
    assert.equal(r.final.status, "completed");
    assert.equal(r.size, fs.statSync(captured).size);
    await waitFor(
      "the incoming QEMU no longer waiting",
      () => !/inmigrate/.test(qemu.roots().find((x) => x.address === QMP_IN)!.description ?? ""),
    );
  });

  test("a wrong socket path: the connect fails with a clear message on the item", async () => {
    const wrong = path.join(tmp, "nope.sock");
    await assert.rejects(qemu.connect(wrong), /no such socket/);
    const n = qemu.roots().find((r) => r.address === wrong)!;
    assert.match(n.description ?? "", /^failed: .*no such socket/);
  });
});
