// The vscode.CustomDocument for a migration stream: a thin adapter over a decoding worker thread
// (worker/docWorker.ts), which holds the pure StreamModel (original file + structural edits) and
// the StreamIndex the webview queries; the extension host's thread only forwards requests, so
// opening, editing, undoing and saving a multi-GB stream never freeze VS Code. Each edit is one
// labelled undo step for VS Code; save writes a temp file and renames it over the original (with
// progress, cancellable); a backup holds the edit list, never a copy of the file. The worker
// opens a local file through the container opener (src/container): a libvirt save image, a
// compressed stream or a qcow2 snapshot shows its container node first, and saving writes the
// stream back inside the container (see writeTo).

import * as fs from "node:fs";
import * as vscode from "vscode";
import { editFromJson, editLabel, editToJson, type Edit } from "../model/edits";
import type { DocumentLocation } from "../io/openDocumentSource";
import { listSnapshots, needsDecompression, writePlan, type ContainerInfo } from "../container";
import { CancelledError, DocClient, DocIndex, WorkerError, type WorkerProgress } from "./worker/docClient";
import type { RefreshRequest, WorkerRefresh } from "./worker/messages";
import type { NodeDto, ViewReport } from "../shared/protocol";
import { Disposable } from "./disposable";
import { askModal, askPick } from "./prompts";

/** What a backup holds: the edit list (editToJson: bytes as base64), never a copy of the file. */
export interface VmstateBackup {
  version: 1;
  uri: string;
  edits: Record<string, unknown>[];
}

/** Streams at least this big show a cancellable notification while they open (smaller ones open in a blink). */
const NOTIFY_BYTES = 64 * 1024 * 1024;
/** streamIndex.ts CONTAINER_NODE_ID: the node of the file around the stream (libvirt header...). */
const CONTAINER_NODE = "$container";
/** At most this long between an edit and VS Code hearing of it (see applyEdit). */
const EDIT_EVENT_DELAY_MS = 150;

export const RELOAD_DROP = "Reload and Drop My Edits";
export const SAVE_RAW = "Save Uncompressed";
export const KEEP_MINE = "Keep My Edits";

export class VmstateDocument extends Disposable implements vscode.CustomDocument {
  private client?: DocClient;
  /** The edit list the worker's model holds (mirrored here: backups, dirty state, undo). */
  private list: Edit[] = [];
  private opened = false;
  /** What carries the stream (libvirt image, compressed stream, qcow2 snapshot), as the worker opened it. */
  private containerInfo?: ContainerInfo;
  /** The qcow2 snapshot shown (id), once picked. */
  snapshot?: string;
  private readonly ids = new WeakMap<Edit, number>();
  private nextId = 1;
  private indexPromise?: Promise<DocIndex>;
  private current?: DocIndex;
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

  /**
   * What the active webview shows (its last view/state): an edit, undo or redo asks the worker for
   * what that view must redraw, and the change event carries it (one message, no round trips).
   */
  view?: { report: ViewReport; owner: unknown };

  /**
   * Content changed (edit, undo, redo, revert, reload): webviews reload what they show. After an
   * edit, undo or redo, `refreshed` holds the new DocInfo and what changed (for the view `owner`).
   */
  private readonly _onDidChangeContent = this._register(new vscode.EventEmitter<ContentChange>());
  readonly onDidChangeContent = this._onDidChangeContent.event;

  /** An undoable edit happened: VS Code's dirty state and undo stack. */
  private readonly _onDidChange = this._register(
    new vscode.EventEmitter<vscode.CustomDocumentEditEvent<VmstateDocument>>(),
  );
  readonly onDidChange = this._onDidChange.event;

  /** Decoding and saving progress (bytes done), for the webview's progress bar. */
  private readonly _onProgress = this._register(new vscode.EventEmitter<WorkerProgress>());
  readonly onProgress = this._onProgress.event;

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
        void vscode.window.showWarningMessage(
          `Could not restore the unsaved edits of ${doc.fileName}: ${e instanceof Error ? e.message : e}`,
        );
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
  index(): Promise<DocIndex> {
    this.indexPromise ??= this.load();
    return this.indexPromise;
  }

  /** The index if decoding has finished. */
  get loaded(): DocIndex | undefined {
    return this.current;
  }

  /** The edits made since the last save. */
  get edits(): readonly Edit[] {
    return this.opened ? this.list : this.restored;
  }

  get isDirty(): boolean {
    return !sameList(this.edits, this.savedEdits);
  }

