// Modal questions the editor asks (warnings before an edit QEMU would refuse, a file changed on
// disk). Tests answer them ahead of time through qemuVmstate._test.answerPrompts: a modal dialog
// cannot be clicked from the extension host.

import * as vscode from "vscode";

const queued: (string | undefined)[] = [];
const asked: string[] = [];

/** Answers for the next modal questions, in order (undefined = dismissed). */
export function queueAnswers(answers: (string | undefined)[]): void {
  queued.push(...answers);
}

/** The questions asked so far (and forget them). */
export function takeAsked(): string[] {
  return asked.splice(0);
}

export async function askModal(message: string, detail: string, ...items: string[]): Promise<string | undefined> {
  asked.push(message);
  if (queued.length) return queued.shift();
  return vscode.window.showWarningMessage(message, { modal: true, detail }, ...items);
}

/** A quick pick that tests answer like a modal (by label or by `id`). */
export async function askPick<T extends vscode.QuickPickItem & { id?: string }>(items: T[], options: vscode.QuickPickOptions): Promise<T | undefined> {
  asked.push(options.title ?? options.placeHolder ?? "pick");
  if (queued.length) {
    const a = queued.shift();
    return items.find((i) => i.label === a || i.id === a);
  }
  return vscode.window.showQuickPick(items, options);
}
