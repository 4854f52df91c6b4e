// The "QEMU" view in the VM State container: connect to QMP sockets (setting
// qemuVmstate.qmp.addresses, or typed in), show the VM (name, version, machine, run state,
// migration status and capabilities, dbus-vmstate objects linked to the D-Bus helpers view),
// Capture VM State... (migrate into a file, progress, cancel, open it in the editor) and
// Load into QEMU... (stream a file into a QEMU waiting with -incoming defer). Every command
// reports its own failure; nothing here throws into the extension host.
import * as path from "node:path";
import * as vscode from "vscode";
import {
  CaptureError,
  LoadError,
  QmpClient,
  captureVmState,
  formatBytes,
  loadVmState,
  parseQmpAddress,
  queryVmInfo,
  type AfterState,
  type CaptureMode,
  type CaptureResult,
  type LoadResult,
  type MigrationProgress,
} from "../qmp";
import { childNodes, rootNode, type QemuConnState, type QemuNode } from "./qemuTreeModel";

export const QEMU_VIEW_ID = "qemuVmstate.qemuView";
const RECENT_KEY = "qemuVmstate.qmp.recentAddresses";

export interface CaptureChoice {
  mode: CaptureMode;
  after: AfterState;
}

/** Dialogs; integration tests replace them to run without a person. */
export interface QemuViewUi {
  pickSaveFile(title: string, suggested: string): Promise<vscode.Uri | undefined>;
  pickOpenFile(title: string): Promise<vscode.Uri | undefined>;
  pickCapture(
    items: Array<{ label: string; detail: string; choice: CaptureChoice }>,
  ): Promise<CaptureChoice | undefined>;
  inputAddress(): Promise<string | undefined>;
}

export interface QemuViewApi {
  readonly ui: QemuViewUi;
  readonly onDidChange: vscode.Event<void>;
  states(): QemuConnState[];
  connect(address: string): Promise<void>;
  disconnect(address: string): void;
  capture(arg?: unknown): Promise<CaptureResult | undefined>;
  load(arg?: unknown, file?: vscode.Uri): Promise<LoadResult | undefined>;
  roots(): QemuNode[];
  children(node: QemuNode): QemuNode[];
}

interface Conn {
  state: QemuConnState;
  client?: QmpClient;
  refreshTimer?: NodeJS.Timeout;
}

function settings() {
  return vscode.workspace.getConfiguration("qemuVmstate.qmp");
}
function configuredAddresses(): string[] {
  const v = settings().get<unknown>("addresses", []);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && !!x.trim()).map((x) => x.trim()) : [];
}
function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

class QemuExplorer implements vscode.TreeDataProvider<QemuNode>, QemuViewApi, vscode.Disposable {
  private readonly conns = new Map<string, Conn>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly treeChanged = new vscode.EventEmitter<QemuNode | undefined>();
  readonly onDidChangeTreeData = this.treeChanged.event;
  readonly ui: QemuViewUi = {
    pickSaveFile: (title, suggested) =>
      Promise.resolve(
        vscode.window.showSaveDialog({
          title,
          defaultUri: defaultUri(suggested),
          filters: { "Migration stream": ["vmstate"], "All files": ["*"] },
        }),
      ),
    pickOpenFile: async (title) =>
      (
        await vscode.window.showOpenDialog({
          title,
          canSelectMany: false,
          openLabel: "Load into QEMU",
          defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
        })
      )?.[0],
    pickCapture: async (items) =>
      (await vscode.window.showQuickPick(items, { title: "Capture VM State: how?", ignoreFocusOut: true }))?.choice,
    inputAddress: () =>
      Promise.resolve(
        vscode.window.showInputBox({
          title: "Connect to QEMU (QMP)",
          prompt: "QEMU's QMP socket: a unix socket path (-qmp unix:PATH,server=on,wait=off) or tcp:HOST:PORT",
          placeHolder: "/run/qemu/vm.qmp or tcp:127.0.0.1:4444",
          ignoreFocusOut: true,
          validateInput: (v) => {
            try {
              parseQmpAddress(v);
              return undefined;
            } catch (e) {
              return message(e);
            }
          },
        }),
      ),
  };

  constructor(private readonly context: vscode.ExtensionContext) {
    this.sync();
  }