  private worker(): DocClient {
    if (!this.client) {
      const c = new DocClient();
      c.onProgress = (p) => {
        // the records decoded so far, all of them each time (a webview may have missed earlier reports)
        // (only while opening: a save's reopen decodes what the views already show)
        const { roots, ...rest } = p;
        if (p.op === "decode" && roots && !this.opened) this.partialRoots.push(...roots);
        this._onProgress.fire(
          p.op === "decode" && !this.opened && this.partialRoots.length ? { ...rest, roots: this.partialRoots } : rest,
        );
      };
      this.client = c;
    }
    return this.client;
  }

  private idOf(e: Edit): number {
    let id = this.ids.get(e);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(e, id);
    }
    return id;
  }

  /** What carries the stream (undefined until loaded, or for non-file URIs). */
  get container(): ContainerInfo | undefined {
    return this.containerInfo;
  }

  private async location(): Promise<DocumentLocation> {
    // Other file systems (virtual, remote): read it whole; the paged reader needs a local path.
    if (this.uri.scheme !== "file") return { bytes: await vscode.workspace.fs.readFile(this.uri) };
    return { path: this.uri.fsPath, ...(this.snapshot !== undefined ? { snapshot: this.snapshot } : {}) };
  }

  /**
   * Runs a cancellable worker operation under a progress indicator: a notification with a Cancel
   * button (big files, saves) or the status bar.
   */
  private withProgress<T>(
    title: string,
    notify: boolean,
    run: () => Promise<T>,
    token?: vscode.CancellationToken,
  ): Promise<T> {
    const client = this.worker();
    // cancelled before it started (VS Code tells an already cancelled token's listeners only on a
    // later tick, when the worker may have finished): do not start it
    if (token?.isCancellationRequested) return Promise.reject(new CancelledError(title.split(" ")[0]!));
    client.resetCancel();
    const sub = token?.onCancellationRequested(() => client.cancel());
    const location = notify ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window;
    return Promise.resolve(
      vscode.window.withProgress({ location, title, cancellable: notify }, async (progress, cancel) => {
        cancel.onCancellationRequested(() => client.cancel());
        let last = 0;
        const l = this.onProgress((p) => {
          // decompressing then decoding: the bar only moves forward, the message says which
          const pct = p.total ? (100 * p.done) / p.total : 100;
          const what = p.op === "decompress" ? "decompressing: " : "";
          progress.report({
            ...(pct > last ? { increment: pct - last } : {}),
            message: `${what}${mib(p.done)} of ${mib(p.total)} MiB`,
          });
          last = Math.max(last, pct);
        });
        try {
          return await run();
        } finally {
          l.dispose();
        }
      }),
    ).finally(() => sub?.dispose());
  }

  /** Top-level records decoded so far while opening (the webview's tree fills in). */
  private partialRoots: NodeDto[] = [];

  private async load(): Promise<DocIndex> {
    this.partialRoots = [];
    const where = await this.location();
    this.known = statOf(this.uri);
    const size = "path" in where ? (this.known?.size ?? 0) : where.bytes.length;
    const restored = this.restored;
    this.restored = [];
    const client = this.worker();
    // decompressing a small file takes long too: a cancellable notification for those as well
    const notify = size >= NOTIFY_BYTES || ("path" in where && needsDecompression(where.path));
    const open = (w: DocumentLocation) =>
      this.withProgress(`Opening ${this.fileName}`, notify, () =>
        client.request("open", { where: w, edits: restored.map((edit) => ({ id: this.idOf(edit), edit })) }),
      );
    let r: Awaited<ReturnType<typeof open>>;
    try {
      r = await open(where);
    } catch (e) {
      // a qcow2 with several snapshots that carry VM state: ask which (QEMU's loadvm takes an id or a tag too)
      if (!(e instanceof WorkerError) || e.code !== "snapshot-ambiguous" || !("path" in where)) throw e;
      const items = listSnapshots(where.path)
        .filter((x) => x.vmStateSize > 0)
        .map((x) => ({ label: `${x.id} ${x.tag}`, description: `${x.vmStateSize} bytes, ${x.date}`, id: x.id }));
      const pick = await askPick(items, {
        title: `${this.fileName}: which snapshot's VM state?`,
        placeHolder: "qcow2 internal snapshot",
      });
      if (!pick) throw e;
      this.snapshot = pick.id;
      r = await open({ ...where, snapshot: pick.id });
    }
    this.partialRoots = [];
    this.containerInfo = r.container;
    if (r.container?.snapshot) this.snapshot = r.container.snapshot.id;
    this.list = restored;
    if (r.restoreError) {
      this.list = [];
      void vscode.window.showWarningMessage(
        `The unsaved edits of ${this.fileName} no longer apply to the file: ${r.restoreError}`,
      );
    }
    this.opened = true;
    this.current = new DocIndex(client, r.size, r.decodeMs);
    this.indexPromise = Promise.resolve(this.current);
    return this.current;
  }

  /**
   * Applies one edit as one undo step. Throws (EditError) when it cannot be applied. An edit QEMU
   * would refuse (model/edits editWarnings) is applied only when `confirmed`; else its warnings
   * come back, for the caller to confirm.
   */
  async applyEdit(edit: Edit, confirmed = false): Promise<{ label: string } | { warnings: string[] }> {
    this.flushEditEvent();
    await this.index();
    const before = this.list.slice();
    const t0 = Date.now();
    const view = this.view;
    const r = await this.worker().request("apply", {
      id: this.idOf(edit),
      edit,
      confirmed,
      refresh: this.refreshRequest([...before, edit], view),
    });
    if (r.warnings) return { warnings: r.warnings };
    this.list.push(edit);
    const after = this.list.slice();
    const label = editLabel(edit);
    this.changed(label, r.size, r.refreshed && { ...r.refreshed, owner: view?.owner, t0 });
    this.flushEditEvent();
    // An edit made in a webview: VS Code learns of it (dirty state, its undo stack) once the webview
    // has redrawn, or after EDIT_EVENT_DELAY_MS: the workbench's handling of a first edit holds back
    // the message to the webview in code-server by ~100 ms otherwise. Anything else that happens to
    // the document first flushes it (order kept). Edits from commands tell VS Code at once.
    const ev = { document: this, label, ...this.makeUndo(edit, r.inverse, before, after) };
    if (this.fromView > 0)
      this.pendingEdit = { ev, timer: setTimeout(() => this.flushEditEvent(), EDIT_EVENT_DELAY_MS) };
    else this._onDidChange.fire(ev);
    return { label };
  }

  /** Edits made from a webview (its edit box, its helper panel) while `run` runs: see applyEdit. */
  private fromView = 0;
  async editFromView<T>(run: () => Promise<T>): Promise<T> {
    this.fromView++;
    try {
      return await run();
    } finally {
      this.fromView--;
    }
  }

  private pendingEdit?: { ev: vscode.CustomDocumentEditEvent<VmstateDocument>; timer: ReturnType<typeof setTimeout> };

  /** Tells VS Code of an applied edit now (a webview has shown it, or something else happens to the document). */
  flushEditEvent(): void {
    const p = this.pendingEdit;
    if (!p) return;
    this.pendingEdit = undefined;
    clearTimeout(p.timer);
    this._onDidChange.fire(p.ev);
  }

  /** Sets the worker's edit list (every edit in it was applied before in this generation). */
  private async setList(list: Edit[]): Promise<Changed> {
    const view = this.view;
    const r = await this.worker().request("setEdits", {
      ids: list.map((e) => this.idOf(e)),
      refresh: this.refreshRequest(list, view),
    });
    this.list = list;
    return { size: r.size, ...(r.refreshed ? { refreshed: { ...r.refreshed, owner: view?.owner } } : {}) };
  }

  private async applyMore(edit: Edit): Promise<Changed> {
    const view = this.view;
    // undo or redo across a save: the user confirmed this edit (or its original) before
    const r = await this.worker().request("apply", {
      id: this.idOf(edit),
      edit,
      confirmed: true,
      refresh: this.refreshRequest([...this.list, edit], view),
    });
    this.list = [...this.list, edit];
    return { size: r.size, ...(r.refreshed ? { refreshed: { ...r.refreshed, owner: view?.owner } } : {}) };
  }

  /** What the worker needs to answer with the new DocInfo and the view's refresh (`list`: the edit list after the change). */
  private refreshRequest(list: readonly Edit[], view = this.view): RefreshRequest {
    const dirty = !sameList(list, this.savedEdits);
    return {
      fileName: this.fileName,
      uri: this.uri.toString(),
      pendingEdits: dirty ? list.length : 0,
      ...(view ? { view: view.report } : {}),
    };
  }

  /**
   * Undo and redo of one edit. In the generation it was made in, they set the model's edit list
   * (exact, and shared prefixes are not recomputed). After a save or reload rebuilt the model over
   * a new base, they apply the edit or its inverse as a new edit instead.
   */
  private makeUndo(
    edit: Edit,
    inverse: Edit | undefined,
    before: Edit[],
    after: Edit[],
  ): { undo(): Promise<void>; redo(): Promise<void> } {
    const gen = this.generation;
    const replay = async (
      list: Edit[],
      expect: Edit[],
      fallback: Edit | undefined,
      counterpart: Edit | undefined,
      what: string,
    ) => {
      if (!this.opened) return;
      const t0 = Date.now();
      let r: Changed;
      try {
        if (this.generation === gen && sameList(this.list, expect)) r = await this.setList(list);
        // redo right after an undo across a save: drop the inverse rather than stack the edit on it
        else if (counterpart && this.list[this.list.length - 1] === counterpart)
          r = await this.setList(this.list.slice(0, -1));
        else if (fallback) r = await this.applyMore(fallback);
        else throw new Error("it cannot be reversed after a save");
      } catch (e) {
        void vscode.window.showErrorMessage(
          `Cannot ${what} "${editLabel(edit)}": ${e instanceof Error ? e.message : e}`,
        );
        return;
      }
      this.changed(what, r.size, r.refreshed && { ...r.refreshed, t0 });
    };
    return {
      undo: () => replay(before, after, inverse, edit, "undo"),
      redo: () => replay(after, before, edit, inverse, "redo"),
    };
  }

  private changed(reason: string, size: number, refreshed?: ContentChange["refreshed"]): void {
    this.current = new DocIndex(this.worker(), size, this.current?.decodeMs ?? 0);
    this.indexPromise = Promise.resolve(this.current);
    if (refreshed)
      refreshed.refresh.marks = { ...refreshed.refresh.marks, host: refreshed.t0 ?? 0, hostDone: Date.now() };
    this._onDidChangeContent.fire({ reason, ...(refreshed ? { refreshed } : {}) });
  }

  /** The bytes of the edited stream over [start, end) (exports, tests). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    return (await this.index()).read(offset, length);
  }

  async save(cancel?: vscode.CancellationToken): Promise<void> {
    this.flushEditEvent();
    await this.writeTo(this.uri, cancel);
    // The file is written: from here on the save's cancel does not apply (a cancel arriving now
    // must not stop the reopen and leave the document without its file).
    this.worker().resetCancel();
    // The worker's descriptor reads the replaced inode: reopen the file and start again with no edits.
    this.known = statOf(this.uri);
    this.partialRoots = [];
    const r = await this.worker().request("open", { where: await this.location(), edits: [] });
    this.partialRoots = [];
    this.list = [];
    this.savedEdits = [];
    this.generation++;
    this.current = new DocIndex(this.worker(), r.size, r.decodeMs);
    // The file now holds exactly the stream the views show (an edited state decodes as the file
    // does: incremental.test.ts): they keep their tree and bytes and only redraw the header, and
    // the container node (file offsets). No reload of every expanded node through the extension host.
    const info = await this.current.docInfo(this.fileName, this.uri.toString(), 0);
    const changedRoots = info.roots.filter((n) => n.id === CONTAINER_NODE).map((n) => n.id);
    this.changed("save", r.size, { info, refresh: { changedRoots, children: {} } });
  }

  async saveAs(target: vscode.Uri, cancel?: vscode.CancellationToken): Promise<void> {
    this.flushEditEvent();
    if (target.toString() === this.uri.toString()) return this.save(cancel);
    await this.writeTo(target, cancel);
  }

  private async writeTo(target: vscode.Uri, cancel?: vscode.CancellationToken): Promise<void> {
    await this.index();
    const client = this.worker();
    const c = this.containerInfo;
    if (target.scheme === "file" && c && c.kind !== "stream") {
      // Inside the container: header, XML and cookie kept, the stream recompressed where we can.
      const plan = writePlan({ container: c });
      if (c.kind === "qcow2-snapshot") throw new Error(`${this.fileName}: ${plan.note}`);
      let mode: "same" | "raw" = "same";
      if (!plan.canKeep) {
        const pick = await askModal(
          `${this.fileName} is ${c.compression}-compressed.`,
          `${plan.note}. Write it uncompressed?`,
          SAVE_RAW,
        );
        if (pick !== SAVE_RAW) throw new Error("save cancelled: the image was not written");
        mode = "raw";
      }
      const name = target.path.split("/").pop();
      const notify = (this.current?.size ?? 0) >= NOTIFY_BYTES || c.compression !== "none";
      await this.withProgress(
        `Saving ${name}`,
        notify,
        () => client.request("save", { target: target.fsPath, container: mode }),
        cancel,
      );
      if (target.toString() === this.uri.toString()) this.known = statOf(target);
      return;
    }
    if (target.scheme === "file") {
      // Unchanged spans are copied from the original file, only edited parts are written; in the
      // worker, with progress; cancelling removes the temp file and leaves the target untouched.
      const name = target.path.split("/").pop();
      await this.withProgress(
        `Saving ${name}`,
        (this.current?.size ?? 0) >= NOTIFY_BYTES,
        () => client.request("save", { target: target.fsPath }),
        cancel,
      );
      if (target.toString() === this.uri.toString()) this.known = statOf(target);
      return;
    }
    await vscode.workspace.fs.writeFile(target, await client.request("readAll", {}));
  }

  async revert(_cancel?: vscode.CancellationToken): Promise<void> {
    this.flushEditEvent();
    await this.reload(this.askingAboutDisk ? "disk" : "revert");
  }

  /** Reads the file again and drops every edit. */
  private async reload(reason: string): Promise<void> {
    this.restored = [];
    this.opened = false;
    this.containerInfo = undefined;
    this.list = [];
    this.current = undefined;
    this.indexPromise = this.load();
    await this.indexPromise;
    this.savedEdits = this.list.slice();
    this.generation++;
    this._onDidChangeContent.fire({ reason });
  }

  async backup(destination: vscode.Uri, _cancel?: vscode.CancellationToken): Promise<vscode.CustomDocumentBackup> {
    this.flushEditEvent();
    const backup: VmstateBackup = { version: 1, uri: this.uri.toString(), edits: this.edits.map(editToJson) };
    try {
      // the backup folder may not exist yet
      await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(destination, ".."));
      await vscode.workspace.fs.writeFile(destination, new TextEncoder().encode(JSON.stringify(backup)));
    } catch (e) {
      console.error(
        `[qemu-vmstate] backup of ${this.fileName} to ${destination.toString()} failed: ${e instanceof Error ? e.message : e}`,
      );
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
    if (!this.opened || this.askingAboutDisk) return "ignored";
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
          await vscode.commands
            .executeCommand("workbench.action.files.revert", this.uri)
            .then(undefined, () => undefined);
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

  /** Shows another qcow2 snapshot (drops edits: snapshots are read-only anyway). */
  async switchSnapshot(id: string): Promise<void> {
    this.snapshot = id;
    await this.reload("snapshot");
  }

  /** "Edit Domain XML": the worker writes the new XML into the libvirt image (stream copied unchanged); then it is read again. */
  async writeDomainXml(xml: string): Promise<void> {
    await this.index();
    if (this.containerInfo?.kind !== "libvirt-save") throw new Error(`${this.fileName} is not a libvirt save image`);
    await this.worker().request("writeDomainXml", { xml, target: this.uri.fsPath });
    // our own write: not a change on disk to ask about
    this.known = statOf(this.uri);
    await this.reload("domain XML");
  }

  /** Export Stream: the edited bare stream written to `target` by the worker, with progress; cancellable. */
  async exportStream(target: string): Promise<void> {
    await this.index();
    const client = this.worker();
    await this.withProgress(`Exporting the stream of ${this.fileName}`, (this.current?.size ?? 0) >= NOTIFY_BYTES, () =>
      client.request("save", { target }),
    );
  }

  override dispose(): void {
    if (this.pendingEdit) clearTimeout(this.pendingEdit.timer);
    this.pendingEdit = undefined;
    this._onDidDispose.fire();
    // ends a decode in progress too (VS Code does not dispose a document while saving it; if it did,
    // the target would stay untouched and the worker's temp file would be left behind)
    this.client?.dispose();
    this.client = undefined;
    super.dispose();
  }
}

/** A content change; after an edit, undo or redo the worker's DocInfo and refresh (computed for the view `owner`). */
export interface ContentChange {
  reason: string;
  refreshed?: WorkerRefresh & { owner?: unknown; t0?: number };
}
type Changed = { size: number; refreshed?: WorkerRefresh & { owner?: unknown } };

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

function mib(n: number): string {
  return (n / (1024 * 1024)).toFixed(0);
}
