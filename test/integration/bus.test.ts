/// <reference types="mocha" />
// Extension-host tests of the "D-Bus helpers" view (bus explorer) with the real vscode API,
// against a private dbus-daemon and helper processes that scripts/e2e-bus.sh starts. It passes
// the bus through the environment (the extension host inherits code-server's):
//   VMSTATE_E2E_BUS       the bus address (also in the setting qemuVmstate.bus.addresses)
//   VMSTATE_E2E_BUS_INFO  a JSON file: the helpers' "ready" lines in queue order, with their payloads
// Without them (e.g. under scripts/e2e.sh) the suite is skipped.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import type { BusExplorerApi, BusExplorerUi } from "../../src/bus/busExplorer";
import type { BusNode, HelperNode, InfoNode, TreeNode } from "../../src/bus/busTreeModel";
import type { CheckReport, SaveResult } from "../../src/bus/client";
import { EXT_ID, waitFor } from "./util";

const ADDRESS = process.env.VMSTATE_E2E_BUS;
const INFO = process.env.VMSTATE_E2E_BUS_INFO;

interface ReadyHelper {
  id: string;
  unique_name: string;
  pid: number;
  mode: string;
  impl: "dbus-next" | "gdbus";
  payload_len: number;
  payloadFile?: string;
  payloadText?: string;
}

