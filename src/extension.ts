// Extension entry point: registers the custom editor, its commands and the D-Bus explorer.
import * as vscode from "vscode";
import { VmstateEditorProvider, VIEW_TYPE_ANY } from "./editor/vmstateEditorProvider";
import { BlobFileSystem } from "./editor/blobFs";
import { registerCommands } from "./editor/commands";
import { registerContainerCommands } from "./editor/containerCommands";
import { registerBusExplorer, type BusExplorerApi } from "./bus/busExplorer";
import { registerQemuView, type QemuViewApi } from "./qemuView/qemuView";
import { registerCompare } from "./editor/compareView";
import { startLagProbe } from "./editor/lagProbe";

/** What activate() returns (extension.exports), for integration tests. */
export interface QemuVmstateApi {
  bus: BusExplorerApi;
  /** The QEMU (QMP) view. */
  qemu: QemuViewApi;
  /** The custom editor provider (integration tests: backups, documents). */
  editor: VmstateEditorProvider;
  /** Opens bytes in the blob view (as the bus explorer does for a live Save). */
  showBlob(title: string, bytes: Uint8Array): Promise<void>;
  /** Opens the compare view of two VM state files. */
  compare: ReturnType<typeof registerCompare>;
}

export function activate(context: vscode.ExtensionContext): QemuVmstateApi {
  const probe = startLagProbe(process.env.QEMU_VMSTATE_LAG_FILE);
  if (probe) context.subscriptions.push(probe);
  const provider = VmstateEditorProvider.register(context);
  registerCommands(context, provider);
  registerContainerCommands(context, provider);
  const blobs = BlobFileSystem.register(context);
  // A live helper's Save opens in the editor's blob view (hex + text), read-only.
  const showBlob = async (title: string, bytes: Uint8Array) => {
    await vscode.commands.executeCommand("vscode.openWith", blobs.add(title, bytes), VIEW_TYPE_ANY, { preview: true });
  };
  const bus = registerBusExplorer(context, { findStreamHelper: (id) => provider.findHelperBlob(id), showBlob });
  const qemu = registerQemuView(context);
  const compare = registerCompare(context, provider);
  return { bus, qemu, editor: provider, showBlob, compare };
}

export function deactivate(): void {}
