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
