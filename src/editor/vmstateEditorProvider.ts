// The custom editor provider: opens VmstateDocuments and connects each webview panel to its
// document through the typed protocol (src/shared/protocol.ts).

import * as vscode from "vscode";
import { createHash } from "node:crypto";
import { exactCopy, parseOffset, utf8Strict } from "../format/bytes";
import { BLOB_SCHEME } from "./blobFs";
import {
  type DocInfo,
  type DocRefresh,
  MessageEndpoint,
  type HostNotifications,
  type HostRequests,
  type WebviewNotifications,
  type WebviewRequests,
  type ViewReport,
  type WireMessage,
} from "../shared/protocol";
import { VmstateDocument } from "./vmstateDocument";
import { CancelledError } from "./worker/docClient";
import { webviewHtml } from "./webviewHtml";
import { Disposable } from "./disposable";
import { copyHelperBlob, exportAllHelperBlobs, exportHelperBlob } from "./helperExport";
import {
  addHelper,
  removeHelper,
  renameHelper,
  replaceBytes,
  replaceHelperFromFile,
  replaceHelperFromStream,
  setField,
} from "./editActions";

export const VIEW_TYPE = "qemuVmstate.editor";

/** What the blob view shows besides the hex: the sha256 and, for text, the text (capped). */
function blobInfo(fileName: string, bytes: Uint8Array): NonNullable<DocInfo["blob"]> {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const head = bytes.subarray(0, 256 * 1024);
  const text = utf8Strict(head); // undefined: binary
  const isText =
    text !== undefined && [...text.slice(0, 4096)].filter((c) => c < " " && !"\t\r\n".includes(c)).length <= 40;
  return { title: fileName.replace(/\.bin$/, ""), sha256, isText, ...(isText ? { text } : {}) };
}
function mib(n: number): string {
  return (n / (1024 * 1024)).toFixed(0);
}

/** The same editor offered through "Reopen Editor With..." for any file (.mig, .sav, .bin...). */
export const VIEW_TYPE_ANY = "qemuVmstate.anyFile";
const MAX_READ = 1024 * 1024;

type HostEndpoint = MessageEndpoint<HostRequests, WebviewRequests, HostNotifications, WebviewNotifications>;

/** One webview panel showing one document. */
export class EditorSession extends Disposable {
  readonly rpc: HostEndpoint;
  selection: { id?: string; helperIndex?: number } = {};
  /** What the webview last said it shows (view/state). */
  view?: ViewReport;

  constructor(
    readonly document: VmstateDocument,
    readonly panel: vscode.WebviewPanel,
  ) {
    super();
    this.rpc = new MessageEndpoint((m: WireMessage) => {
      try {
        void panel.webview.postMessage(m);
      } catch {
        // the panel was closed while the worker's answer was on its way: nobody to tell
      }
    });
    this._register(panel.webview.onDidReceiveMessage((m) => void this.rpc.receive(m)));
    // the new DocInfo goes with the change: one message to the view instead of a notify and a request;
    // after an edit, undo or redo also what changed, and for the view the worker answered for, the
    // tree, selection and hex bytes it must redraw (it updates in place, without asking back)
    this._register(
      document.onDidChangeContent((e) => {
        const r = e.refreshed;
        if (r && document.uri.scheme !== BLOB_SCHEME) {
          const { changedRoots, changedBytes, marks } = r.refresh;
          let refresh: DocRefresh = { changedRoots, ...(changedBytes ? { changedBytes } : {}), children: {} };
          if (r.owner === this) {
            const { bytes, ...rest } = r.refresh;
            refresh = { ...rest, ...(bytes ? { bytes: { offset: bytes.offset, data: exactCopy(bytes.data) } } : {}) };
          }
          refresh.marks = {
            ...marks,
            bytes: JSON.stringify(refresh).length + JSON.stringify(r.info).length,
            posted: Date.now(),
          };
          this.rpc.notify("doc/didChange", { reason: e.reason, info: r.info, refresh });
          return;
        }
        void this.info().then(
          (info) => this.rpc.notify("doc/didChange", { reason: e.reason, info }),
          () => this.rpc.notify("doc/didChange", { reason: e.reason }),
        );
      }),
    );
    this._register(
      document.onProgress((p) =>
        this.rpc.notify("doc/progress", {
          fraction: p.total ? p.done / p.total : 1,
          message: `${p.op === "save" ? "Saving" : p.op === "decompress" ? "Decompressing" : "Decoding"} ${mib(p.done)} of ${mib(p.total)} MiB`,
          ...(p.roots ? { roots: p.roots } : {}),
        }),
      ),
    );
    this.registerHandlers();
  }

