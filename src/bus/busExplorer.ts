// The "D-Bus helpers" view: connect to a bus the user names, list the org.qemu.VMState1 helpers on
// it live, Save/Load/Compare one, and check them all against QEMU's rules. Every command catches its
// own failures and reports them; nothing here may throw into the extension host.
import * as vscode from "vscode";
import { validateBusAddress } from "./address";
import { VmStateBusClient, DEFAULT_CALL_TIMEOUT_MS, type CheckReport, type BusHelper, type SaveResult } from "./client";
import { BusError, errorMessage } from "./errors";
import { hexdump } from "./hexdump";
import { formatCheckReport } from "./report";
import { compareBytes, formatSize, DBUS_VMSTATE_SIZE_LIMIT, DEFAULT_SLOW_SAVE_MS, type CompareResult } from "./rules";
import {
  children,
  newConnection,
  remember,
  roots,
  type BusConnection,
  type ExplorerState,
  type HelperNode,
  type IconId,
  type TreeNode,
} from "./busTreeModel";

export const VIEW_ID = "qemuVmstate.busExplorer";
const REPORT_SCHEME = "qemu-vmstate-report";
const RECENT_KEY = "qemuVmstate.bus.recentAddresses";
const SESSION_LABEL = "session bus";

export interface BusExplorerDeps {
  /** Opens bytes in the editor's hex/text blob view. */
  showBlob?(title: string, bytes: Uint8Array): Promise<void>;
  /** The blob of helper `id` in an open .vmstate document, if any. */
  findStreamHelper?(id: string): Promise<{ file: string; bytes: Uint8Array } | undefined>;
}

/** Dialogs the explorer uses; integration tests replace them to run without a person. */
export interface BusExplorerUi {
  confirm(message: string, detail: string, action: string): Promise<boolean>;
  pickOpenFile(title: string): Promise<vscode.Uri | undefined>;
  pickSaveFile(title: string, suggested: string): Promise<vscode.Uri | undefined>;
  /** An information message with action buttons; resolves with the action picked, if any. */
  info(message: string, ...actions: string[]): Promise<string | undefined>;
}

/** What registerBusExplorer returns: the state and actions, for src/extension.ts and integration tests. */
export interface BusExplorerApi {
  readonly state: ExplorerState;
  readonly onDidChange: vscode.Event<void>;
  readonly ui: BusExplorerUi;
  connect(address: string): Promise<void>;
  disconnect(): void;
  refresh(): Promise<void>;
  roots(): TreeNode[];
  children(node: TreeNode): TreeNode[];
}

type HelperArg = HelperNode | BusHelper | string | undefined;

const ICONS: Record<IconId, [string, string?]> = {
  "bus-connected": ["plug", "testing.iconPassed"],
  "bus-connecting": ["loading~spin"],
  "bus-lost": ["debug-disconnect", "errorForeground"],
  "bus-idle": ["plug"],
  helper: ["server-process"],
  "helper-pass": ["pass", "testing.iconPassed"],
  "helper-fail": ["error", "testing.iconFailed"],
  "helper-busy": ["loading~spin"],
  info: ["info"],
  warning: ["warning", "problemsWarningIcon.foreground"],
  error: ["error", "errorForeground"],
  pass: ["pass", "testing.iconPassed"],
  fail: ["error", "testing.iconFailed"],
  skip: ["circle-slash"],
  detail: ["symbol-field"],
};

/**
 * Read-only text documents for check reports and hex dumps. Untitled documents would show as
 * unsaved (a dot on the tab, "Save changes?" on close) and come back in every new window.
 */
