// The edit flows of the custom editor: ask for what an edit needs (a file, another stream's
// helper, an Id, a value), warn before what QEMU would refuse (modal, explicit), then apply it to
// the document as one undo step. Used by the webview's buttons and by the palette commands.

import * as vscode from "vscode";
import { DBUS_VMSTATE_ID_MAX } from "../format/dbusVmstate";
import { EditError, type Edit } from "../model/edits";
import type { EditResult } from "../shared/protocol";
import type { VmstateDocument } from "./vmstateDocument";
import { askModal } from "./prompts";

export const APPLY_ANYWAY = "Apply Anyway";
const NOT_APPLIED: EditResult = { applied: false };

/**
 * Applies `edit`; one that QEMU would refuse (the model's warnings come back unapplied) only after
 * the user confirms. EditErrors propagate (the caller shows them).
 */
export async function confirmAndApply(doc: VmstateDocument, edit: Edit): Promise<EditResult> {
  let r = await doc.applyEdit(edit);
  if ("warnings" in r) {
    const pick = await askModal(
      "QEMU would refuse the stream after this edit.",
      `This makes ${r.warnings.join("; ")}.\n\nApply it anyway (to test how QEMU and the helpers handle it)?`,
      APPLY_ANYWAY,
    );
    if (pick !== APPLY_ANYWAY) return NOT_APPLIED;
    r = await doc.applyEdit(edit, true);
    if ("warnings" in r) return NOT_APPLIED;
  }
  return { applied: true, label: r.label };
}

async function readFileBytes(file: vscode.Uri): Promise<Uint8Array> {
  return vscode.workspace.fs.readFile(file);
}

async function pickFile(title: string, doc: VmstateDocument): Promise<vscode.Uri | undefined> {
  const r = await vscode.window.showOpenDialog({
    title,
    canSelectMany: false,
    canSelectFiles: true,
    canSelectFolders: false,
    openLabel: "Use This File",
    defaultUri: vscode.Uri.joinPath(doc.uri, ".."),
  });
  return r?.[0];
}

async function helperAt(doc: VmstateDocument, index: number): Promise<{ id: string; size: number }> {
  const h = (await (await doc.index()).helpers())[index];
  if (!h) throw new EditError(`${doc.fileName} has no helper entry #${index}`);
  return h;
}

export async function replaceHelperFromFile(
  doc: VmstateDocument,
  index: number,
  file?: vscode.Uri,
): Promise<EditResult> {
  const h = await helperAt(doc, index);
  file ??= await pickFile(`Replace the blob of helper "${h.id}" with a file's bytes`, doc);
  if (!file) return NOT_APPLIED;
  return confirmAndApply(doc, { type: "helper-set", index, id: h.id, bytes: await readFileBytes(file) });
}

/** The helpers of every open stream, for "Replace from another open stream's helper". */
export interface HelperSource {
  doc: VmstateDocument;
  index: number;
}