  /** Keeps one entry per configured or recent address (connections survive setting edits). */
  sync(): void {
    const want = [...configuredAddresses(), ...this.context.globalState.get<string[]>(RECENT_KEY, [])];
    for (const a of want) if (!this.conns.has(a)) this.conns.set(a, { state: { address: a, status: "idle" } });
    for (const [a, c] of this.conns) if (!want.includes(a) && c.state.status === "idle") this.conns.delete(a);
    this.fire();
  }

  private fire(): void {
    this.treeChanged.fire(undefined);
    this.changed.fire();
    void vscode.commands.executeCommand(
      "setContext",
      "qemuVmstate.qmp.connected",
      [...this.conns.values()].some((c) => c.state.status === "connected"),
    );
  }

  states(): QemuConnState[] {
    return [...this.conns.values()].map((c) => c.state);
  }
  roots(): QemuNode[] {
    return this.states().map(rootNode);
  }
  children(node: QemuNode): QemuNode[] {
    const c = this.conns.get(node.address);
    return c ? childNodes(c.state, node) : [];
  }
  getChildren(node?: QemuNode): QemuNode[] {
    return node ? this.children(node) : this.roots();
  }
  getTreeItem(n: QemuNode): vscode.TreeItem {
    const item = new vscode.TreeItem(
      n.label,
      n.collapsible === "expanded"
        ? vscode.TreeItemCollapsibleState.Expanded
        : n.collapsible === "collapsed"
          ? vscode.TreeItemCollapsibleState.Collapsed
          : vscode.TreeItemCollapsibleState.None,
    );
    item.id = n.id;
    item.description = n.description;
    item.tooltip = n.tooltip;
    item.iconPath = new vscode.ThemeIcon(n.icon, n.color ? new vscode.ThemeColor(n.color) : undefined);
    item.contextValue = `qemuVmstate.qmp.${n.context}`;
    if (n.command) item.command = { command: n.command.command, title: n.command.title, arguments: n.command.args };
    return item;
  }

  private conn(arg: unknown): Conn | undefined {
    const address = typeof arg === "string" ? arg : (arg as { address?: string } | undefined)?.address;
    if (address) return this.conns.get(address);
    const connected = [...this.conns.values()].filter((c) => c.state.status === "connected");
    return connected.length === 1 ? connected[0] : undefined;
  }

