// Commands of the custom editor (palette, webview context menu, keybindings). The integration
// suite's own commands are registered by its build of the extension (test/integration/host).

import * as vscode from "vscode";
import { copyHelperBlob, exportAllHelperBlobs, exportHelperBlob } from "./helperExport";
import {
  addHelper,
  removeHelper,
  renameHelper,
  replaceBytes,
  replaceHelperFromFile,
  replaceHelperFromStream,
  setField,
  useHelperBytes,
} from "./editActions";
import { askModal } from "./prompts";
import type { EditResult } from "../shared/protocol";
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
  /** Edits: a file to read bytes from (skips the open dialog). */
  file?: string;
  /** Edits: the new Id (rename) or the Id of a new helper (add); the helper to replace (bytes). */
  newId?: string;
  id?: string;
  helperId?: string;
  /** setField / replaceBytes: the node (default: the selected one) and the value (skips the input box). */
  nodeId?: string;
  value?: string;
  /** Replace from another stream's helper (skips the quick pick). */
  sourceUri?: string;
  sourceHelperIndex?: number;
  /** replaceHelperBlobWithBytes: the new blob (Uint8Array; number[] or base64 from tests). */
  bytes?: Uint8Array | number[] | string;
}

/**
 * A path to write that came as a command argument (any extension can run our commands), not from a
 * dialog the user answered: the user confirms it first (modal), so another extension cannot make us
 * overwrite files silently. Declined: undefined (nothing is written).
 */
async function confirmWriteTarget(target: string, what: string): Promise<vscode.Uri | undefined> {
  const answer = await askModal(
    `Write ${what} to ${target}?`,
    "A command asked to write here without a save dialog (it may come from another extension). Existing files with the same names are replaced.",
    "Write",
  );
  return answer === "Write" ? vscode.Uri.file(target) : undefined;
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
  const helpers = await (await session.document.index()).helpers();
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
  const reg = (id: string, fn: (...a: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg("qemuVmstate.exportHelperBlob", async (a) => {
    const args = asArgs(a);
    const s = resolveSession(provider, args);
    if (!s) return undefined;
    const i = await resolveHelper(s, args);
    if (i === undefined) return undefined;
    if (args.target !== undefined) {
      const target = await confirmWriteTarget(args.target, "the helper blob");
      return target ? exportHelperBlob(s.document, i, target) : undefined;
    }
    return exportHelperBlob(s.document, i);
  });
  reg("qemuVmstate.exportAllHelperBlobs", async (a) => {
    const args = asArgs(a);
    const s = resolveSession(provider, args);
    if (!s) return undefined;
    if (args.target !== undefined) {
      const folder = await confirmWriteTarget(args.target, "every helper blob and manifest.json");
      return folder ? exportAllHelperBlobs(s.document, folder) : undefined;
    }
    return exportAllHelperBlobs(s.document);
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
    const offset =
      typeof (a as { offset?: unknown })?.offset === "number"
        ? (a as { offset: number }).offset
        : await promptOffset(s.document);
    if (offset !== undefined) s.rpc.notify("view/reveal", { offset });
  });
  reg("qemuVmstate.revealNode", async (a) => {
    const args = asArgs(a) as CommandArgs & { id?: string };
    const s = resolveSession(provider, args);
    if (s && args.id) s.rpc.notify("view/reveal", { id: args.id });
  });

  // ---- edits: one undo step each; errors are shown, not thrown (palette and context menus) ----
  // Edits change only the open document (undoable, nothing is written until the user saves), so
  // they need no confirmation; edits QEMU would refuse still ask first (editWarnings). A `file`
  // argument is only read.
  const editCommand = (id: string, fn: (s: EditorSession, args: CommandArgs) => Promise<EditResult | undefined>) =>
    reg(id, async (a) => {
      const args = asArgs(a);
      const s = resolveSession(provider, args);
      if (!s) return undefined;
      try {
        return await fn(s, args);
      } catch (e) {
        void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
        return { applied: false, error: e instanceof Error ? e.message : String(e) };
      }
    });
  const file = (args: CommandArgs) => (args.file ? vscode.Uri.file(args.file) : undefined);
  editCommand("qemuVmstate.replaceHelperBlob", async (s, args) => {
    const i = await resolveHelper(s, args);
    return i === undefined ? undefined : replaceHelperFromFile(s.document, i, file(args));
  });
  editCommand("qemuVmstate.replaceHelperBlobFromStream", async (s, args) => {
    const i = await resolveHelper(s, args);
    if (i === undefined) return undefined;
    const srcDoc = args.sourceUri ? provider.documentFor(vscode.Uri.parse(args.sourceUri)) : undefined;
    const from =
      srcDoc && typeof args.sourceHelperIndex === "number" ? { doc: srcDoc, index: args.sourceHelperIndex } : undefined;
    return replaceHelperFromStream(s.document, i, provider.documents(), from);
  });
  editCommand("qemuVmstate.renameHelper", async (s, args) => {
    const i = await resolveHelper(s, args);
    return i === undefined ? undefined : renameHelper(s.document, i, args.newId);
  });
  editCommand("qemuVmstate.removeHelper", async (s, args) => {
    const i = await resolveHelper(s, args);
    return i === undefined ? undefined : removeHelper(s.document, i);
  });
  editCommand("qemuVmstate.addHelper", async (s, args) => addHelper(s.document, args.id, file(args)));
  editCommand("qemuVmstate.setField", async (s, args) => {
    const nodeId = args.nodeId ?? s.selection.id;
    if (!nodeId) throw new Error("Select an integer or bool field in the tree first.");
    return setField(s.document, nodeId, args.value);
  });
  editCommand("qemuVmstate.replaceBytes", async (s, args) => {
    const nodeId = args.nodeId ?? s.selection.id;
    if (!nodeId) throw new Error("Select a raw field or an opaque payload in the tree first.");
    return replaceBytes(s.document, nodeId, file(args));
  });
  // For the bus explorer's "Save → use in open stream": { uri?, helperId, bytes }.
  editCommand("qemuVmstate.replaceHelperBlobWithBytes", async (s, args) => {
    if (typeof args.helperId !== "string") throw new Error("replaceHelperBlobWithBytes needs { helperId, bytes }");
    return useHelperBytes(s.document, args.helperId, toBytes(args.bytes));
  });
}

function toBytes(b: CommandArgs["bytes"]): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (Array.isArray(b)) return Uint8Array.from(b);
  if (typeof b === "string") return Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
  // a Buffer that crossed a serialising boundary: { type: "Buffer", data: [...] }
  const o = b as unknown as { data?: number[] } | undefined;
  if (o && Array.isArray(o.data)) return Uint8Array.from(o.data);
  throw new Error("bytes must be a Uint8Array, a number[] or base64");
}
