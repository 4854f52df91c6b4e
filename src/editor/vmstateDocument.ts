// The vscode.CustomDocument for a migration stream: a thin adapter over the pure StreamModel
// (original file + structural edits) and the StreamIndex the webview queries. Each edit is one
// labelled undo step for VS Code; save writes a temp file and renames it over the original;
// a backup holds the edit list, never a copy of the file.

import * as fs from "node:fs";
import * as vscode from "vscode";
import { FileByteSource } from "../io/fileSource";
import { MemoryByteSource } from "../io/memorySource";
import { writeChunksAtomically } from "../io/writeChunks";
import type { ByteSource, DecodedStream, VNode } from "../format/types";
import { StreamModel } from "../model/streamModel";
import { editFromJson, editLabel, editToJson, findNode, type Edit } from "../model/edits";
import { StreamIndex } from "./streamIndex";
import { ContainerError, needsDecompression, openAsBareStream, openVmState, writeEdited, writePlan, type OpenedVmState } from "../container";
import { Disposable } from "./disposable";
import { askModal, askPick } from "./prompts";

/** What a backup holds: the edit list (editToJson: bytes as base64), never a copy of the file. */
export interface VmstateBackup {
  version: 1;
  uri: string;
  edits: Record<string, unknown>[];
}

type Source = ByteSource & { close?(): void };

export const RELOAD_DROP = "Reload and Drop My Edits";
export const SAVE_RAW = "Save Uncompressed";
export const KEEP_MINE = "Keep My Edits";

export class VmstateDocument extends Disposable implements vscode.CustomDocument {
  private source?: Source;
  /** The file as a container (libvirt image, compressed stream, qcow2 snapshot); `source` is its stream. */
  private opened?: OpenedVmState;
  /** The qcow2 snapshot shown (id), once picked. */
  snapshot?: string;
  private model?: StreamModel;
  private indexPromise?: Promise<StreamIndex>;
  private current?: StreamIndex;
  /** Edits restored from a backup, applied on first load. */
  private restored: Edit[] = [];
  /** The edit list as last saved (or loaded): the document is dirty when the model's differs. */
  private savedEdits: readonly Edit[] = [];
  /**
   * Bumped whenever the model is rebuilt over a new base (save over the file, revert, reload):
   * undo records of older generations can no longer be replayed as edit lists (see makeUndo).
   */
  private generation = 0;
  /** The file as we last read or wrote it, so our own save does not look like a change on disk. */
  private known?: { size: number; mtimeMs: number; ino: number };
  private askingAboutDisk = false;

  /** Content changed (edit, undo, redo, revert, reload): webviews reload what they show. */
  private readonly _onDidChangeContent = this._register(new vscode.EventEmitter<{ reason: string }>());
  readonly onDidChangeContent = this._onDidChangeContent.event;

  /** An undoable edit happened: VS Code's dirty state and undo stack. */
  private readonly _onDidChange = this._register(new vscode.EventEmitter<vscode.CustomDocumentEditEvent<VmstateDocument>>());
  readonly onDidChange = this._onDidChange.event;

  private readonly _onDidDispose = this._register(new vscode.EventEmitter<void>());
  readonly onDidDispose = this._onDidDispose.event;

  static async create(uri: vscode.Uri, backupId: string | undefined): Promise<VmstateDocument> {
    const doc = new VmstateDocument(uri);
    if (backupId) {
      try {
        const raw = await vscode.workspace.fs.readFile(vscode.Uri.parse(backupId));
        const b = JSON.parse(new TextDecoder().decode(raw)) as VmstateBackup;
        doc.restored = (b.edits ?? []).map((e) => editFromJson(e));
      } catch (e) {
        void vscode.window.showWarningMessage(`Could not restore the unsaved edits of ${doc.fileName}: ${e instanceof Error ? e.message : e}`);
      }
    }
    doc.watch();
    return doc;
  }

  private constructor(readonly uri: vscode.Uri) {
    super();
  }

  get fileName(): string {
    return this.uri.path.split("/").pop() ?? this.uri.path;
  }

  /** The decoded (edited) stream; decoding starts on first use (after the webview has its HTML). */
  index(): Promise<StreamIndex> {
    this.indexPromise ??= this.load();
    return this.indexPromise;
  }

  /** The index if decoding has finished. */
  get loaded(): StreamIndex | undefined {
    return this.current;
  }

  /** The edits made since the last save. */
  get edits(): readonly Edit[] {
    return this.model?.edits ?? this.restored;
  }

  get isDirty(): boolean {
    return !sameList(this.edits, this.savedEdits);
  }

  /** What carries the stream (undefined until loaded, or for non-file URIs). */
  get container(): OpenedVmState | undefined {
    return this.opened;
  }

