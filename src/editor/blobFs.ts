// Read-only in-memory files for blobs that live nowhere on disk (a live helper's Save in the bus
// explorer): opened in the custom editor, which shows them in its hex/text blob view.

import * as vscode from "vscode";

export const BLOB_SCHEME = "qemu-vmstate-blob";
/** Blobs kept (oldest dropped first): each can be up to a few MiB. */
const MAX_BLOBS = 32;

export class BlobFileSystem implements vscode.FileSystemProvider {
  private readonly blobs = new Map<string, { bytes: Uint8Array; mtime: number }>();
  private seq = 0;
  private readonly _onDidChangeFile = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this._onDidChangeFile.event;

  static register(context: vscode.ExtensionContext): BlobFileSystem {
    const fs = new BlobFileSystem();
    context.subscriptions.push(
      vscode.workspace.registerFileSystemProvider(BLOB_SCHEME, fs, { isReadonly: true, isCaseSensitive: true }),
    );
    return fs;
  }

  /** A new uri for `bytes`, named after `title`. */
  add(title: string, bytes: Uint8Array): vscode.Uri {
    const name = title.replace(/[^A-Za-z0-9._ ~·-]+/g, "_").slice(0, 80) || "blob";
    const uri = vscode.Uri.from({ scheme: BLOB_SCHEME, path: `/${++this.seq}/${name}.bin` });
    this.blobs.set(uri.path, { bytes, mtime: Date.now() });
    while (this.blobs.size > MAX_BLOBS) this.blobs.delete(this.blobs.keys().next().value as string);
    return uri;
  }

  private get(uri: vscode.Uri): { bytes: Uint8Array; mtime: number } {
    const b = this.blobs.get(uri.path);
    if (!b) throw vscode.FileSystemError.FileNotFound(uri);
    return b;
  }

  stat(uri: vscode.Uri): vscode.FileStat {
    if (uri.path === "/" || /^\/\d+$/.test(uri.path))
      return { type: vscode.FileType.Directory, ctime: 0, mtime: 0, size: 0 };
    const b = this.get(uri);
    return {
      type: vscode.FileType.File,
      ctime: b.mtime,
      mtime: b.mtime,
      size: b.bytes.length,
      permissions: vscode.FilePermission.Readonly,
    };
  }
  readFile(uri: vscode.Uri): Uint8Array {
    return this.get(uri).bytes;
  }
  readDirectory(): [string, vscode.FileType][] {
    return [];
  }
  watch(): vscode.Disposable {
    return new vscode.Disposable(() => {});
  }
  createDirectory(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  writeFile(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  delete(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  rename(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
}
