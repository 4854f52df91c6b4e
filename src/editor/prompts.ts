// Modal questions the editor asks (warnings before an edit QEMU would refuse, a file changed on
// disk, which qcow2 snapshot). They go through one Prompter, VS Code's dialogs; the integration
// tests' own build of the extension (test/integration/host/extension.ts) answers them instead, as
// a modal dialog cannot be clicked from the extension host. Nothing of that is in the shipped
// bundle: only that build calls setPrompter (esbuild drops it from dist/extension.js).

import * as vscode from "vscode";

export type PickItem = vscode.QuickPickItem & { id?: string };

export interface Prompter {
  modal(message: string, detail: string, items: string[]): Thenable<string | undefined>;
  pick<T extends PickItem>(items: T[], options: vscode.QuickPickOptions): Thenable<T | undefined>;
}

let prompter: Prompter = {
  modal: (message, detail, items) => vscode.window.showWarningMessage(message, { modal: true, detail }, ...items),
  pick: (items, options) => vscode.window.showQuickPick(items, options),
};

/** Replaces who answers the questions; returns the previous one. */
export function setPrompter(p: Prompter): Prompter {
  const prev = prompter;
  prompter = p;
  return prev;
}

export async function askModal(message: string, detail: string, ...items: string[]): Promise<string | undefined> {
  return prompter.modal(message, detail, items);
}

/** A quick pick (tests answer it like a modal, by label or by `id`). */
export async function askPick<T extends PickItem>(
  items: T[],
  options: vscode.QuickPickOptions,
): Promise<T | undefined> {
  return prompter.pick(items, options);
}