  private async pickConn(arg: unknown, what: string): Promise<Conn | undefined> {
    let c = this.conn(arg);
    if (!c) {
      const items = this.states().map((s) => ({
        label: s.info?.name ?? s.address,
        description: `${s.address} · ${s.status}`,
        address: s.address,
      }));
      if (!items.length) {
        const a = await this.ui.inputAddress();
        if (!a) return undefined;
        await this.connect(a);
        return this.conns.get(a);
      }
      const pick =
        items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { title: `${what}: which QEMU?` });
      if (!pick) return undefined;
      c = this.conns.get(pick.address);
    }
    if (c && c.state.status !== "connected") await this.connect(c.state.address);
    return c && c.state.status === "connected" ? c : undefined;
  }

  async connectPrompt(): Promise<void> {
    const a = await this.ui.inputAddress();
    if (!a) return;
    const recent = this.context.globalState.get<string[]>(RECENT_KEY, []);
    if (!configuredAddresses().includes(a.trim()) && !recent.includes(a.trim()))
      await this.context.globalState.update(RECENT_KEY, [a.trim(), ...recent].slice(0, 10));
    await this.connect(a.trim());
  }

  async connect(address: string): Promise<void> {
    let c = this.conns.get(address);
    if (!c) {
      c = { state: { address, status: "idle" } };
      this.conns.set(address, c);
    }
    c.client?.close();
    c.state = { address, status: "connecting" };
    this.fire();
    const conn = c;
    try {
      const client = await QmpClient.connect(address);
      conn.client = client;
      client.onEvent(() => this.scheduleRefresh(conn));
      client.onClose((e) => {
        if (conn.client !== client) return;
        conn.client = undefined;
        conn.state = {
          address,
          status: "lost",
          error: e.message.includes("was closed") ? undefined : e.message,
          info: conn.state.info,
        };
        if (e.message.includes("was closed")) conn.state = { address, status: "idle" };
        this.fire();
      });
      conn.state = { address, status: "connected", info: await queryVmInfo(client) };
      this.fire();
    } catch (e) {
      conn.client?.close();
      conn.client = undefined;
      conn.state = { address, status: "idle", error: message(e) };
      this.fire();
      throw e;
    }
  }

  disconnect(arg: unknown): void {
    const c = this.conn(arg);
    if (!c) return;
    const client = c.client;
    c.client = undefined;
    client?.close();
    c.state = { address: c.state.address, status: "idle" };
    this.fire();
  }

  forget(arg: unknown): void {
    const c = this.conn(arg);
    if (!c) return;
    this.disconnect(c.state.address);
    const recent = this.context.globalState.get<string[]>(RECENT_KEY, []).filter((a) => a !== c.state.address);
    void this.context.globalState.update(RECENT_KEY, recent).then(() => this.sync());
  }

  private scheduleRefresh(c: Conn): void {
    clearTimeout(c.refreshTimer);
    c.refreshTimer = setTimeout(() => void this.refreshConn(c).catch(() => {}), 150);
  }

  private async refreshConn(c: Conn): Promise<void> {
    if (!c.client || c.state.status !== "connected") return;
    c.state = { ...c.state, info: await queryVmInfo(c.client) };
    this.fire();
  }

  async refresh(arg?: unknown): Promise<void> {
    const targets = arg ? [this.conn(arg)].filter((x): x is Conn => !!x) : [...this.conns.values()];
    for (const c of targets) await this.refreshConn(c);
    this.sync();
  }

  async runControl(arg: unknown, cmd: "cont" | "stop"): Promise<void> {
    const c = await this.pickConn(arg, cmd === "cont" ? "Resume" : "Pause");
    if (!c?.client) return;
    await c.client.execute(cmd);
    await this.refreshConn(c);
  }

  async capture(arg?: unknown, target?: vscode.Uri, choice?: CaptureChoice): Promise<CaptureResult | undefined> {
    const c = await this.pickConn(arg, "Capture VM State");
    if (!c?.client) return undefined;
    const client = c.client;
    const info = await queryVmInfo(client);
    c.state = { ...c.state, info };
    this.fire();
    if (info.runState.status === "postmigrate") {
      // not awaited: the command ends now; the button works whenever it is clicked
      void vscode.window
        .showWarningMessage(
          `${info.name ?? c.state.address} is paused after a previous migration; QEMU cannot migrate it again until it has run.`,
          "Resume VM",
        )
        .then((act) =>
          act === "Resume VM"
            ? this.runControl(c.state.address, "cont").catch((e) => void vscode.window.showErrorMessage(message(e)))
            : undefined,
        );
      return undefined;
    }
    if (!choice) {
      const running = info.runState.running;
      const items: Array<{ label: string; detail: string; choice: CaptureChoice }> = running
        ? [
            {
              label: "$(debug-pause) Pause first, then resume",
              detail: "A consistent image of this moment; the VM stops while QEMU writes the file",
              choice: { mode: "pause", after: "running" },
            },
            {
              label: "$(debug-pause) Pause first, leave paused",
              detail: "The VM stays paused afterwards",
              choice: { mode: "pause", after: "paused" },
            },
            {
              label: "$(play) Live, keep running",
              detail: "QEMU migrates while the VM runs and pauses it briefly at the end",
              choice: { mode: "live", after: "running" },
            },
          ]
        : [
            {
              label: "$(debug-pause) Capture, stay paused",
              detail: `The VM is ${info.runState.status}; it stays paused`,
              choice: { mode: "pause", after: "paused" },
            },
            {
              label: "$(play) Capture, then run",
              detail: "Start the VM once the file is written",
              choice: { mode: "pause", after: "running" },
            },
          ];
      if (running && info.capabilities.some((x) => x.capability === "background-snapshot")) {
        items.push({
          label: "$(history) Background snapshot",
          detail:
            "QEMU's background-snapshot: the image of the start, the VM keeps running (needs userfaultfd write-protect)",
          choice: { mode: "background-snapshot", after: "running" },
        });
      }
      choice = await this.ui.pickCapture(items);
      if (!choice) return undefined;
    }
    if (!target) {
      const stamp = new Date().toISOString().replace(/[:]/g, "-").replace(/\..*/, "");
      target = await this.ui.pickSaveFile(
        "Capture VM State to",
        `${(info.name ?? "vm").replace(/[^\w.-]+/g, "_")}-${stamp}.vmstate`,
      );
      if (!target) return undefined;
    }
    if (target.scheme !== "file") throw new Error("the capture is written to a local file; pick one on this machine");
    const file = target.fsPath;
    const picked = choice;
    c.state = { ...c.state, busy: "capturing" };
    this.fire();
    try {
      const result = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Capturing ${info.name ?? c.state.address} (${picked.mode})`,
          cancellable: true,
        },
        async (progress, token) => {
          const ac = new AbortController();
          token.onCancellationRequested(() => ac.abort());
          let done = 0;
          return captureVmState(client, file, {
            mode: picked.mode,
            after: picked.after,
            signal: ac.signal,
            onProgress: (p) => {
              const pct = progressPercent(p);
              progress.report({
                message: describeProgress(p),
                increment: pct !== undefined && pct > done ? pct - done : undefined,
              });
              if (pct !== undefined && pct > done) done = pct;
            },
          });
        },
      );
      const viewType = file.endsWith(".vmstate") ? "qemuVmstate.editor" : "qemuVmstate.anyFile";
      await vscode.commands.executeCommand("vscode.openWith", vscode.Uri.file(result.file), viewType);
      void vscode.window.showInformationMessage(
        `Captured ${formatBytes(result.size)} from ${info.name ?? c.state.address} in ${result.seconds.toFixed(1)} s into ${path.basename(result.file)}; the VM is ${result.after.status}.`,
      );
      return result;
    } finally {
      if (c.state.status === "connected") c.state = { ...c.state, busy: undefined };
      await this.refreshConn(c).catch(() => {});
      this.fire();
    }
  }

  async load(arg?: unknown, file?: vscode.Uri): Promise<LoadResult | undefined> {
    // From the explorer's context menu the first argument is the file.
    if (arg instanceof vscode.Uri) {
      file = arg;
      arg = undefined;
    }
    const c = await this.pickConn(arg, "Load into QEMU");
    if (!c?.client) return undefined;
    const client = c.client;
    if (!file) {
      const active = activeStreamUri();
      if (active) {
        const pick = await vscode.window.showQuickPick(
          [
            {
              label: `$(file-binary) ${path.basename(active.fsPath)}`,
              description: "the stream open in the editor (its saved file)",
              uri: active as vscode.Uri | undefined,
            },
            { label: "$(folder-opened) Choose a file...", uri: undefined },
          ],
          { title: "Load into QEMU: which stream?" },
        );
        if (!pick) return undefined;
        file = pick.uri;
      }
      file ??= await this.ui.pickOpenFile("Load into QEMU (waiting with -incoming defer)");
      if (!file) return undefined;
    }
    const f = file.fsPath;
    const name = c.state.info?.name ?? c.state.address;
    c.state = { ...c.state, busy: "loading" };
    this.fire();
    try {
      const result = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Loading ${path.basename(f)} into ${name}`,
          cancellable: true,
        },
        async (progress, token) => {
          const ac = new AbortController();
          token.onCancellationRequested(() => ac.abort());
          let done = 0;
          return loadVmState(client, f, {
            signal: ac.signal,
            onProgress: (p) => {
              const pct = progressPercent(p);
              progress.report({
                message: describeProgress(p),
                increment: pct !== undefined && pct > done ? pct - done : undefined,
              });
              if (pct !== undefined && pct > done) done = pct;
            },
          });
        },
      );
      void vscode.window
        .showInformationMessage(
          `QEMU loaded ${path.basename(f)} (${formatBytes(result.size)}, ${result.seconds.toFixed(1)} s): migration ${result.final.status}, VM ${result.after.status}.`,
          ...(result.after.running ? [] : ["Resume VM"]),
        )
        .then((a) =>
          a === "Resume VM"
            ? this.runControl(c.state.address, "cont").catch((e) => void vscode.window.showErrorMessage(message(e)))
            : undefined,
        );
      return result;
    } finally {
      if (c.state.status === "connected") c.state = { ...c.state, busy: undefined };
      await this.refreshConn(c).catch(() => {});
      this.fire();
    }
  }

  dispose(): void {
    for (const c of this.conns.values()) {
      clearTimeout(c.refreshTimer);
      c.client?.close();
    }
  }
}

