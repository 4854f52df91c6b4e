// Extension entry point: registers the custom editor and its commands, nothing else.
import type * as vscode from "vscode";
import { VmstateEditorProvider } from "./editor/vmstateEditorProvider";
import { registerCommands } from "./editor/commands";

export function activate(context: vscode.ExtensionContext): void {
  const provider = VmstateEditorProvider.register(context);
  registerCommands(context, provider);
}

export function deactivate(): void {}
