/// <reference types="mocha" />
// The compare view through the real vscode API: "Compare VM States" with two files opens the
// panel, its worker compares them, the webview steps through the differences and filters.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import type { CompareViewState } from "../../src/shared/compareProtocol";
import { waitFor as waitForUtil } from "./util";

/** The compare view decodes two streams first: a longer wait, polled less often. */
const waitFor = <T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 60000,
) => waitForUtil(what, fn, timeoutMs, 200);

const state = () =>
  Promise.resolve(vscode.commands.executeCommand<CompareViewState | undefined>("qemuVmstate._test.compare", "state"));

suite("compare view", () => {
  let pairs = "";

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension("qemu-vmstate.qemu-vmstate")!;
    await ext.activate();
    pairs = path.join(ext.extensionPath, "test", "fixtures", "diff");
  });

  teardown(async () => {
    await vscode.commands.executeCommand("qemuVmstate._test.compare", "close");
  });

  test("Compare VM States on two selected files (two cold starts of one guest): 5 RTC differences, stepping walks and wraps, only-differences filters", async () => {
    const a = vscode.Uri.file(path.join(pairs, "paused-1.vmstate"));
    const b = vscode.Uri.file(path.join(pairs, "twin.vmstate"));
    assert.ok(fs.existsSync(a.fsPath) && fs.existsSync(b.fsPath));
    // as the explorer calls it: the clicked file, then all selected
    await vscode.commands.executeCommand("qemuVmstate.compare", b, [a, b]);
    const s0 = await waitFor("the compare view to show the first difference", async () => {
      const s = await state();
      return s?.selectedId && s.hexA ? s : undefined;
    });
    assert.equal(s0.diffIndex, 0);
    assert.match(s0.detailsText, /cmos_data/);
    const seen = [s0.selectedId];
    let s = s0;
    for (let i = 1; i < 5; i++) {
      s = (await vscode.commands.executeCommand<CompareViewState>("qemuVmstate._test.compare", "step", {
        direction: 1,
      }))!;
      assert.equal(s.diffIndex, i);
      seen.push(s.selectedId);
      assert.ok(s.hexA && s.hexB, "both hex views highlight the field");
    }
    assert.deepEqual(seen.map((id) => id!.split("/").pop()).sort(), [
      "base_rtc",
      "cmos_data",
      "last_update",
      "next_alarm_time",
      "update_timer",
    ]);
    // wraps around
    s = (await vscode.commands.executeCommand<CompareViewState>("qemuVmstate._test.compare", "step", {
      direction: 1,
    }))!;
    assert.equal(s.diffIndex, 0);
    const all = s.visibleRows;
    s = (await vscode.commands.executeCommand<CompareViewState>("qemuVmstate._test.compare", "onlyDiffs", {
      on: true,
    }))!;
    assert.ok(s.onlyDiffs);
    assert.equal(s.visibleRows, 6, "the RTC section and its five fields");
    assert.ok(all > s.visibleRows);
  });

  test("a stream against itself: no differences", async () => {
    const a = vscode.Uri.file(path.join(pairs, "paused-1.vmstate"));
    await vscode.commands.executeCommand("qemuVmstate.compare", a, [
      a,
      vscode.Uri.file(path.join(pairs, "paused-2.vmstate")),
    ]);
    const s = await waitFor("the compare view", async () => {
      const x = await state();
      return x && /same/.test(x.detailsText) ? x : undefined;
    });
    assert.equal(s.diffIndex, -1);
  });

  test("an input that is not a migration stream: the view says so (no endless spinner)", async () => {
    const a = vscode.Uri.file(path.join(pairs, "paused-1.vmstate"));
    const b = vscode.Uri.file(path.join(pairs, "pairs.json"));
    await vscode.commands.executeCommand("qemuVmstate.compare", a, [a, b]);
    const s = await waitFor("the compare view's error", async () => (await state())?.error);
    assert.match(s, /pairs\.json: not a QEMU migration stream/);
  });
});
