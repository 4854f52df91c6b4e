// The vscode.CustomDocument for a migration stream: a thin adapter over the pure decoder and the
// StreamIndex. Edits (a later issue) slot in here: they become reversible records fed to
// onDidChange (undo/redo), save writes a temp file then renames, backup stores the edit list.

import * as vscode from "vscode";
import { FileByteSource } from "../io/fileSource";
import { MemoryByteSource } from "../io/memorySource";
import type { ByteSource } from "../format/types";
import { StreamIndex } from "./streamIndex";
import { Disposable } from "./disposable";

/** What a backup holds: the edit list, never a copy of the file. */
export interface VmstateBackup {
  version: 1;
  uri: string;
  edits: unknown[];
}

export class VmstateDocument extends Disposable implements vscode.CustomDocument {
  private source?: ByteSource & { close?(): void };
  private indexPromise?: Promise<StreamIndex>;
  private current?: StreamIndex;

  /** Content changed (revert, later edits): webviews reload what they show. */
  private readonly _onDidChangeContent = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeContent = this._onDidChangeContent.event;

  /** An undoable edit happened (none yet): VS Code's dirty state and undo stack. */
  private readonly _onDidChange = this._register(new vscode.EventEmitter<vscode.CustomDocumentEditEvent<VmstateDocument>>());
  readonly onDidChange = this._onDidChange.event;

  private readonly _onDidDispose = this._register(new vscode.EventEmitter<void>());
  readonly onDidDispose = this._onDidDispose.event;

  static async create(uri: vscode.Uri, backupId: string | undefined): Promise<VmstateDocument> {
    const doc = new VmstateDocument(uri);
    if (backupId) {
      // Edits are not implemented yet: a backup only records that there were none.
      try {
        const raw = await vscode.workspace.fs.readFile(vscode.Uri.parse(backupId));
        JSON.parse(new TextDecoder().decode(raw)) as VmstateBackup;
      } catch {
        /* a missing or unreadable backup: open the file as saved */
      }
    }
    return doc;
  }

  private constructor(readonly uri: vscode.Uri) {
    super();
  }

  get fileName(): string {
    return this.uri.path.split("/").pop() ?? this.uri.path;
  }

  /** The decoded stream; decoding starts on first use (after the webview has its HTML). */
  index(): Promise<StreamIndex> {
    this.indexPromise ??= this.load();
    return this.indexPromise;
  }

  /** The index if decoding has finished. */
  get loaded(): StreamIndex | undefined {
    return this.current;
  }

  private async load(): Promise<StreamIndex> {
    this.source = await openSource(this.uri);
    // Let pending messages (the webview HTML, its progress ring) go out before the synchronous decode.
    await new Promise((r) => setTimeout(r, 20));
    const index = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `Indexing ${this.fileName}` },
      async () => new StreamIndex(this.source!),
    );
    this.current = index;
    return index;
  }

  async save(_cancel: vscode.CancellationToken): Promise<void> {
    // No edits yet: the file on disk is the document.
  }

  async saveAs(target: vscode.Uri, _cancel: vscode.CancellationToken): Promise<void> {
    if (target.toString() === this.uri.toString()) return;
    await vscode.workspace.fs.copy(this.uri, target, { overwrite: true });
  }

  async revert(_cancel: vscode.CancellationToken): Promise<void> {
    this.closeSource();
    this.current = undefined;
    this.indexPromise = this.load();
    await this.indexPromise;
    this._onDidChangeContent.fire();
  }

  async backup(destination: vscode.Uri, _cancel: vscode.CancellationToken): Promise<vscode.CustomDocumentBackup> {
    const backup: VmstateBackup = { version: 1, uri: this.uri.toString(), edits: [] };
    await vscode.workspace.fs.writeFile(destination, new TextEncoder().encode(JSON.stringify(backup)));
    return {
      id: destination.toString(),
      delete: async () => {
        try {
          await vscode.workspace.fs.delete(destination);
        } catch {
          /* already gone */
        }
      },
    };
  }

  private closeSource(): void {
    this.source?.close?.();
    this.source = undefined;
  }

  override dispose(): void {
    this._onDidDispose.fire();
    this.closeSource();
    super.dispose();
  }
}

async function openSource(uri: vscode.Uri): Promise<ByteSource & { close?(): void }> {
  if (uri.scheme === "file") return FileByteSource.open(uri.fsPath);
  // Other file systems (virtual, remote): read it whole; the paged reader needs a local path.
  return new MemoryByteSource(await vscode.workspace.fs.readFile(uri));
}
