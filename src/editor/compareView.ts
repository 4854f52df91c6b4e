// The compare view: a webview panel over the comparison of two VM states. The comparison itself
// (decoding both files, comparing RAM) runs in a worker thread (compareWorker.ts); this side opens
// the panel, starts the worker and relays messages between the two. Commands: "Compare VM States"
// (two files selected in the explorer) and "Compare With..." (from an open stream editor).
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import * as vscode from "vscode";
import type {
  CompareNotifications,
  CompareRequests,
  CompareViewState,
  CompareWebviewRequests,
} from "../shared/compareProtocol";
import { isWireMessage, MessageEndpoint, type WireMessage } from "../shared/protocol";
import { Disposable } from "./disposable";
import { VIEW_TYPE_ANY, type VmstateEditorProvider } from "./vmstateEditorProvider";
import { webviewHtml } from "./webviewHtml";

export const COMPARE_VIEW_TYPE = "qemuVmstate.compare";

type HostSide = Pick<CompareRequests, "cmp/open" | "cmp/cancel">;

/** A comparison still running after this long gets a progress notification with Cancel. */
const NOTIFY_AFTER_MS = 1000;

export class ComparePanel extends Disposable {
  private readonly worker: Worker;
  /** Requests the host answers ("cmp/open") and sends (tests: state, step). */
  readonly rpc: MessageEndpoint<HostSide, CompareWebviewRequests, Record<string, never>, CompareNotifications>;
  private static readonly panels = new Set<ComparePanel>();
  /** Why the worker is gone (requests then fail at once). */
  private workerGone?: string;
  /** The worker said it finished (cmp/done), or failed. */
  private done = false;
  private closed = false;
  private lastProgress?: CompareNotifications["cmp/progress"];
  private notifyTimer?: ReturnType<typeof setTimeout>;
  /** Ends the progress notification. */
  private endProgress?: () => void;
  private reportProgress?: (p: CompareNotifications["cmp/progress"]) => void;

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
    // the webview may be gone (closed, or hidden: it reloads when shown and asks again)
    const post = (m: unknown) => {
      if (this.closed) return;
      try {
        void Promise.resolve(panel.webview.postMessage(m)).catch(() => {});
      } catch {
        // disposed meanwhile
      }
    };
    this.rpc = new MessageEndpoint(post);
    this.worker = new Worker(vscode.Uri.joinPath(extensionUri, "dist", "compareWorker.js").fsPath, {
      workerData: { a: a.fsPath, b: b.fsPath },
    });
    const label = `${path.basename(a.fsPath)} ↔ ${path.basename(b.fsPath)}`;
    // requests relayed to the worker and not answered yet: if it dies, they fail instead of hanging
    const pending = new Set<number>();
    this.worker.on("message", (m: WireMessage) => {
      if (m.kind === "reply") pending.delete(m.seq);
      else if (m.kind === "notify" && m.method === "cmp/progress")
        this.onProgress(m.params as CompareNotifications["cmp/progress"]);
      else if (m.kind === "notify" && m.method === "cmp/done") this.finish();
      post(m);
    });
    const failAll = (error: string) => {
      for (const seq of pending) post({ kind: "reply", seq, ok: false, error });
      pending.clear();
      if (this.workerGone !== undefined) return;
      this.workerGone = error;
      if (this.closed) return;
      // the view shows it too (its requests fail): say it where it is seen without the view
      this.finish();
      void vscode.window.showErrorMessage(`Comparing ${label} failed: ${error}`);
    };
    this.worker.on("error", (e) => failAll(e.message));
    // a message that cannot be read would leave a request unanswered: fail them all instead
    this.worker.on("messageerror", (e) => {
      failAll(`a message from the comparison worker could not be read (${e.message})`);
      void this.worker.terminate();
    });
    this.worker.on("exit", (code) =>
      failAll(
        this.done
          ? `the comparison worker stopped (exit code ${code})`
          : `the comparison worker stopped before it finished (exit code ${code})`,
      ),
    );
    this._register(
      panel.webview.onDidReceiveMessage((m: unknown) => {
        if (!isWireMessage(m)) return;
        const w = m as WireMessage;
        if (w.kind === "reply" || (w.kind === "request" && (w.method === "cmp/open" || w.method === "cmp/cancel")))
          void this.rpc.receive(w);
        else if (this.workerGone !== undefined) {
          if (w.kind === "request") post({ kind: "reply", seq: w.seq, ok: false, error: this.workerGone });
        } else {
          if (w.kind === "request") {
            pending.add(w.seq);
            // a (re)loaded view asks first: show it where the comparison is (earlier progress went nowhere)
            if (w.method === "cmp/ready" && this.lastProgress && !this.done)
              post({ kind: "notify", method: "cmp/progress", params: this.lastProgress });
          }
          this.worker.postMessage(w);
        }
      }),
    );
    this.rpc.handle("cmp/cancel", () => {
      panel.dispose();
      return {};
    });
    this.notifyTimer = setTimeout(() => this.showProgress(label), NOTIFY_AFTER_MS);
    this.rpc.handle("cmp/open", async ({ side, offset }) => {
      const uri = side === "a" ? this.a : this.b;
      await vscode.commands.executeCommand("vscode.openWith", uri, VIEW_TYPE_ANY, {
        viewColumn: vscode.ViewColumn.Beside,
      });
      if (offset !== undefined) {
        for (let i = 0; i < 50 && !this.provider.activeSession(uri); i++) await new Promise((r) => setTimeout(r, 100));
        this.provider.activeSession(uri)?.rpc.notify("view/reveal", { offset });
      }
      return {};
    });
    this._register(panel.onDidDispose(() => this.dispose()));
  }

  private onProgress(p: CompareNotifications["cmp/progress"]): void {
    this.lastProgress = p;
    this.reportProgress?.(p);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.notifyTimer);
    this.endProgress?.();
  }

  /** A long comparison: progress (and Cancel) in a notification, seen even with the view in the background. */
  private showProgress(label: string): void {
    if (this.done || this.closed) return;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Comparing ${label}`, cancellable: true },
      (progress, token) => {
        let shown = 0;
        this.reportProgress = (p) => {
          const pct = Math.round(p.fraction * 100);
          progress.report({ message: `${p.message}… ${pct}%`, increment: Math.max(0, pct - shown) });
          shown = Math.max(shown, pct);
        };
        if (this.lastProgress) this.reportProgress(this.lastProgress);
        token.onCancellationRequested(() => this.panel.dispose());
        return new Promise<void>((resolve) => {
          this.endProgress = resolve;
          if (this.done || this.closed) resolve();
        });
      },
    );
  }

  state(): Promise<CompareViewState> {
    return this.rpc.request("cmp/getState", {});
  }

  override dispose(): void {
    if (this.closed) return;
    this.closed = true;
    ComparePanel.panels.delete(this);
    clearTimeout(this.notifyTimer);
    this.endProgress?.();
    void this.worker.terminate();
    this.rpc.dispose();
    super.dispose();
  }
}

export function openCompare(
  context: vscode.ExtensionContext,
  provider: VmstateEditorProvider,
  a: vscode.Uri,
  b: vscode.Uri,
): ComparePanel {
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
  const r = await vscode.window.showOpenDialog({
    title,
    canSelectMany: false,
    filters: STREAM_FILTERS,
    openLabel: "Compare",
  });
  return r?.[0];
}

export function registerCompare(
  context: vscode.ExtensionContext,
  provider: VmstateEditorProvider,
): { open(a: vscode.Uri, b: vscode.Uri): ComparePanel } {
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
        const fromArg =
          arg instanceof vscode.Uri ? arg : typeof arg?.uri === "string" ? vscode.Uri.parse(arg.uri) : undefined;
        const doc = fromArg ? provider.documentFor(fromArg) : provider.activeSession()?.document;
        const a = fromArg ?? doc?.uri;
        if (!a) {
          void vscode.window.showWarningMessage("Open a QEMU migration stream in the VM state editor first.");
          return;
        }
        const others = provider.documents().filter((d) => d.uri.toString() !== a.toString() && d.uri.scheme === "file");
        const browse = { label: "$(folder-opened) Browse...", uri: undefined as vscode.Uri | undefined };
        const pick = others.length
          ? await vscode.window.showQuickPick(
              [
                ...others.map((d) => ({
                  label: d.fileName,
                  description: path.dirname(d.uri.fsPath),
                  uri: d.uri as vscode.Uri | undefined,
                })),
                browse,
              ],
              // stays open when focus moves (a stream editor's webview that finishes loading takes
              // it: run right after opening a stream, the pick used to close by itself); Esc closes it
              { title: `Compare ${path.basename(a.fsPath)} with...`, ignoreFocusOut: true },
            )
          : browse;
        if (!pick) return;
        const b = pick.uri ?? (await pickFile(`Compare ${path.basename(a.fsPath)} with...`));
        if (!b) return;
        if (doc?.isDirty)
          void vscode.window.showInformationMessage(
            `${doc.fileName} has unsaved edits: the comparison reads the file on disk.`,
          );
        open(local(a), local(b));
      }),
    ),
  );
  return { open };
}
