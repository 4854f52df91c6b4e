// The integration suites' build of the extension (out/test-extension/dist/extension.js, made by
// scripts/build.mjs; test/e2e/exttests.js and runElectron.js load it as the development
// extension). It is the shipped extension plus what the suites inspect and answer with:
//   - commands qemuVmstate._test.* (document state, the webview's requests, edit state, the
//     compare view), not contributed to the palette;
//   - answers to modal questions, queued ahead of time (a modal dialog cannot be clicked from the
//     extension host), and the list of questions asked.
// None of this is in dist/extension.js, the bundle the .vsix ships.
import * as vscode from "vscode";
import { activate as activateShipped, deactivate, type QemuVmstateApi } from "../../../src/extension";
import { setPrompter, type PickItem } from "../../../src/editor/prompts";
import { ComparePanel } from "../../../src/editor/compareView";
import { editLabel } from "../../../src/model/edits";
import type { DocInfo } from "../../../src/shared/protocol";

export { deactivate };

const queued: (string | undefined)[] = [];
const asked: string[] = [];

/** Modal questions answered from the queue while it has answers, else by VS Code as usual. */
function installPrompter(): void {
  const vscodePrompter = setPrompter({
    modal(message, detail, items) {
      asked.push(message);
      return queued.length ? Promise.resolve(queued.shift()) : vscodePrompter.modal(message, detail, items);
    },
    pick<T extends PickItem>(items: T[], options: vscode.QuickPickOptions) {
      asked.push(options.title ?? options.placeHolder ?? "pick");
      if (!queued.length) return vscodePrompter.pick(items, options);
      const a = queued.shift();
      return Promise.resolve(items.find((i) => i.label === a || i.id === a));
    },
  });
}

type Handler = (params: unknown) => unknown;

/**
 * Runs the handler a webview request reaches, directly (the endpoint keeps its handlers private:
 * only this test build reaches in).
 */
async function invokeLocal(rpc: unknown, method: string, params: unknown): Promise<unknown> {
  const h = (rpc as { handlers: Map<string, Handler> }).handlers.get(method);
  if (!h) throw new Error(`no handler for ${method}`);
  return h(params);
}

function uriArg(a: unknown): vscode.Uri | undefined {
  const u = (a as { uri?: unknown } | undefined)?.uri;
  return typeof u === "string" ? vscode.Uri.parse(u) : undefined;
}

export function activate(context: vscode.ExtensionContext): QemuVmstateApi {
  const api = activateShipped(context);
  installPrompter();
  const provider = api.editor;
  const reg = (name: string, fn: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(`qemuVmstate._test.${name}`, fn));
  reg("getDocumentState", async (a) => {
    const s = provider.activeSession(uriArg(a));
    if (!s) return undefined;
    // the same DocInfo the webview gets
    const info = (await invokeLocal(s.rpc, "doc/ready", {})) as DocInfo;
    const view = await Promise.race([
      s.rpc.request("view/getState", {}),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000)),
    ]).catch(() => undefined);
    return { ...info, view };
  });
  reg("answerPrompts", (answers) => {
    queued.push(...(Array.isArray(answers) ? (answers as (string | undefined)[]) : []));
  });
  reg("takePrompts", () => asked.splice(0));
  reg("editState", (a) => {
    const u = uriArg(a);
    const doc = u ? provider.documentFor(u) : provider.activeSession()?.document;
    if (!doc) return undefined;
    return { dirty: doc.isDirty, edits: doc.edits.map(editLabel) };
  });
  reg("request", async (uri, method, params) => {
    const s = provider.activeSession(typeof uri === "string" ? vscode.Uri.parse(uri) : undefined);
    if (!s) throw new Error("no editor for " + String(uri));
    if (typeof method !== "string" || method.startsWith("blob/") || method.startsWith("view/"))
      throw new Error(`not available to tests: ${String(method)}`);
    // the same handler the webview's request reaches; bytes come back as { byteLength, bytes[] }
    const r = await invokeLocal(s.rpc, method, params ?? {});
    return r instanceof ArrayBuffer ? { byteLength: r.byteLength, bytes: Array.from(new Uint8Array(r)) } : r;
  });
  reg("compare", async (op, params) => {
    const p = ComparePanel.latest;
    if (!p) return undefined;
    // a request sent before the webview's script runs is never answered: give up after a while
    if (op === "state") return Promise.race([p.state(), new Promise((r) => setTimeout(() => r(undefined), 2000))]);
    if (op === "step") return p.rpc.request("cmp/step", { direction: (params as { direction: 1 | -1 }).direction });
    if (op === "onlyDiffs") return p.rpc.request("cmp/setOnlyDiffs", { on: !!(params as { on: boolean }).on });
    if (op === "close") return p.panel.dispose();
    return undefined;
  });
  return api;
}
