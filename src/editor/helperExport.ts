// Exporting and copying dbus-vmstate helper blobs (editor side; the CLI's `helpers --extract`
// writes the same files through the same writeHelperFiles).

import * as vscode from "vscode";
import { safeHelperFileNames, writeHelperFiles } from "../format/helperFiles";
import { toHex } from "../format/bytes";
import { writeAllSync, writeFileInDir } from "../io/safeWrite";
import type { VmstateDocument } from "./vmstateDocument";
import type { CopyFormat } from "../shared/protocol";

export async function helperFileNames(doc: VmstateDocument): Promise<string[]> {
  const idx = await doc.index();
  return safeHelperFileNames((await idx.helpers()).map((h) => h.id));
}

function parentFolder(doc: VmstateDocument): vscode.Uri {
  return vscode.Uri.joinPath(doc.uri, "..");
}

/** Writes one blob; asks where unless `target` is given. Returns the written path. */
export async function exportHelperBlob(
  doc: VmstateDocument,
  helperIndex: number,
  target?: vscode.Uri,
): Promise<string | undefined> {
  const idx = await doc.index();
  const blob = await idx.helperBlob(helperIndex);
  const names = await helperFileNames(doc);
  if (!target) {
    target = await vscode.window.showSaveDialog({
      title: `Export helper blob "${(await idx.helpers())[helperIndex]?.id}"`,
      defaultUri: vscode.Uri.joinPath(parentFolder(doc), names[helperIndex] ?? `helper-${helperIndex}.bin`),
      saveLabel: "Export",
    });
    if (!target) return undefined;
  }
  await vscode.workspace.fs.writeFile(target, blob);
  return target.scheme === "file" ? target.fsPath : target.toString();
}

/** Writes every blob into a folder with safe file names and a manifest.json. */
export async function exportAllHelperBlobs(
  doc: VmstateDocument,
  folder?: vscode.Uri,
): Promise<{ folder: string; files: number } | undefined> {
  const idx = await doc.index();
  const helpers = await idx.helpers();
  if (helpers.length === 0) {
    void vscode.window.showInformationMessage(`${doc.fileName} has no dbus-vmstate helper blobs.`);
    return undefined;
  }
  if (!folder) {
    const picked = await vscode.window.showOpenDialog({
      title: `Export ${helpers.length} helper blob(s) from ${doc.fileName}`,
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      defaultUri: parentFolder(doc),
      openLabel: "Export Here",
    });
    folder = picked?.[0];
    if (!folder) return undefined;
  }
  // local folders: the CLI's safe writer (fresh O_EXCL|O_NOFOLLOW temp file renamed into place), so a
  // symlink already in the folder is replaced, never followed; other file systems: VS Code's
  const dest = folder;
  const put = async (name: string, bytes: Uint8Array) => {
    if (dest.scheme === "file") writeFileInDir(dest.fsPath, name, (fd) => writeAllSync(fd, bytes));
    else await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dest, name), bytes);
  };
  const list = helpers.map((h) => ({ id: h.id, size: h.size, offset: h.blobStart }));
  await writeHelperFiles(
    list,
    (i) => idx.helperBlob(helpers[i]!.index),
    (_b, i) => helpers[i]!.sha256,
    put,
  );
  const path = folder.scheme === "file" ? folder.fsPath : folder.toString();
  void vscode.window.showInformationMessage(`Exported ${helpers.length} helper blob(s) and manifest.json to ${path}`);
  return { folder: path, files: helpers.length };
}

export async function copyHelperBlob(
  doc: VmstateDocument,
  helperIndex: number,
  format: CopyFormat,
): Promise<{ bytes: number }> {
  const idx = await doc.index();
  const blob = await idx.helperBlob(helperIndex);
  const text =
    format === "hex"
      ? toHex(blob)
      : format === "base64"
        ? Buffer.from(blob).toString("base64")
        : new TextDecoder().decode(blob);
  await vscode.env.clipboard.writeText(text);
  return { bytes: blob.length };
}