  /** What the view shows in its header, tree roots and helper list. */
  private async info(): Promise<DocInfo> {
    const doc = this.document;
    const idx = await doc.index();
    const info = await idx.docInfo(doc.fileName, doc.uri.toString(), doc.isDirty ? doc.edits.length : 0);
    if (doc.uri.scheme === BLOB_SCHEME) info.blob = blobInfo(doc.fileName, await idx.read(0, idx.size));
    return info;
  }

  /** Other open documents (for "Replace from another open stream's helper"). */
  documents: () => VmstateDocument[] = () => [this.document];

  private registerHandlers(): void {
    const doc = this.document;
    const rpc = this.rpc;
    rpc.handle("doc/ready", () => this.info());
    rpc.handle("doc/readRange", async ({ offset, length }) => {
      const idx = await doc.index();
      return exactCopy(await idx.read(offset, Math.min(length, MAX_READ)));
    });
    rpc.handle("tree/children", async ({ id, offset, limit }) => (await doc.index()).children(id, offset, limit));
    rpc.handle("tree/nodeAt", async ({ offset }) => (await doc.index()).nodeAt(offset));
    rpc.handle("tree/reveal", async ({ id }) => (await doc.index()).reveal(id));
    rpc.handle("tree/filter", async ({ query, limit }) => (await doc.index()).filter(query, limit));
    rpc.handle("node/details", async ({ id }) => (await doc.index()).details(id));
    rpc.handle("blob/export", async ({ helperIndex }) => {
      const path = await exportHelperBlob(doc, helperIndex);
      return path ? { path } : {};
    });
    rpc.handle("blob/exportAll", async () => {
      const r = await exportAllHelperBlobs(doc);
      return r ?? {};
    });
    rpc.handle("blob/copy", async ({ helperIndex, format }) => copyHelperBlob(doc, helperIndex, format));
    rpc.handle("view/goToOffsetPrompt", async () => {
      const offset = await promptOffset(doc);
      return offset === undefined ? {} : { offset };
    });
    rpc.handle("edit/helper", ({ action, helperIndex }) =>
      doc.editFromView(async () => {
        const i = helperIndex ?? -1;
        switch (action) {
          case "replaceFromFile":
            return replaceHelperFromFile(doc, i);
          case "replaceFromStream":
            return replaceHelperFromStream(doc, i, this.documents());
          case "rename":
            return renameHelper(doc, i);
          case "remove":
            return removeHelper(doc, i);
          case "add":
            return addHelper(doc);
        }
      }),
    );
    // applied without a confirmation: it is one undoable edit of the open document (Ctrl+Z), nothing
    // is written until the user saves; values QEMU would refuse still ask first (editWarnings)
    rpc.handle("edit/setField", ({ nodeId, value }) => doc.editFromView(() => setField(doc, nodeId, value)));
    rpc.handle("edit/replaceBytes", ({ nodeId }) => doc.editFromView(() => replaceBytes(doc, nodeId)));
    rpc.onNotify("view/selection", (sel) => {
      this.selection = sel;
    });
    rpc.onNotify("view/updated", () => doc.flushEditEvent());
    rpc.onNotify("view/state", (report) => {
      this.view = report;
      if (this.panel.active || !doc.view) doc.view = { report, owner: this };
    });
  }

  override dispose(): void {
    this.rpc.dispose();
    super.dispose();
  }
}

export async function promptOffset(doc: VmstateDocument): Promise<number | undefined> {
  const size = (await doc.index()).size;
  const text = await vscode.window.showInputBox({
    title: "Go to Offset",
    prompt: `Byte offset in ${doc.fileName} (0 – ${size - 1}); decimal or 0x hex`,
    placeHolder: "0x1000",
    validateInput: (v) =>
      parseOffset(v, size) === undefined ? "Enter a decimal or 0x-prefixed offset inside the file" : undefined,
  });
  return text === undefined ? undefined : parseOffset(text, size);
}

export class VmstateEditorProvider implements vscode.CustomEditorProvider<VmstateDocument> {
  private readonly sessions = new Set<EditorSession>();
  private lastActive?: EditorSession;

  private readonly _onDidChangeCustomDocument = new vscode.EventEmitter<
    vscode.CustomDocumentEditEvent<VmstateDocument>
  >();
  readonly onDidChangeCustomDocument = this._onDidChangeCustomDocument.event;