export async function replaceHelperFromStream(
  doc: VmstateDocument,
  index: number,
  docs: VmstateDocument[],
  from?: HelperSource,
): Promise<EditResult> {
  const h = await helperAt(doc, index);
  if (!from) {
    const items: (vscode.QuickPickItem & { src: HelperSource })[] = [];
    for (const d of docs) {
      const idx = await d.index();
      for (const x of await idx.helpers()) {
        if (d === doc && x.index === index) continue;
        items.push({
          label: x.id || "(empty Id)",
          description: `${x.size.toLocaleString("en-US")} bytes${x.id === h.id ? " · same Id" : ""}`,
          detail: `${d.fileName}${d === doc ? " (this stream)" : ""} · sha256 ${x.sha256.slice(0, 16)}…`,
          src: { doc: d, index: x.index },
        });
      }
    }
    if (!items.length) {
      void vscode.window.showInformationMessage(
        "No other helper blob in the open streams. Open another stream with helpers first.",
      );
      return NOT_APPLIED;
    }
    // the same Id in another stream first: the usual case (copy a helper's state across streams)
    items.sort((a, b) => Number(b.label === h.id) - Number(a.label === h.id));
    const pick = await vscode.window.showQuickPick(items, {
      title: `Replace the blob of helper "${h.id}" with…`,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!pick) return NOT_APPLIED;
    from = pick.src;
  }
  const bytes = await (await from.doc.index()).helperBlob(from.index);
  return confirmAndApply(doc, { type: "helper-set", index, id: h.id, bytes });
}

function idProblem(v: string): string | undefined {
  const n = new TextEncoder().encode(v).length;
  if (n === 0) return "QEMU rejects an empty Id (you will be asked to confirm)";
  if (n > DBUS_VMSTATE_ID_MAX)
    return `${n} bytes: QEMU accepts at most ${DBUS_VMSTATE_ID_MAX} (you will be asked to confirm)`;
  return undefined;
}

export async function renameHelper(doc: VmstateDocument, index: number, newId?: string): Promise<EditResult> {
  const h = await helperAt(doc, index);
  newId ??= await vscode.window.showInputBox({
    title: `Rename helper "${h.id}"`,
    prompt: "The new Id (QEMU matches it to the helper's org.qemu.VMState1 Id property on load)",
    value: h.id,
    validateInput: (v) =>
      idProblem(v) ? { message: idProblem(v)!, severity: vscode.InputBoxValidationSeverity.Warning } : undefined,
  });
  if (newId === undefined || newId === h.id) return NOT_APPLIED;
  return confirmAndApply(doc, { type: "helper-rename", index, id: h.id, newId });
}

export async function removeHelper(doc: VmstateDocument, index: number): Promise<EditResult> {
  const h = await helperAt(doc, index);
  return confirmAndApply(doc, { type: "helper-remove", index, id: h.id });
}

export async function addHelper(doc: VmstateDocument, id?: string, file?: vscode.Uri): Promise<EditResult> {
  id ??= await vscode.window.showInputBox({
    title: "Add a helper entry",
    prompt: "The new helper's Id",
    placeHolder: "my-helper",
    validateInput: (v) =>
      idProblem(v) ? { message: idProblem(v)!, severity: vscode.InputBoxValidationSeverity.Warning } : undefined,
  });
  if (id === undefined) return NOT_APPLIED;
  file ??= await pickFile(`The blob of the new helper "${id}"`, doc);
  if (!file) return NOT_APPLIED;
  return confirmAndApply(doc, { type: "helper-add", id, bytes: await readFileBytes(file) });
}

export async function setField(doc: VmstateDocument, nodeId: string, value?: string): Promise<EditResult> {
  if (value === undefined) {
    const d = await (await doc.index()).details(nodeId);
    const e = d?.editable;
    if (!d || !e || e.kind === "bytes")
      throw new EditError(`${d?.node.name ?? nodeId} is not an integer or bool field`);
    value = await vscode.window.showInputBox({
      title: `Set ${d.node.name}`,
      prompt: e.kind === "bool" ? "true or false" : `${e.enc}: ${e.min} … ${e.max}; decimal, 0x hex, 0b, 0o`,
      value: d.value ?? "",
    });
    if (value === undefined) return NOT_APPLIED;
  }
  return confirmAndApply(doc, { type: "field-set", nodeId, value });
}

export async function replaceBytes(doc: VmstateDocument, nodeId: string, file?: vscode.Uri): Promise<EditResult> {
  const d = await (await doc.index()).details(nodeId);
  const e = d?.editable;
  if (!d || e?.kind !== "bytes") throw new EditError(`${d?.node.name ?? nodeId} is not a raw field or opaque payload`);
  file ??= await pickFile(`Replace the ${e.length} bytes of ${d.node.name} (same length)`, doc);
  if (!file) return NOT_APPLIED;
  const bytes = await readFileBytes(file);
  if (bytes.length !== e.length)
    throw new EditError(
      `${d.node.name} is ${e.length} bytes; ${file.path.split("/").pop()} has ${bytes.length} (the length must stay the same)`,
    );
  return confirmAndApply(doc, { type: "bytes-set", nodeId, bytes });
}

/** The bus explorer's "use in open stream": replace helper `helperId`'s blob, or add it when the stream lacks it. */
export async function useHelperBytes(doc: VmstateDocument, helperId: string, bytes: Uint8Array): Promise<EditResult> {
  const index = (await (await doc.index()).helpers()).findIndex((h) => h.id === helperId);
  if (index < 0) return confirmAndApply(doc, { type: "helper-add", id: helperId, bytes });
  return confirmAndApply(doc, { type: "helper-set", index, id: helperId, bytes });
}
