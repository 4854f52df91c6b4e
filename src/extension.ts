// Extension entry point: registers the custom editor, its commands and the D-Bus explorer.
import type * as vscode from "vscode";
import { VmstateEditorProvider } from "./editor/vmstateEditorProvider";
import { registerCommands } from "./editor/commands";
import { registerBusExplorer, type BusExplorerApi } from "./bus/busExplorer";

/** What activate() returns (extension.exports), for integration tests. */
export interface QemuVmstateApi {
  bus: BusExplorerApi;
}

export function activate(context: vscode.ExtensionContext): QemuVmstateApi {
  const provider = VmstateEditorProvider.register(context);
  registerCommands(context, provider);
  const bus = registerBusExplorer(context, { findStreamHelper: (id) => provider.findHelperBlob(id) });
  return { bus };
}

export function deactivate(): void {}
