// Extension entry point: registers the custom editor, its commands and the D-Bus explorer.
import * as vscode from "vscode";
import { VmstateEditorProvider, VIEW_TYPE_ANY } from "./editor/vmstateEditorProvider";
import { BlobFileSystem } from "./editor/blobFs";
import { registerCommands } from "./editor/commands";
import { registerBusExplorer, type BusExplorerApi } from "./bus/busExplorer";
import { startLagProbe } from "./editor/lagProbe";

/** What activate() returns (extension.exports), for integration tests. */
export interface QemuVmstateApi {
  bus: BusExplorerApi;
  /** The custom editor provider (integration tests: backups, documents). */
  editor: VmstateEditorProvider;
  /** Opens bytes in the blob view (as the bus explorer does for a live Save). */
  showBlob(title: string, bytes: Uint8Array): Promise<void>;
}

export function activate(context: vscode.ExtensionContext): QemuVmstateApi {
  const probe = startLagProbe(process.env.QEMU_VMSTATE_LAG_FILE);
  if (probe) context.subscriptions.push(probe);
  const provider = VmstateEditorProvider.register(context);
  registerCommands(context, provider);
  const blobs = BlobFileSystem.register(context);
  // A live helper's Save opens in the editor's blob view (hex + text), read-only.
  const showBlob = async (title: string, bytes: Uint8Array) => {
    await vscode.commands.executeCommand("vscode.openWith", blobs.add(title, bytes), VIEW_TYPE_ANY, { preview: true });
  };
  const bus = registerBusExplorer(context, { findStreamHelper: (id) => provider.findHelperBlob(id), showBlob });
  return { bus, editor: provider, showBlob };
}

export function deactivate(): void {}