  static register(context: vscode.ExtensionContext): VmstateEditorProvider {
    const provider = new VmstateEditorProvider(context);
    for (const viewType of [VIEW_TYPE, VIEW_TYPE_ANY]) {
      context.subscriptions.push(
        vscode.window.registerCustomEditorProvider(viewType, provider, {
          // Hidden tabs restore from getState/setState; no retainContextWhenHidden.
          webviewOptions: { retainContextWhenHidden: false },
          supportsMultipleEditorsPerDocument: true,
        }),
      );
    }
    return provider;
  }

  private constructor(private readonly context: vscode.ExtensionContext) {}

  async openCustomDocument(
    uri: vscode.Uri,
    openContext: vscode.CustomDocumentOpenContext,
    _token: vscode.CancellationToken,
  ): Promise<VmstateDocument> {
    const doc = await VmstateDocument.create(uri, openContext.backupId);
    doc.onDidChange((e) => this._onDidChangeCustomDocument.fire(e));
    this.openDocs.set(uri.toString(), doc);
    doc.onDidDispose(() => {
      if (this.openDocs.get(uri.toString()) === doc) this.openDocs.delete(uri.toString());
    });
    return doc;
  }

  async resolveCustomEditor(
    document: VmstateDocument,
    panel: vscode.WebviewPanel,
    _token: vscode.CancellationToken,
  ): Promise<void> {
    const ext = this.context.extensionUri;
    panel.webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(ext, "dist"), vscode.Uri.joinPath(ext, "media")],
    };
    const session = new EditorSession(document, panel);
    session.documents = () => this.documents();
    this.sessions.add(session);
    this.lastActive = session;
    panel.onDidChangeViewState(() => {
      if (!panel.active) return;
      this.lastActive = session;
      if (session.view) document.view = { report: session.view, owner: session };
    });
    panel.onDidDispose(() => {
      if (document.view?.owner === session) document.view = undefined;
      this.sessions.delete(session);
      if (this.lastActive === session) this.lastActive = [...this.sessions].pop();
      session.dispose();
    });
    panel.webview.html = webviewHtml(panel.webview, ext, document.fileName);
    void document
      .index()
      .catch((e) =>
        e instanceof CancelledError
          ? vscode.window.showInformationMessage(
              `Stopped opening ${document.fileName}. Close the editor, or reopen the file to decode it again.`,
            )
          : vscode.window.showErrorMessage(`Cannot open ${document.fileName}: ${e instanceof Error ? e.message : e}`),
      );
  }

  /** The session of the active (or most recently active) editor, optionally for a given document. */
  activeSession(uri?: vscode.Uri): EditorSession | undefined {
    if (uri) {
      const key = uri.toString();
      const matching = [...this.sessions].filter((s) => s.document.uri.toString() === key);
      return matching.find((s) => s.panel.active) ?? matching.pop();
    }
    const active = [...this.sessions].find((s) => s.panel.active);
    return active ?? this.lastActive;
  }

  /** The open documents, the active editor's first. */
  documents(): VmstateDocument[] {
    const active = this.activeSession()?.document;
    const all = new Set<VmstateDocument>(active ? [active] : []);
    for (const s of this.sessions) all.add(s.document);
    return [...all];
  }

  /** The blob of helper `id` in an open stream (the active one first), for the bus explorer's Compare. */
  async findHelperBlob(id: string): Promise<{ file: string; bytes: Uint8Array } | undefined> {
    for (const doc of this.documents()) {
      const idx = await doc.index();
      const i = (await idx.helpers()).findIndex((h) => h.id === id);
      if (i >= 0)
        return {
          file: doc.uri.scheme === "file" ? doc.uri.fsPath : doc.uri.toString(),
          bytes: await idx.helperBlob(i),
        };
    }
    return undefined;
  }

  documentFor(uri: vscode.Uri): VmstateDocument | undefined {
    return this.activeSession(uri)?.document ?? this.openDocs.get(uri.toString());
  }

  /** Documents VS Code opened through this provider and has not closed (tests re-create them from backups). */
  private readonly openDocs = new Map<string, VmstateDocument>();

  saveCustomDocument(document: VmstateDocument, cancellation: vscode.CancellationToken): Thenable<void> {
    return document.save(cancellation);
  }
  saveCustomDocumentAs(
    document: VmstateDocument,
    destination: vscode.Uri,
    cancellation: vscode.CancellationToken,
  ): Thenable<void> {
    return document.saveAs(destination, cancellation);
  }
  revertCustomDocument(document: VmstateDocument, cancellation: vscode.CancellationToken): Thenable<void> {
    return document.revert(cancellation);
  }
  backupCustomDocument(
    document: VmstateDocument,
    context: vscode.CustomDocumentBackupContext,
    cancellation: vscode.CancellationToken,
  ): Thenable<vscode.CustomDocumentBackup> {
    return document.backup(context.destination, cancellation);
  }
}
