// The compare view: a webview panel over the comparison of two VM states. The comparison itself
// (decoding both files, comparing RAM) runs in a worker thread (compareWorker.ts); this side opens
// the panel, starts the worker and relays messages between the two. Commands: "Compare VM States"
// (two files selected in the explorer) and "Compare With..." (from an open stream editor).
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import * as vscode from "vscode";
import type { CompareNotifications, CompareRequests, CompareViewState, CompareWebviewRequests } from "../shared/compareProtocol";
import { isWireMessage, MessageEndpoint, type WireMessage } from "../shared/protocol";
import { Disposable } from "./disposable";
import { VIEW_TYPE_ANY, type VmstateEditorProvider } from "./vmstateEditorProvider";
import { webviewHtml } from "./webviewHtml";

export const COMPARE_VIEW_TYPE = "qemuVmstate.compare";

type HostSide = Pick<CompareRequests, "cmp/open">;

export class ComparePanel extends Disposable {
  private readonly worker: Worker;
  /** Requests the host answers ("cmp/open") and sends (tests: state, step). */
  readonly rpc: MessageEndpoint<HostSide, CompareWebviewRequests, Record<string, never>, CompareNotifications>;
  private static readonly panels = new Set<ComparePanel>();
  /** Why the worker is gone (requests then fail at once). */
  private workerGone?: string;

  static get latest(): ComparePanel | undefined {
    return [...ComparePanel.panels].pop();
  }

  constructor(
    readonly panel: vscode.WebviewPanel,
    readonly a: vscode.Uri,
    readonly b: vscode.Uri,
    extensionUri: vscode.Uri,
    private readonly provider: VmstateEditorProvider,
  ) {
    super();
    ComparePanel.panels.add(this);
    const post = (m: unknown) => void panel.webview.postMessage(m);
    this.rpc = new MessageEndpoint(post);
    this.worker = new Worker(vscode.Uri.joinPath(extensionUri, "dist", "compareWorker.js").fsPath, { workerData: { a: a.fsPath, b: b.fsPath } });
    // requests relayed to the worker and not answered yet: if it dies, they fail instead of hanging
    const pending = new Set<number>();
    this.worker.on("message", (m: WireMessage) => {
      if (m.kind === "reply") pending.delete(m.seq);
      post(m);
    });
    const failAll = (error: string) => {
      for (const seq of pending) post({ kind: "reply", seq, ok: false, error });
      pending.clear();
      this.workerGone = error;
    };
    this.worker.on("error", (e) => {
      failAll(e.message);
      void vscode.window.showErrorMessage(`Comparing ${path.basename(a.fsPath)} and ${path.basename(b.fsPath)} failed: ${e.message}`);
    });
    this.worker.on("exit", (code) => failAll(`the comparison worker stopped (exit code ${code})`));
    this._register(
      panel.webview.onDidReceiveMessage((m: unknown) => {
        if (!isWireMessage(m)) return;
        const w = m as WireMessage;
        if (w.kind === "reply" || (w.kind === "request" && w.method === "cmp/open")) void this.rpc.receive(w);
        else if (this.workerGone !== undefined) {
          if (w.kind === "request") post({ kind: "reply", seq: w.seq, ok: false, error: this.workerGone });
        } else {
          if (w.kind === "request") pending.add(w.seq);
          this.worker.postMessage(w);
        }
      }),
    );
    this.rpc.handle("cmp/open", async ({ side, offset }) => {
      const uri = side === "a" ? this.a : this.b;
      await vscode.commands.executeCommand("vscode.openWith", uri, VIEW_TYPE_ANY, { viewColumn: vscode.ViewColumn.Beside });
      if (offset !== undefined) {
        for (let i = 0; i < 50 && !this.provider.activeSession(uri); i++) await new Promise((r) => setTimeout(r, 100));
        this.provider.activeSession(uri)?.rpc.notify("view/reveal", { offset });
      }
      return {};
    });
    this._register(panel.onDidDispose(() => this.dispose()));
  }

