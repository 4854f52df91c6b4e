// Commands of the custom editor (palette, webview context menu, keybindings) and the test-only
// command the integration suite queries the editor with.

import * as vscode from "vscode";
import { copyHelperBlob, exportAllHelperBlobs, exportHelperBlob } from "./helperExport";
import { promptOffset, type VmstateEditorProvider, type EditorSession } from "./vmstateEditorProvider";

/**
 * Arguments a command may get: from a webview context menu (its data-vscode-context), from
 * tests ({ uri, helperIndex, target }), or nothing (palette: act on the active editor).
 */
interface CommandArgs {
  uri?: string;
  helperIndex?: number;
  target?: string;
  webview?: string;
}

function asArgs(a: unknown): CommandArgs {
  return typeof a === "object" && a !== null ? (a as CommandArgs) : {};
}

function resolveSession(provider: VmstateEditorProvider, args: CommandArgs): EditorSession | undefined {
  const s = provider.activeSession(args.uri ? vscode.Uri.parse(args.uri) : undefined);
  if (!s) void vscode.window.showWarningMessage("Open a QEMU migration stream in the VM state editor first.");
  return s;
}

async function resolveHelper(session: EditorSession, args: CommandArgs): Promise<number | undefined> {
  if (typeof args.helperIndex === "number") return args.helperIndex;
  if (session.selection.helperIndex !== undefined) return session.selection.helperIndex;
  const helpers = (await session.document.index()).helpers();
  if (helpers.length === 0) {
    void vscode.window.showInformationMessage(`${session.document.fileName} has no dbus-vmstate helper blobs.`);
    return undefined;
  }
  if (helpers.length === 1) return 0;
  const pick = await vscode.window.showQuickPick(
    helpers.map((h) => ({ label: h.id, description: `${h.size} bytes`, detail: `sha256 ${h.sha256}`, index: h.index })),
    { title: "Which helper blob?" },
  );
  return pick?.index;
}

export function registerCommands(context: vscode.ExtensionContext, provider: VmstateEditorProvider): void {
  const reg = (id: string, fn: (...a: unknown[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg("qemuVmstate.exportHelperBlob", async (a) => {
    const args = asArgs(a);
    const s = resolveSession(provider, args);
    if (!s) return undefined;
    const i = await resolveHelper(s, args);
    if (i === undefined) return undefined;
    return exportHelperBlob(s.document, i, args.target ? vscode.Uri.file(args.target) : undefined);
  });
  reg("qemuVmstate.exportAllHelperBlobs", async (a) => {
    const args = asArgs(a);
    const s = resolveSession(provider, args);
    if (!s) return undefined;
    return exportAllHelperBlobs(s.document, args.target ? vscode.Uri.file(args.target) : undefined);
  });
  for (const format of ["hex", "base64"] as const) {
    reg(format === "hex" ? "qemuVmstate.copyHelperBlobHex" : "qemuVmstate.copyHelperBlobBase64", async (a) => {
      const args = asArgs(a);
      const s = resolveSession(provider, args);
      if (!s) return undefined;
      const i = await resolveHelper(s, args);
      if (i === undefined) return undefined;
      const r = await copyHelperBlob(s.document, i, format);
      vscode.window.setStatusBarMessage(`Copied ${r.bytes} bytes as ${format}`, 3000);
      return r;
    });
  }
  reg("qemuVmstate.goToOffset", async (a) => {
    const args = asArgs(a);
    const s = resolveSession(provider, args);
    if (!s) return;
    const offset = typeof (a as { offset?: unknown })?.offset === "number" ? (a as { offset: number }).offset : await promptOffset(s.document);
    if (offset !== undefined) s.rpc.notify("view/reveal", { offset });
  });
  reg("qemuVmstate.revealNode", async (a) => {
    const args = asArgs(a) as CommandArgs & { id?: string };
    const s = resolveSession(provider, args);
    if (s && args.id) s.rpc.notify("view/reveal", { id: args.id });
  });

  // Test-only: what the integration suite inspects. Not in the palette (no contribution).
  reg("qemuVmstate._test.getDocumentState", async (a) => {
    const args = asArgs(a);
    const s = provider.activeSession(args.uri ? vscode.Uri.parse(args.uri) : undefined);
    if (!s) return undefined;
    const idx = await s.document.index();
    const info = idx.docInfo(s.document.fileName, s.document.uri.toString());
    const view = await Promise.race([
      s.rpc.request("view/getState", {}),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000)),
    ]).catch(() => undefined);
    return { ...info, view };
  });
  reg("qemuVmstate._test.request", async (uri: unknown, method: unknown, params: unknown) => {
    const s = provider.activeSession(typeof uri === "string" ? vscode.Uri.parse(uri) : undefined);
    if (!s) throw new Error("no editor for " + String(uri));
    if (typeof method !== "string" || method.startsWith("blob/") || method.startsWith("view/")) throw new Error(`not available to tests: ${String(method)}`);
    // The same handler the webview's request reaches; bytes come back as { byteLength, bytes[] }.
    const r = await s.rpc.invokeLocal(method, params ?? {});
    return r instanceof ArrayBuffer ? { byteLength: r.byteLength, bytes: Array.from(new Uint8Array(r)) } : r;
  });
}