function progressPercent(p: MigrationProgress): number | undefined {
  if (p.fileSize) return Math.min(100, Math.floor(((p.sent ?? 0) / p.fileSize) * 100));
  if (p.status === "completed") return 100;
  if (p.transferred !== undefined && p.remaining !== undefined && p.transferred + p.remaining > 0)
    return Math.min(99, Math.floor((p.transferred / (p.transferred + p.remaining)) * 100));
  return undefined;
}

export function describeProgress(p: MigrationProgress): string {
  if (p.fileSize !== undefined) return `${p.status}: ${formatBytes(p.sent)} of ${formatBytes(p.fileSize)} sent`;
  if (p.transferred === undefined) return p.status;
  return `${p.status}: ${formatBytes(p.written)} written, ${formatBytes(p.remaining)} of RAM to go`;
}

function defaultUri(name: string): vscode.Uri | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder ? vscode.Uri.joinPath(folder.uri, name) : undefined;
}

function activeStreamUri(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups?.activeTabGroup?.activeTab?.input;
  if (
    typeof vscode.TabInputCustom === "function" &&
    input instanceof vscode.TabInputCustom &&
    input.uri.scheme === "file" &&
    input.viewType.startsWith("qemuVmstate.")
  )
    return input.uri;
  return undefined;
}