class ReportDocuments implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private seq = 0;
  add(name: string, text: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/${++this.seq}/${name.replace(/[/\\]+/g, "_")}.txt` });
    this.texts.set(uri.path, text);
    while (this.texts.size > 20) this.texts.delete(this.texts.keys().next().value as string);
    return uri;
  }
  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.path) ?? "This report is gone (only the last 20 are kept); run the command again.";
  }
}

class BusExplorer implements vscode.TreeDataProvider<TreeNode>, BusExplorerApi {
  readonly state: ExplorerState;
  private client: VmStateBusClient | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly treeChanged = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.treeChanged.event;
  private readonly parents = new Map<string, TreeNode>();
  private view: vscode.TreeView<TreeNode> | undefined;
  readonly reports = new ReportDocuments();
  readonly ui: BusExplorerUi = {
    confirm: async (message, detail, action) =>
      (await vscode.window.showWarningMessage(message, { modal: true, detail }, action)) === action,
    pickOpenFile: async (title) =>
      (await vscode.window.showOpenDialog({ title, canSelectMany: false, openLabel: "Load" }))?.[0],
    pickSaveFile: (title, suggested) =>
      Promise.resolve(vscode.window.showSaveDialog({ title, defaultUri: defaultUri(suggested) })),
    info: (message, ...actions) => Promise.resolve(vscode.window.showInformationMessage(message, ...actions)),
  };

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly deps: BusExplorerDeps,
  ) {
    this.state = { configured: readConfiguredAddresses(), recent: context.globalState.get<string[]>(RECENT_KEY, []) };
  }

  attach(view: vscode.TreeView<TreeNode>): void {
    this.view = view;
    this.updateView();
  }

  // ---- tree

  roots(): TreeNode[] {
    return roots(this.state);
  }
  children(node: TreeNode): TreeNode[] {
    return children(this.state, node);
  }

  getChildren(node?: TreeNode): TreeNode[] {
    const out = node ? this.children(node) : this.roots();
    if (node) for (const c of out) this.parents.set(c.id, node);
    return out;
  }

  getParent(node: TreeNode): TreeNode | undefined {
    return this.parents.get(node.id);
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const collapsible =
      node.kind === "bus"
        ? node.source === "current" && node.status !== "connecting"
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.None
        : node.kind === "helper"
          ? vscode.TreeItemCollapsibleState.Collapsed
          : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(node.label, collapsible);
    item.id = node.id;
    const [icon, color] = ICONS[node.icon];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    if (node.kind === "bus") {
      item.description = node.description;
      item.tooltip = node.tooltip;
      item.contextValue = `qemuVmstate.bus.${node.status}${node.source === "recent" ? ".recent" : ""}`;
      if (node.status === "idle")
        item.command = { command: "qemuVmstate.bus.connectAddress", title: "Connect", arguments: [node.address] };
    } else if (node.kind === "helper") {
      item.description = node.description;
      item.tooltip = node.tooltip;
      item.contextValue = node.helper.id !== null ? "qemuVmstate.helper.withId" : "qemuVmstate.helper";
      item.accessibilityInformation = { label: `helper ${node.label}, ${node.description}` };
    } else {
      if (node.description !== undefined) item.description = node.description;
      if (node.tooltip !== undefined) item.tooltip = node.tooltip;
      if (node.command)
        item.command = { command: node.command.command, title: node.command.title, arguments: node.command.args ?? [] };
      item.contextValue = "qemuVmstate.busInfo";
    }
    return item;
  }

  private fire(): void {
    this.treeChanged.fire(undefined);
    this.changed.fire();
    this.updateView();
  }

  private updateView(): void {
    const c = this.state.connection;
    void vscode.commands.executeCommand("setContext", "qemuVmstate.bus.connected", c?.status === "connected");
    void vscode.commands.executeCommand("setContext", "qemuVmstate.bus.hasConnection", !!c);
    if (!this.view) return;
    this.view.description = !c
      ? "not connected"
      : c.status === "connected"
        ? "connected"
        : c.status === "connecting"
          ? "connecting…"
          : "connection lost";
    this.view.message =
      c?.status === "lost"
        ? `Connection to ${c.label ?? c.address} lost: ${c.reason ?? ""}. Use Reconnect, or connect to another bus.`
        : undefined;
  }

  onConfigurationChanged(): void {
    this.state.configured = readConfiguredAddresses();
    this.fire();
  }

  // ---- connection

  async connect(address: string, label?: string): Promise<void> {
    this.dropClient();
    const client = new VmStateBusClient();
    client.on("error", () => {
      /* connection errors surface as 'close' and as failed calls */
    });
    this.client = client;
    const conn = newConnection(address, label);
    this.state.connection = conn;
    this.fire();
    try {
      if (label === SESSION_LABEL) await client.connectSession();
      else await client.connect(address);
    } catch (e) {
      if (this.client === client) {
        this.client = undefined;
        this.state.connection = undefined;
        this.fire();
      }
      throw e;
    }
    if (this.client !== client) {
      client.disconnect();
      return;
    }
    conn.status = "connected";
    if (label !== SESSION_LABEL) {
      this.state.recent = remember(this.state.recent, address);
      void this.context.globalState.update(RECENT_KEY, this.state.recent);
    }
    client.on("ownersChanged", () => void this.refresh());
    client.on("close", (ev: { reason: string; expected: boolean }) => {
      if (this.client !== client || ev.expected) return;
      conn.status = "lost";
      conn.reason = ev.reason;
      this.client = undefined;
      this.fire();
      void vscode.window
        .showWarningMessage(`QEMU VM State: lost the connection to ${conn.label ?? conn.address}.`, "Reconnect")
        .then((pick) => {
          if (pick) void vscode.commands.executeCommand("qemuVmstate.bus.reconnect");
        });
    });
    this.fire();
    try {
      await client.watch(settings().get<number>("pollIntervalMs", 0));
    } catch (e) {
      conn.listError = `cannot watch for helpers: ${errorMessage(e)}`;
    }
    await this.refresh();
  }

  private dropClient(): void {
    const c = this.client;
    this.client = undefined;
    c?.disconnect();
  }

  disconnect(): void {
    this.dropClient();
    this.state.connection = undefined;
    this.fire();
  }

  async reconnect(): Promise<void> {
    const c = this.state.connection;
    if (!c) throw new BusError("usage", "there is no bus to reconnect to; use Connect to Bus...");
    await this.connect(c.address, c.label);
  }

  async refresh(): Promise<void> {
    const client = this.client;
    const conn = this.state.connection;
    if (!client || !conn || conn.status !== "connected") return;
    try {
      const helpers = await client.listHelpers();
      if (this.client !== client) return;
      conn.helpers = helpers;
      delete conn.listError;
      const live = new Set(helpers.map((h) => h.uniqueName));
      for (const m of [conn.busy, conn.checks, conn.saves, conn.errors])
        for (const k of [...m.keys()]) if (!live.has(k)) m.delete(k);
    } catch (e) {
      if (this.client !== client) return;
      if (e instanceof BusError && e.kind === "closed") return; // 'close' reports it
      conn.listError = errorMessage(e);
    }
    this.fire();
  }

  // ---- helpers

  private current(): { client: VmStateBusClient; conn: BusConnection } {
    const client = this.client;
    const conn = this.state.connection;
    if (!client || !conn || conn.status !== "connected")
      throw new BusError("closed", "not connected to a bus; use Connect to Bus... first");
    return { client, conn };
  }

  private async resolveHelper(
    arg: HelperArg,
    purpose: string,
  ): Promise<{ client: VmStateBusClient; conn: BusConnection; h: BusHelper } | undefined> {
    const { client, conn } = this.current();
    const helpers = conn.helpers ?? (await client.listHelpers());
    let unique: string | undefined;
    if (typeof arg === "string") unique = arg;
    else if (arg && "kind" in arg && arg.kind === "helper") unique = arg.helper.uniqueName;
    else if (arg && "uniqueName" in arg) unique = arg.uniqueName;
    if (unique === undefined) {
      if (!helpers.length) throw new BusError("usage", "there are no helpers on this bus");
      const pick = await vscode.window.showQuickPick(
        helpers.map((h) => ({
          label: h.id ?? "(no Id)",
          description: `${h.uniqueName} · ${h.primary ? "primary" : "queued"}`,
          h,
        })),
        { title: `Helper to ${purpose}` },
      );
      return pick ? { client, conn, h: pick.h } : undefined;
    }
    const h = helpers.find((x) => x.uniqueName === unique);
    if (!h) throw new BusError("vanished", `${unique} is no longer a helper on ${conn.address}`);
    return { client, conn, h };
  }

  private async busy<T>(conn: BusConnection, h: BusHelper, what: string, fn: () => Promise<T>): Promise<T> {
    conn.busy.set(h.uniqueName, what);
    conn.errors.delete(h.uniqueName);
    this.fire();
    try {
      return await fn();
    } catch (e) {
      conn.errors.set(h.uniqueName, errorMessage(e));
      throw e;
    } finally {
      conn.busy.delete(h.uniqueName);
      this.fire();
    }
  }

  async save(arg: HelperArg): Promise<SaveResult | undefined> {
    const r = await this.resolveHelper(arg, "save");
    if (!r) return undefined;
    const { client, conn, h } = r;
    const name = helperName(h);
    const res = await this.busy(conn, h, "saving", () => client.save(h.uniqueName, { timeoutMs: saveTimeout() }));
    conn.saves.set(h.uniqueName, { size: res.bytes.length, ms: res.ms });
    this.fire();
    await this.showBlob(`${name} · Save from ${h.uniqueName}`, res.bytes);
    const warn =
      res.bytes.length > DBUS_VMSTATE_SIZE_LIMIT
        ? " Over 1 MiB: QEMU would drop it."
        : res.bytes.length === 0
          ? " Empty: QEMU cannot migrate it."
          : "";
    const streams = openStreamUris();
    const actions = streams.length && h.id !== null ? ["Export...", "Use in Open Stream..."] : ["Export..."];
    void this.ui
      .info(`Saved ${name}: ${formatSize(res.bytes.length)} in ${Math.round(res.ms)} ms.${warn}`, ...actions)
      .then(async (pick) => {
        if (pick === "Export...")
          await this.exportBytes(res.bytes, h).catch(
            (e: unknown) => void vscode.window.showErrorMessage(`Export failed: ${errorMessage(e)}`),
          );
        else if (pick)
          await this.useInStream(res.bytes, h).catch(
            (e: unknown) => void vscode.window.showErrorMessage(`Could not use the Save: ${errorMessage(e)}`),
          );
      });
    return res;
  }

  /** Replace (or add) the blob of the helper with this Id in an open stream: one undoable edit there. */
  private async useInStream(bytes: Uint8Array, h: BusHelper): Promise<void> {
    const uris = openStreamUris();
    let uri = uris[0];
    if (uris.length > 1) {
      const pick = await vscode.window.showQuickPick(
        uris.map((u) => ({ label: u.path.split("/").pop() ?? u.path, description: u.fsPath, uri: u })),
        { title: `Use the Save of ${helperName(h)} in which stream?` },
      );
      uri = pick?.uri;
    }
    if (!uri) return;
    await vscode.commands.executeCommand("qemuVmstate.replaceHelperBlobWithBytes", {
      uri: uri.toString(),
      helperId: h.id,
      bytes,
    });
  }

  private async exportBytes(bytes: Uint8Array, h: BusHelper, target?: vscode.Uri): Promise<vscode.Uri | undefined> {
    const uri =
      target ??
      (await this.ui.pickSaveFile(`Export the Save of ${helperName(h)}`, `${safeFileName(h.id ?? h.uniqueName)}.bin`));
    if (!uri) return undefined;
    await vscode.workspace.fs.writeFile(uri, bytes);
    return uri;
  }

  private async showBlob(title: string, bytes: Uint8Array): Promise<void> {
    if (this.deps.showBlob) {
      await this.deps.showBlob(title, bytes);
      return;
    }
    await this.showReport(title, `${title}\n${formatSize(bytes.length)}\n\n${hexdump(bytes)}`, { preview: true });
  }

  private async showReport(name: string, text: string, options: vscode.TextDocumentShowOptions): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(this.reports.add(name, text));
    await vscode.window.showTextDocument(doc, options);
  }

  private async confirmLoad(conn: BusConnection, h: BusHelper, size: number, source: string): Promise<boolean> {
    const over = size > DBUS_VMSTATE_SIZE_LIMIT ? "\nThis is over 1 MiB: QEMU itself would never send it." : "";
    return this.ui.confirm(
      `Load ${formatSize(size)} into helper ${helperName(h)} (${h.uniqueName}) on ${conn.label ? `${conn.label} ` : ""}${conn.address}?`,
      `From ${source}. The helper replaces its state with these bytes (org.qemu.VMState1.Load), as on a migration destination.${over}`,
      "Load",
    );
  }

  async loadFromFile(arg: HelperArg, file?: vscode.Uri): Promise<boolean> {
    const r = await this.resolveHelper(arg, "load into");
    if (!r) return false;
    const uri = file ?? (await this.ui.pickOpenFile(`File to load into ${helperName(r.h)}`));
    if (!uri) return false;
    const bytes = await vscode.workspace.fs.readFile(uri);
    return this.doLoad(r, bytes, uri.fsPath || uri.toString());
  }

  async loadFromStream(arg: HelperArg): Promise<boolean> {
    const find = this.deps.findStreamHelper;
    if (!find) throw new BusError("usage", "loading from an open stream is not available; use Load from File...");
    const r = await this.resolveHelper(arg, "load into");
    if (!r) return false;
    if (r.h.id === null) throw new BusError("usage", `${r.h.uniqueName} has no Id, so no stream entry can match it`);
    const found = await find(r.h.id);
    if (!found)
      throw new BusError("usage", `no open .vmstate stream has a helper blob with Id ${JSON.stringify(r.h.id)}`);
    return this.doLoad(r, found.bytes, `the "${r.h.id}" entry of ${found.file}`);
  }

  private async doLoad(
    r: { client: VmStateBusClient; conn: BusConnection; h: BusHelper },
    bytes: Uint8Array,
    source: string,
  ): Promise<boolean> {
    const { client, conn, h } = r;
    if (!(await this.confirmLoad(conn, h, bytes.length, source))) return false;
    const res = await this.busy(conn, h, "loading", () =>
      client.load(h.uniqueName, bytes, { timeoutMs: saveTimeout() }),
    );
    void vscode.window.showInformationMessage(
      `Loaded ${formatSize(bytes.length)} into ${helperName(h)} in ${Math.round(res.ms)} ms.`,
    );
    return true;
  }

  async compare(arg: HelperArg): Promise<CompareResult | undefined> {
    const find = this.deps.findStreamHelper;
    if (!find) throw new BusError("usage", "comparing needs an open .vmstate stream, which is not available here");
    const r = await this.resolveHelper(arg, "compare");
    if (!r) return undefined;
    const { client, conn, h } = r;
    if (h.id === null) throw new BusError("usage", `${h.uniqueName} has no Id, so no stream entry can match it`);
    const found = await find(h.id);
    if (!found)
      throw new BusError("usage", `no open .vmstate stream has a helper blob with Id ${JSON.stringify(h.id)}`);
    const live = await this.busy(conn, h, "saving", () => client.save(h.uniqueName, { timeoutMs: saveTimeout() }));
    conn.saves.set(h.uniqueName, { size: live.bytes.length, ms: live.ms });
    this.fire();
    const c = compareBytes(live.bytes, found.bytes);
    const where = `${helperName(h)} (live) and ${found.file}`;
    if (c.equal) void vscode.window.showInformationMessage(`${where}: equal, ${formatSize(c.size)}.`);
    else {
      void vscode.window.showWarningMessage(`${where} differ: ${c.message}.`, "Show Live Blob").then((pick) => {
        if (pick) void this.showBlob(`${helperName(h)} · live Save`, live.bytes).catch(() => {});
      });
    }
    return c;
  }

  async check(): Promise<CheckReport | undefined> {
    const { client, conn } = this.current();
    const report = await vscode.window.withProgress({ location: { viewId: VIEW_ID }, title: "Checking helpers" }, () =>
      client.check({ timeoutMs: saveTimeout(), slowMs: settings().get<number>("slowSaveMs", DEFAULT_SLOW_SAVE_MS) }),
    );
    if (this.state.connection !== conn) return report;
    conn.helpers = report.helpers.map((x) => x.helper);
    conn.checks = new Map(report.helpers.map((x) => [x.helper.uniqueName, x]));
    this.fire();
    await this.showReport("Helper check", formatCheckReport(report), { preview: true, preserveFocus: true });
    const failing = report.helpers.filter((x) => !x.ok).length;
    if (!report.helpers.length) void vscode.window.showInformationMessage("No helpers on this bus to check.");
    else if (failing)
      void vscode.window.showWarningMessage(
        `${failing} of ${report.helpers.length} helper(s) break a rule QEMU applies; see the report.`,
      );
    else void vscode.window.showInformationMessage(`All ${report.helpers.length} helper(s) pass every check.`);
    return report;
  }

  async pickAndConnect(): Promise<void> {
    type Item = vscode.QuickPickItem & { address?: string; session?: boolean; enter?: boolean };
    const env = process.env.DBUS_SESSION_BUS_ADDRESS;
    const items: Item[] = [];
    const seen = new Set<string>();
    for (const [list, description] of [
      [this.state.configured, "from settings"],
      [this.state.recent, "recent"],
    ] as const) {
      for (const a of list) {
        if (seen.has(a)) continue;
        seen.add(a);
        items.push({ label: a, description, address: a });
      }
    }
    items.push({
      label: "$(account) Session bus",
      description: env ?? "DBUS_SESSION_BUS_ADDRESS is not set",
      session: true,
    });
    items.push({
      label: "$(edit) Enter an address...",
      description: "unix:path=... or tcp:host=...,port=...",
      enter: true,
    });
    const pick = await vscode.window.showQuickPick(items, {
      title: "Connect to a D-Bus bus with org.qemu.VMState1 helpers",
      placeHolder: "The bus given to QEMU's -object dbus-vmstate,addr=...",
    });
    if (!pick) return;
    if (pick.session) return this.connect(env ?? "(session bus)", SESSION_LABEL);
    let address = pick.address;
    if (pick.enter) {
      address = await vscode.window.showInputBox({
        title: "D-Bus address",
        prompt: "The address of the bus daemon (dbus-daemon --print-address), e.g. unix:path=/run/vmstate/bus.sock",
        value: this.state.recent[0] ?? "unix:path=",
        validateInput: (v) => validateBusAddress(v),
        ignoreFocusOut: true,
      });
    }
    if (!address) return;
    await this.connect(address.trim());
  }

  async forget(arg: unknown): Promise<void> {
    const address = typeof arg === "string" ? arg : (arg as { address?: string } | undefined)?.address;
    if (!address) return;
    this.state.recent = this.state.recent.filter((a) => a !== address);
    await this.context.globalState.update(RECENT_KEY, this.state.recent);
    this.fire();
  }

  dispose(): void {
    this.dropClient();
    this.changed.dispose();
    this.treeChanged.dispose();
  }
}

function settings(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration("qemuVmstate.bus");
}
function readConfiguredAddresses(): string[] {
  const v = settings().get<unknown>("addresses", []);
  return Array.isArray(v)
    ? v.filter((x): x is string => typeof x === "string" && x.trim().length > 0).map((x) => x.trim())
    : [];
}
function saveTimeout(): number {
  const v = settings().get<number>("saveTimeoutMs", DEFAULT_CALL_TIMEOUT_MS);
  return typeof v === "number" && v > 0 ? v : DEFAULT_CALL_TIMEOUT_MS;
}
function helperName(h: BusHelper): string {
  return h.id !== null ? JSON.stringify(h.id) : `${h.uniqueName} (no Id)`;
}
function safeFileName(s: string): string {
  return s.replace(/[^\w.-]+/g, "_").slice(0, 100) || "helper";
}
function defaultUri(name: string): vscode.Uri | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder ? vscode.Uri.joinPath(folder.uri, name) : undefined;
}

export function registerBusExplorer(context: vscode.ExtensionContext, deps: BusExplorerDeps = {}): BusExplorerApi {
  const explorer = new BusExplorer(context, deps);
  const view = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: explorer, showCollapseAll: false });
  explorer.attach(view);
  void vscode.commands.executeCommand("setContext", "qemuVmstate.bus.streamsAvailable", !!deps.findStreamHelper);

  // Every command reports its own failure and resolves; the value is for tests and other callers.
  const guard =
    <A extends unknown[], R>(what: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R | undefined> => {
      try {
        return await fn(...args);
      } catch (e) {
        void vscode.window.showErrorMessage(`${what}: ${errorMessage(e)}`);
        return undefined;
      }
    };
  const reg = (id: string, what: string, fn: (...args: never[]) => Promise<unknown>) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, guard(what, fn as (...args: unknown[]) => Promise<unknown>)),
    );

  reg("qemuVmstate.bus.connect", "Connect to bus", () => explorer.pickAndConnect());
  reg("qemuVmstate.bus.connectAddress", "Connect to bus", async (arg: unknown) => {
    const address = typeof arg === "string" ? arg : (arg as { address?: string } | undefined)?.address;
    if (!address) return explorer.pickAndConnect();
    return explorer.connect(address);
  });
  reg("qemuVmstate.bus.connectSession", "Connect to the session bus", () =>
    explorer.connect(process.env.DBUS_SESSION_BUS_ADDRESS ?? "(session bus)", SESSION_LABEL),
  );
  reg("qemuVmstate.bus.disconnect", "Disconnect", async () => explorer.disconnect());
  reg("qemuVmstate.bus.reconnect", "Reconnect", () => explorer.reconnect());
  reg("qemuVmstate.bus.refresh", "Refresh helpers", () => explorer.refresh());
  reg("qemuVmstate.bus.forgetAddress", "Forget address", (arg: unknown) => explorer.forget(arg));
  reg("qemuVmstate.bus.save", "Save", (arg: HelperArg) => explorer.save(arg));
  reg("qemuVmstate.bus.loadFromFile", "Load", (arg: HelperArg, file?: vscode.Uri) => explorer.loadFromFile(arg, file));
  reg("qemuVmstate.bus.loadFromStream", "Load", (arg: HelperArg) => explorer.loadFromStream(arg));
  reg("qemuVmstate.bus.compare", "Compare", (arg: HelperArg) => explorer.compare(arg));
  reg("qemuVmstate.bus.check", "Check helpers", () => explorer.check());

  context.subscriptions.push(
    view,
    explorer,
    vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, explorer.reports),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("qemuVmstate.bus.addresses")) explorer.onConfigurationChanged();
    }),
  );
  return explorer;
}

const STREAM_VIEW_TYPES = new Set(["qemuVmstate.editor", "qemuVmstate.anyFile"]);

/** .vmstate documents open in the migration stream editor. */
function openStreamUris(): vscode.Uri[] {
  const out: vscode.Uri[] = [];
  if (typeof vscode.TabInputCustom !== "function") return out;
  for (const g of vscode.window.tabGroups?.all ?? []) {
    for (const t of g.tabs) {
      const input = t.input;
      // the migration stream editors on real files (not the read-only blob view)
      if (
        !(input instanceof vscode.TabInputCustom) ||
        !STREAM_VIEW_TYPES.has(input.viewType) ||
        input.uri.scheme !== "file"
      )
        continue;
      if (!out.some((u) => u.toString() === input.uri.toString())) out.push(input.uri);
    }
  }
  return out;
}