  private async openSource(): Promise<Source> {
    if (this.uri.scheme !== "file") return openSource(this.uri);
    this.opened = await openContainerWithUi(this.uri, this.fileName, this.snapshot);
    if (this.opened.container.snapshot) this.snapshot = this.opened.container.snapshot.id;
    return this.opened.source;
  }

  private async load(): Promise<StreamIndex> {
    this.source = await this.openSource();
    this.known = statOf(this.uri);
    // Let pending messages (the webview HTML, its progress ring) go out before the synchronous decode.
    await new Promise((r) => setTimeout(r, 20));
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Indexing ${this.fileName}` }, async () => {
      const model = new StreamModel(this.source!);
      if (this.restored.length) {
        try {
          model.setEdits(this.restored);
        } catch (e) {
          void vscode.window.showWarningMessage(`The unsaved edits of ${this.fileName} no longer apply to the file: ${e instanceof Error ? e.message : e}`);
        }
        this.restored = [];
      }
      this.model = model;
      return this.rebuild();
    });
  }

  private rebuild(): StreamIndex {
    const m = this.model!;
    const c = this.opened;
    this.current = new StreamIndex(m.source, m.decoded, m.decodeMs, c ? { info: c.container, toFileOffset: (o) => (m.edits.length ? undefined : c.toFileOffset(o)) } : undefined);
    this.indexPromise = Promise.resolve(this.current);
    return this.current;
  }

  /**
   * Applies one edit as one undo step. Throws (EditError) when it cannot be applied; warnings
   * (editWarnings) are the caller's to confirm first.
   */
  async applyEdit(edit: Edit): Promise<string> {
    await this.index();
    const model = this.model!;
    const before = model.edits.slice();
    const inverse = inverseOf(model.decoded, model.source, edit);
    model.apply(edit);
    const after = model.edits.slice();
    const label = editLabel(edit);
    this.changed(label);
    this._onDidChange.fire({ document: this, label, ...this.makeUndo(edit, inverse, before, after) });
    return label;
  }

  /**
   * Undo and redo of one edit. In the generation it was made in, they set the model's edit list
   * (exact, and shared prefixes are not recomputed). After a save or reload rebuilt the model over
   * a new base, they apply the edit or its inverse as a new edit instead.
   */
  private makeUndo(edit: Edit, inverse: Edit | undefined, before: Edit[], after: Edit[]): { undo(): void; redo(): void } {
    const gen = this.generation;
    const replay = (list: Edit[], expect: Edit[], fallback: Edit | undefined, counterpart: Edit | undefined, what: string) => {
      const model = this.model;
      if (!model) return;
      try {
        if (this.generation === gen && sameList(model.edits, expect)) model.setEdits(list);
        // redo right after an undo across a save: drop the inverse rather than stack the edit on it
        else if (counterpart && model.edits[model.edits.length - 1] === counterpart) model.setEdits(model.edits.slice(0, -1));
        else if (fallback) model.apply(fallback);
        else throw new Error("it cannot be reversed after a save");
      } catch (e) {
        void vscode.window.showErrorMessage(`Cannot ${what} "${editLabel(edit)}": ${e instanceof Error ? e.message : e}`);
        return;
      }
      this.changed(what);
    };
    return {
      undo: () => replay(before, after, inverse, edit, "undo"),
      redo: () => replay(after, before, edit, inverse, "redo"),
    };
  }

  private changed(reason: string): void {
    this.rebuild();
    this._onDidChangeContent.fire({ reason });
  }

  /** The bytes of the edited stream over [start, end) (exports, Save As to another scheme). */
  read(offset: number, length: number): Uint8Array {
    if (!this.model) throw new Error("not loaded");
    return this.model.source.read(offset, length);
  }

  async save(_cancel?: vscode.CancellationToken): Promise<void> {
    await this.writeTo(this.uri);
    // The old descriptor reads the replaced inode: reopen the file and start again with no edits.
    this.closeSource();
    this.source = await this.openSource();
    this.known = statOf(this.uri);
    this.model = new StreamModel(this.source);
    this.savedEdits = this.model.edits.slice();
    this.generation++;
    this.changed("save");
  }

  async saveAs(target: vscode.Uri, _cancel?: vscode.CancellationToken): Promise<void> {
    if (target.toString() === this.uri.toString()) return this.save();
    await this.writeTo(target);
  }

  private async writeTo(target: vscode.Uri): Promise<void> {
    await this.index();
    const model = this.model!;
    const c = this.opened;
    if (target.scheme === "file" && c && c.container.kind !== "stream") {
      // Inside the container: header, XML and cookie kept, the stream recompressed where we can.
      let mode: "same" | "raw" = "same";
      const plan = writePlan(c);
      if (c.container.kind === "qcow2-snapshot") throw new Error(`${this.fileName}: ${plan.note}`);
      if (!plan.canKeep) {
        const pick = await askModal(`${this.fileName} is ${c.container.compression}-compressed.`, `${plan.note}. Write it uncompressed?`, SAVE_RAW);
        if (pick !== SAVE_RAW) throw new Error("save cancelled: the image was not written");
        mode = "raw";
      }
      await writeEdited(c, model.saveChunks(), target.fsPath, mode);
      if (target.toString() === this.uri.toString()) this.known = statOf(target);
      return;
    }
    if (target.scheme === "file" && this.source) {
      // Unchanged spans are copied from the original file, only edited parts are written.
      writeChunksAtomically(target.fsPath, this.source, model.saveChunks());
      if (target.toString() === this.uri.toString()) this.known = statOf(target);
      return;
    }
    await vscode.workspace.fs.writeFile(target, model.source.read(0, model.source.size));
  }

  async revert(_cancel?: vscode.CancellationToken): Promise<void> {
    await this.reload(this.askingAboutDisk ? "disk" : "revert");
  }

  /** Reads the file again and drops every edit. */
  private async reload(reason: string): Promise<void> {
    this.closeSource();
    this.restored = [];
    this.model = undefined;
    this.current = undefined;
    this.indexPromise = this.load();
    await this.indexPromise;
    this.savedEdits = this.model!.edits.slice();
    this.generation++;
    this._onDidChangeContent.fire({ reason });
  }

  async backup(destination: vscode.Uri, _cancel?: vscode.CancellationToken): Promise<vscode.CustomDocumentBackup> {
    const backup: VmstateBackup = { version: 1, uri: this.uri.toString(), edits: this.edits.map(editToJson) };
    try {
      // the backup folder may not exist yet
      await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(destination, ".."));
      await vscode.workspace.fs.writeFile(destination, new TextEncoder().encode(JSON.stringify(backup)));
    } catch (e) {
      console.error(`[qemu-vmstate] backup of ${this.fileName} to ${destination.toString()} failed: ${e instanceof Error ? e.message : e}`);
      throw e;
    }
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

  /** Notices changes to the file made by others (our own saves are recognised by size, mtime and inode). */
  private watch(): void {
    if (this.uri.scheme !== "file") return;
    const dir = vscode.Uri.joinPath(this.uri, "..");
    const w = this._register(vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(dir, this.fileName)));
    const onChange = () => void this.onDiskChange();
    this._register(w.onDidChange(onChange));
    this._register(w.onDidCreate(onChange));
  }

  /** The file changed on disk: reload, or with edits pending ask whether to drop them. */
  async onDiskChange(): Promise<"ignored" | "reloaded" | "kept"> {
    if (!this.model || this.askingAboutDisk) return "ignored";
    const now = statOf(this.uri);
    const k = this.known;
    if (!now || (k && now.size === k.size && now.mtimeMs === k.mtimeMs && now.ino === k.ino)) return "ignored";
    if (!this.isDirty) {
      await this.reload("disk");
      return "reloaded";
    }
    this.askingAboutDisk = true;
    try {
      const pick = await askModal(
        `${this.fileName} changed on disk.`,
        `You have ${this.edits.length} unsaved edit(s). Reload the file and drop them, or keep editing the version you opened (saving then overwrites the file on disk).`,
        RELOAD_DROP,
        KEEP_MINE,
      );
      if (pick === RELOAD_DROP) {
        // through VS Code, so its dirty state and undo stack are reset too (it calls revert())
        const before = this.generation;
        // (only when ours is the active editor: the command reverts the active one)
        const active = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
        if (active instanceof vscode.TabInputCustom && active.uri.toString() === this.uri.toString()) {
          await vscode.commands.executeCommand("workbench.action.files.revert", this.uri).then(undefined, () => undefined);
        }
        if (this.generation === before) await this.reload("disk");
        return "reloaded";
      }
      // Keep mine: do not ask again for this version of the file.
      this.known = statOf(this.uri);
      return "kept";
    } finally {
      this.askingAboutDisk = false;
    }
  }

  private closeSource(): void {
    if (this.opened) this.opened.close();
    else this.source?.close?.();
    this.opened = undefined;
    this.source = undefined;
  }

  /** Shows another qcow2 snapshot (drops edits: snapshots are read-only anyway). */
  async switchSnapshot(id: string): Promise<void> {
    this.snapshot = id;
    await this.reload("snapshot");
  }

  /** Re-reads the file after a change we made ourselves (Edit Domain XML). */
  async reloadAfterOwnWrite(reason: string): Promise<void> {
    await this.reload(reason);
  }

  /** The edited stream as written by a save (Export Stream). */
  streamChunks(): { src: ByteSource; chunks: ReturnType<StreamModel["saveChunks"]> } {
    if (!this.model || !this.source) throw new Error("not loaded");
    return { src: this.source, chunks: this.model.saveChunks() };
  }

  override dispose(): void {
    this._onDidDispose.fire();
    this.closeSource();
    super.dispose();
  }
}

function sameList(a: readonly Edit[], b: readonly Edit[]): boolean {
  return a.length === b.length && a.every((e, i) => e === b[i]);
}

function statOf(uri: vscode.Uri): { size: number; mtimeMs: number; ino: number } | undefined {
  if (uri.scheme !== "file") return undefined;
  try {
    const st = fs.statSync(uri.fsPath);
    return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  } catch {
    return undefined;
  }
}

function copyOf(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}

/**
 * The edit that takes the stream after `e` back to `d` (used to undo across a save). Removing a
 * helper is undone by adding it again, at the end of the list.
 */
export function inverseOf(d: DecodedStream, src: ByteSource, e: Edit): Edit | undefined {
  switch (e.type) {
    case "helper-set": {
      const h = d.helpers[e.index];
      return h && { type: "helper-set", index: e.index, id: e.id, bytes: copyOf(src.read(h.blob.start, h.blob.end - h.blob.start)) };
    }
    case "helper-add":
      return { type: "helper-remove", index: d.helpers.length, id: e.id };
    case "helper-remove": {
      const h = d.helpers[e.index];
      return h && { type: "helper-add", id: e.id, bytes: copyOf(src.read(h.blob.start, h.blob.end - h.blob.start)) };
    }
    case "helper-rename":
      return { type: "helper-rename", index: e.index, id: e.newId, newId: e.id };
    case "field-set": {
      const n: VNode | undefined = findNode(d.root, e.nodeId);
      const v = n?.value;
      if (v === undefined || v instanceof Uint8Array || typeof v === "string") return undefined;
      return { type: "field-set", nodeId: e.nodeId, value: String(v) };
    }
    case "bytes-set": {
      const n = findNode(d.root, e.nodeId);
      return n && { type: "bytes-set", nodeId: e.nodeId, bytes: copyOf(src.read(n.span.start, n.span.end - n.span.start)) };
    }
  }
}

/**
 * Opens a file as a container: decompression runs with a cancellable progress notification, and a
 * qcow2 with several snapshots asks which one (QEMU's loadvm takes an id or a tag too).
 */
async function openContainerWithUi(uri: vscode.Uri, fileName: string, snapshot: string | undefined): Promise<OpenedVmState> {
  const attempt = (snap: string | undefined) =>
    !needsDecompression(uri.fsPath)
      ? openVmState(uri.fsPath, { ...(snap !== undefined ? { snapshot: snap } : {}), keepPartial: true })
      : vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Opening ${fileName}`, cancellable: true }, async (progress, token) => {
      const ac = new AbortController();
      const sub = token.onCancellationRequested(() => ac.abort());
      let last = 0;
      try {
        return await openVmState(uri.fsPath, {
          ...(snap !== undefined ? { snapshot: snap } : {}),
          keepPartial: true,
          signal: ac.signal,
          onProgress: (p) => {
            const pct = p.total ? Math.floor((100 * p.read) / p.total) : 0;
            progress.report({ message: `decompressing: ${(p.written / 1048576).toFixed(0)} MiB of stream`, increment: pct - last });
            last = pct;
          },
        });
      } finally {
        sub.dispose();
      }
    });
  try {
    return await attempt(snapshot);
  } catch (e) {
    // none of the known containers: show it as a stream anyway (hex view, the decoder's bad-magic error)
    if (e instanceof ContainerError && e.code === "bad-magic") return openAsBareStream(uri.fsPath, e.message);
    if (!(e instanceof ContainerError) || e.code !== "snapshot-ambiguous") throw e;
    const { listSnapshots } = await import("../container");
    const items = listSnapshots(uri.fsPath)
      .filter((s) => s.vmStateSize > 0)
      .map((s) => ({ label: `${s.id} ${s.tag}`, description: `${s.vmStateSize} bytes, ${s.date}`, id: s.id }));
    const pick = await askPick(items, { title: `${fileName}: which snapshot's VM state?`, placeHolder: "qcow2 internal snapshot" });
    if (!pick) throw e;
    return attempt(pick.id);
  }
}

async function openSource(uri: vscode.Uri): Promise<Source> {
  if (uri.scheme === "file") return FileByteSource.open(uri.fsPath);
  // Other file systems (virtual, remote): read it whole; the paged reader needs a local path.
  return new MemoryByteSource(await vscode.workspace.fs.readFile(uri));
}