export function registerQemuView(context: vscode.ExtensionContext): QemuViewApi {
  const explorer = new QemuExplorer(context);
  const view = vscode.window.createTreeView(QEMU_VIEW_ID, { treeDataProvider: explorer, showCollapseAll: false });
  const reg = (id: string, what: string, fn: (...args: never[]) => Promise<unknown>) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        } catch (e) {
          if ((e instanceof CaptureError || e instanceof LoadError) && e.reason === "cancelled")
            void vscode.window.showInformationMessage(`${what}: ${message(e)}`);
          else void vscode.window.showErrorMessage(`${what}: ${message(e)}`);
          return undefined;
        }
      }),
    );
  reg("qemuVmstate.qmp.connect", "Connect to QEMU", () => explorer.connectPrompt());
  reg("qemuVmstate.qmp.connectAddress", "Connect to QEMU", async (arg: unknown) => {
    const a = typeof arg === "string" ? arg : (arg as { address?: string } | undefined)?.address;
    return a ? explorer.connect(a) : explorer.connectPrompt();
  });
  reg("qemuVmstate.qmp.disconnect", "Disconnect", async (arg: unknown) => explorer.disconnect(arg));
  reg("qemuVmstate.qmp.forget", "Forget", async (arg: unknown) => explorer.forget(arg));
  reg("qemuVmstate.qmp.refresh", "Refresh", (arg: unknown) => explorer.refresh(arg));
  reg("qemuVmstate.qmp.capture", "Capture VM State", (arg: unknown, target?: vscode.Uri, choice?: CaptureChoice) =>
    explorer.capture(arg, target, choice),
  );
  reg("qemuVmstate.qmp.load", "Load into QEMU", (arg: unknown, file?: vscode.Uri) => explorer.load(arg, file));
  reg("qemuVmstate.qmp.resume", "Resume VM", (arg: unknown) => explorer.runControl(arg, "cont"));
  reg("qemuVmstate.qmp.pause", "Pause VM", (arg: unknown) => explorer.runControl(arg, "stop"));
  reg("qemuVmstate.qmp.showHelpers", "Show helpers", async (arg: unknown) => {
    const addr = typeof arg === "string" ? arg : (arg as { busAddress?: string } | undefined)?.busAddress;
    if (!addr) return;
    await vscode.commands.executeCommand("qemuVmstate.bus.connectAddress", addr);
    await vscode.commands.executeCommand("qemuVmstate.busExplorer.focus");
  });
  context.subscriptions.push(
    view,
    explorer,
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("qemuVmstate.qmp.addresses")) explorer.sync();
    }),
  );
  return explorer;
}