  state(): Promise<CompareViewState> {
    return this.rpc.request("cmp/getState", {});
  }

  override dispose(): void {
    ComparePanel.panels.delete(this);
    void this.worker.terminate();
    this.rpc.dispose();
    super.dispose();
  }
}

export function openCompare(context: vscode.ExtensionContext, provider: VmstateEditorProvider, a: vscode.Uri, b: vscode.Uri): ComparePanel {
  const ext = context.extensionUri;
  const title = `${path.basename(a.fsPath)} ↔ ${path.basename(b.fsPath)}`;
  const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, title, vscode.ViewColumn.Active, {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(ext, "dist"), vscode.Uri.joinPath(ext, "media")],
  });
  panel.webview.html = webviewHtml(panel.webview, ext, title, { script: "compare.js", loading: `Comparing ${title}…` });
  return new ComparePanel(panel, a, b, ext, provider);
}

const STREAM_FILTERS = { "VM states": ["vmstate", "mig", "sav", "save", "bin", "img"], "All files": ["*"] };

async function pickFile(title: string): Promise<vscode.Uri | undefined> {
  const r = await vscode.window.showOpenDialog({ title, canSelectMany: false, filters: STREAM_FILTERS, openLabel: "Compare" });
  return r?.[0];
}

export function registerCompare(context: vscode.ExtensionContext, provider: VmstateEditorProvider): { open(a: vscode.Uri, b: vscode.Uri): ComparePanel } {
  const open = (a: vscode.Uri, b: vscode.Uri) => openCompare(context, provider, a, b);
  const local = (u: vscode.Uri) => {
    if (u.scheme !== "file") throw new Error(`${u.toString()} is not a local file: only files on disk can be compared`);
    return u;
  };
  const run = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
    }
  };
  context.subscriptions.push(
    // explorer: (clicked, all selected); palette: nothing
    vscode.commands.registerCommand("qemuVmstate.compare", (clicked?: vscode.Uri, selected?: vscode.Uri[]) =>
      run(async () => {
        const files = selected?.length ? selected : clicked ? [clicked] : [];
        if (files.length > 2) {
          void vscode.window.showWarningMessage(`Select two files to compare (${files.length} are selected).`);
          return;
        }
        const a = files[0] ?? (await pickFile("Compare VM States: first file (A)"));
        if (!a) return;
        const b = files[1] ?? (await pickFile(`Compare ${path.basename(a.fsPath)} with... (B)`));
        if (!b) return;
        open(local(a), local(b));
      }),
    ),
    vscode.commands.registerCommand("qemuVmstate.compareWith", (arg?: vscode.Uri | { uri?: string }) =>
      run(async () => {
        const fromArg = arg instanceof vscode.Uri ? arg : typeof arg?.uri === "string" ? vscode.Uri.parse(arg.uri) : undefined;
        const doc = fromArg ? provider.documentFor(fromArg) : provider.activeSession()?.document;
        const a = fromArg ?? doc?.uri;
        if (!a) {
          void vscode.window.showWarningMessage("Open a QEMU migration stream in the VM state editor first.");
          return;
        }
        const others = provider.documents().filter((d) => d.uri.toString() !== a.toString() && d.uri.scheme === "file");
        const browse = { label: "$(folder-opened) Browse...", uri: undefined as vscode.Uri | undefined };
        const pick = others.length
          ? await vscode.window.showQuickPick([...others.map((d) => ({ label: d.fileName, description: path.dirname(d.uri.fsPath), uri: d.uri as vscode.Uri | undefined })), browse], { title: `Compare ${path.basename(a.fsPath)} with...` })
          : browse;
        if (!pick) return;
        const b = pick.uri ?? (await pickFile(`Compare ${path.basename(a.fsPath)} with...`));
        if (!b) return;
        if (doc?.isDirty) void vscode.window.showInformationMessage(`${doc.fileName} has unsaved edits: the comparison reads the file on disk.`);
        open(local(a), local(b));
      }),
    ),
  );
  return { open };
}