suite("bus explorer in VS Code (private bus)", function () {
  let api: BusExplorerApi;
  let helpers: ReadyHelper[] = [];
  let tmp = "";
  let changes = 0;
  let sub: vscode.Disposable | undefined;
  let savedUi: BusExplorerUi | undefined;

  const busNode = (): BusNode => {
    const n = api.roots().find((r): r is BusNode => r.kind === "bus" && r.address === ADDRESS);
    assert.ok(n, `no tree item for ${ADDRESS}: ${JSON.stringify(api.roots().map((r) => r.label))}`);
    return n;
  };
  const helperNodes = (): HelperNode[] => api.children(busNode()).filter((n): n is HelperNode => n.kind === "helper");
  const helperNode = (id: string): HelperNode => {
    const n = helperNodes().find((h) => h.helper.id === id);
    assert.ok(n, `helper ${id} is not in the tree`);
    return n;
  };
  const details = (n: TreeNode): InfoNode[] => api.children(n).filter((c): c is InfoNode => c.kind === "info");
  const ready = (id: string): ReadyHelper => {
    const h = helpers.find((x) => x.id === id);
    assert.ok(h, `no helper ${id} in ${INFO}`);
    return h;
  };

  suiteSetup(async function () {
    if (!ADDRESS || !INFO) {
      this.skip();
      return;
    }
    helpers = (JSON.parse(fs.readFileSync(INFO, "utf8")) as { helpers: ReadyHelper[] }).helpers;
    const ext = vscode.extensions.getExtension<{ bus: BusExplorerApi }>(EXT_ID);
    assert.ok(ext, `extension ${EXT_ID} not found`);
    const exports = await ext.activate();
    assert.ok(exports?.bus, "the extension's exports have no bus explorer");
    api = exports.bus;
    sub = api.onDidChange(() => changes++);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-bus-it-"));
    savedUi = { ...api.ui };
  });

  suiteTeardown(async () => {
    sub?.dispose();
    if (api && savedUi) Object.assign(api.ui, savedUi);
    if (api?.state.connection) api.disconnect();
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  teardown(() => {
    if (savedUi) Object.assign(api.ui, savedUi);
  });

  test("the address from settings is listed and nothing is connected", () => {
    assert.deepEqual(vscode.workspace.getConfiguration("qemuVmstate.bus").get("addresses"), [ADDRESS]);
    assert.equal(api.state.connection, undefined);
    const n = busNode();
    assert.equal(n.status, "idle");
    assert.equal(n.source, "configured");
    assert.equal(n.description, "from settings");
  });

  test("connect (the command the address item runs) lists the helpers live", async () => {
    const before = changes;
    await vscode.commands.executeCommand("qemuVmstate.bus.connectAddress", ADDRESS);
    assert.equal(api.state.connection?.status, "connected", "connected when the command resolves");
    await waitFor("three helpers", () => api.state.connection?.helpers?.length === helpers.length);
    assert.ok(changes > before, "onDidChange fired");
    const n = busNode();
    assert.equal(n.source, "current");
    assert.equal(n.icon, "bus-connected");
    assert.equal(n.description, `connected · ${helpers.length} helpers`);
  });

  test("the tree gives each helper's Id, unique name and primary/queued role, in queue order", () => {
    const nodes = helperNodes();
    assert.deepEqual(
      nodes.map((n) => [n.label, n.helper.id, n.helper.uniqueName, n.helper.primary, n.helper.position]),
      helpers.map((h, i) => [h.id, h.id, h.unique_name, i === 0, i]),
    );
    nodes.forEach((n, i) => {
      const h = helpers[i]!;
      assert.equal(n.helper.pid, h.pid, `${h.id}: pid`);
      assert.equal(n.description, `${h.unique_name} · ${i === 0 ? "primary" : `queued #${i}`} · pid ${h.pid}`);
      assert.equal(n.icon, "helper");
      assert.match(n.tooltip, new RegExp(`^Id: "${h.id}"\\nUnique name: ${h.unique_name.replace(/\./g, "\\.")} \\(`));
      const d = Object.fromEntries(details(n).map((c) => [c.label, c.description]));
      assert.equal(d["Unique name"], h.unique_name);
      assert.equal(d["Role"], i === 0 ? "primary owner" : `queued (position ${i})`);
      assert.equal(d["PID"], String(h.pid));
      assert.match(d["Command line"] ?? "", h.impl === "gdbus" ? /gdbus_helper\.py/ : /dbusNextHelper\.mjs/);
    });
  });

  for (const id of ["vm-good", "gd-good"]) {
    test(`Save then Export of ${id} writes exactly the helper's bytes`, async () => {
      const h = ready(id);
      const expected = h.payloadFile ? fs.readFileSync(h.payloadFile) : Buffer.from(h.payloadText ?? "", "utf8");
      assert.equal(expected.length, h.payload_len);
      const target = vscode.Uri.file(path.join(tmp, `${id}.bin`));
      const offered: Array<{ message: string; actions: string[] }> = [];
      const asked: string[] = [];
      api.ui.info = (message, ...actions) => {
        offered.push({ message, actions });
        return Promise.resolve(actions.includes("Export...") ? "Export..." : undefined);
      };
      api.ui.pickSaveFile = (title, suggested) => {
        asked.push(`${title} | ${suggested}`);
        return Promise.resolve(target);
      };
      const res = await vscode.commands.executeCommand<SaveResult | undefined>("qemuVmstate.bus.save", h.unique_name);
      assert.ok(res, "Save returned nothing (see the error notification)");
      assert.ok(Buffer.from(res.bytes).equals(expected), "the Save result is the helper's payload");
      assert.equal(offered.length, 1);
      assert.match(offered[0]!.message, new RegExp(`^Saved "${id}": `));
      assert.deepEqual(offered[0]!.actions, ["Export..."]);
      const file = await waitFor(
        "the exported file",
        () => fs.existsSync(target.fsPath) && fs.statSync(target.fsPath).size === expected.length && target.fsPath,
      );
      assert.deepEqual(asked, [`Export the Save of "${id}" | ${id}.bin`]);
      const got = fs.readFileSync(file);
      assert.equal(got.length, expected.length);
      assert.ok(got.equals(expected), "exported bytes differ from the helper's payload");
      // the saved blob is shown: in the editor's blob view (a tab on a blob: URI holding the bytes)
      // when the extension wires one in, else as a hex dump in a text document
      const shown = await waitFor("the saved blob shown in an editor", () => {
        const doc = vscode.workspace.textDocuments.find((d) =>
          d.getText().startsWith(`"${id}" · Save from ${h.unique_name}`),
        );
        if (doc) return { doc };
        for (const tab of vscode.window.tabGroups.all.flatMap((g) => g.tabs)) {
          const input = tab.input;
          const uri =
            input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
          if (uri && decodeURIComponent(uri.path).includes(id) && decodeURIComponent(uri.path).includes("Save from"))
            return { uri };
        }
        return undefined;
      });
      if (shown.doc) assert.ok(shown.doc.getText().includes(`${expected.length}`), "the dump gives the size");
      else
        assert.ok(
          Buffer.from(await vscode.workspace.fs.readFile(shown.uri)).equals(expected),
          `${shown.uri.toString()} holds other bytes`,
        );
      const last = details(helperNode(id)).find((c) => c.label === "Last Save");
      assert.ok(last?.description?.includes(" in "), JSON.stringify(last));
    });
  }

  test("Save then Use in Open Stream puts the live state into an open stream as one undoable edit", async () => {
    const h = ready("gd-good");
    const expected = h.payloadFile ? fs.readFileSync(h.payloadFile) : Buffer.from(h.payloadText ?? "", "utf8");
    const stream = path.join(tmp, "with-helpers.vmstate");
    fs.copyFileSync(path.resolve(__dirname, "../../../test/fixtures/dbus-vmstate-3helpers.vmstate"), stream);
    const uri = vscode.Uri.file(stream);
    await vscode.commands.executeCommand("vscode.openWith", uri, "qemuVmstate.editor");
    await waitFor("the stream editor", () =>
      vscode.window.tabGroups.all.some((g) =>
        g.tabs.some((t) => t.input instanceof vscode.TabInputCustom && t.input.uri.fsPath === stream),
      ),
    );
    const offered: string[][] = [];
    api.ui.info = (_message, ...actions) => {
      offered.push(actions);
      return Promise.resolve(actions.includes("Use in Open Stream...") ? "Use in Open Stream..." : undefined);
    };
    const res = await vscode.commands.executeCommand<SaveResult | undefined>("qemuVmstate.bus.save", h.unique_name);
    assert.ok(res);
    assert.deepEqual(offered, [["Export...", "Use in Open Stream..."]]);
    const state = await waitFor("the edit in the stream", async () => {
      const s = await vscode.commands.executeCommand<{ dirty: boolean; edits: string[] } | undefined>(
        "qemuVmstate._test.editState",
        { uri: uri.toString() },
      );
      return s && s.edits.length === 1 ? s : undefined;
    });
    assert.equal(state.dirty, true);
    assert.match(state.edits[0]!, new RegExp(`"gd-good" \\(${expected.length} bytes\\)`));
    await vscode.commands.executeCommand("workbench.action.files.revert");
  });

  test("Check Helpers fails the helper whose Save is empty, and passes the others", async () => {
    const report = await vscode.commands.executeCommand<CheckReport | undefined>("qemuVmstate.bus.check");
    assert.ok(report, "Check returned nothing (see the error notification)");
    assert.equal(report.ok, false);
    const byId = new Map(report.helpers.map((x) => [x.helper.id, x]));
    assert.equal(byId.get("vm-good")?.ok, true, JSON.stringify(byId.get("vm-good")?.rules));
    assert.equal(byId.get("gd-good")?.ok, true, JSON.stringify(byId.get("gd-good")?.rules));
    const bad = byId.get("vm-empty");
    assert.equal(bad?.ok, false);
    assert.deepEqual(
      bad.rules.filter((r) => !r.ok).map((r) => r.rule),
      ["not-empty"],
    );
    // the tree shows it
    const n = helperNode("vm-empty");
    assert.equal(n.icon, "helper-fail");
    assert.match(n.description, /^1 check fails · :[\d.]+ · queued #2 · pid \d+$/);
    const rule = details(n).find((c) => c.label === "Not empty");
    assert.equal(rule?.icon, "fail");
    assert.equal(helperNode("vm-good").icon, "helper-pass");
    assert.match(helperNode("gd-good").description, /^checks pass · :[\d.]+ · queued #1 · pid \d+$/);
    // and the report opens beside
    const doc = await waitFor("the check report", () =>
      vscode.workspace.textDocuments.find((d) => d.getText().startsWith(`Helpers on ${ADDRESS}: 3, some rules FAIL`)),
    );
    assert.match(doc.getText(), /\nFAIL vm-empty \(:[\d.]+, queued, pid \d+\)\n/);
    assert.match(doc.getText(), /\n {2}FAIL Not empty {16}/);
  });

  test("Refresh keeps the same helpers", async () => {
    await vscode.commands.executeCommand("qemuVmstate.bus.refresh");
    assert.deepEqual(
      helperNodes().map((n) => n.helper.uniqueName),
      helpers.map((h) => h.unique_name),
    );
  });

  test("disconnect: back to the address from settings, no connection", async () => {
    await vscode.commands.executeCommand("qemuVmstate.bus.disconnect");
    assert.equal(api.state.connection, undefined);
    const n = busNode();
    assert.equal(n.status, "idle");
    assert.deepEqual(api.children(n), []);
    assert.ok(api.state.recent.includes(ADDRESS!), "the address is remembered as recent");
    assert.equal(api.roots().filter((r) => r.kind === "bus" && r.address === ADDRESS).length, 1, "listed once");
    // commands that need a connection say so instead of throwing
    assert.equal(await vscode.commands.executeCommand("qemuVmstate.bus.check"), undefined);
  });
});
