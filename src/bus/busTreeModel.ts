// The "D-Bus helpers" tree as plain data computed from the explorer's state: no vscode here, so the
// shape of the tree is unit-tested; busExplorer.ts turns nodes into TreeItems.
import type { HelperCheck, BusHelper } from "./client";
import { NO_HELPERS_HINT, VMSTATE_NAME } from "./client";
import { RULE_TITLES, formatSize } from "./rules";
import { parseBusAddress } from "./address";

export type BusStatus = "connecting" | "connected" | "lost";

export interface BusConnection {
  /** The address as the user gave it (or the session bus's). */
  address: string;
  /** "session bus" when it came from DBUS_SESSION_BUS_ADDRESS. */
  label?: string;
  status: BusStatus;
  /** Why the connection was lost, or why listing failed. */
  reason?: string;
  helpers?: BusHelper[];
  listError?: string;
  /** What is running on a helper now ("saving", "loading", "checking"). */
  busy: Map<string, string>;
  checks: Map<string, HelperCheck>;
  saves: Map<string, { size: number; ms: number }>;
  /** Errors of the last action on a helper, shown on its item. */
  errors: Map<string, string>;
}

export interface ExplorerState {
  connection?: BusConnection;
  configured: string[];
  recent: string[];
}

export type IconId =
  | "bus-connected"
  | "bus-connecting"
  | "bus-lost"
  | "bus-idle"
  | "helper"
  | "helper-pass"
  | "helper-fail"
  | "helper-busy"
  | "info"
  | "warning"
  | "error"
  | "pass"
  | "fail"
  | "skip"
  | "detail";

export interface BusNode {
  kind: "bus";
  id: string;
  address: string;
  status: BusStatus | "idle";
  source: "current" | "configured" | "recent";
  label: string;
  description: string;
  tooltip: string;
  icon: IconId;
}
export interface HelperNode {
  kind: "helper";
  id: string;
  address: string;
  helper: BusHelper;
  label: string;
  description: string;
  tooltip: string;
  icon: IconId;
}
export interface InfoNode {
  kind: "info";
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  icon: IconId;
  /** A command the item runs when clicked, with its argument. */
  command?: { command: string; title: string; args?: unknown[] };
}
export type TreeNode = BusNode | HelperNode | InfoNode;

export function roots(s: ExplorerState): TreeNode[] {
  const out: TreeNode[] = [];
  const seen = new Set<string>();
  const c = s.connection;
  if (c) {
    seen.add(c.address);
    const n = c.helpers?.length;
    const status =
      c.status === "connected"
        ? `connected${n === undefined ? "" : ` · ${n} helper${n === 1 ? "" : "s"}`}`
        : c.status === "connecting"
          ? "connecting…"
          : "connection lost";
    out.push({
      kind: "bus",
      // not the idle item's id: VS Code keeps an item's first collapsible state per id, and the
      // idle item (no children) would leave the connected bus collapsed; the same goes for the
      // connecting item (not expandable), seen when the view is visible while it connects
      id: `bus:current:${c.status === "connecting" ? "connecting:" : ""}${c.address}`,
      address: c.address,
      status: c.status,
      source: "current",
      label: c.label ?? shortAddress(c.address),
      description: c.label ? `${shortAddress(c.address)} · ${status}` : status,
      tooltip: `${c.label ? `${c.label}: ` : ""}${c.address}\n${status}${c.reason ? `\n${c.reason}` : ""}`,
      icon: c.status === "connected" ? "bus-connected" : c.status === "connecting" ? "bus-connecting" : "bus-lost",
    });
  }
  for (const [list, source] of [
    [s.configured, "configured"],
    [s.recent, "recent"],
  ] as const) {
    for (const a of list) {
      if (seen.has(a)) continue;
      seen.add(a);
      out.push({
        kind: "bus",
        id: `bus:${a}`,
        address: a,
        status: "idle",
        source,
        label: shortAddress(a),
        description: source === "configured" ? "from settings" : "recent",
        tooltip: `${a}\nnot connected; click to connect`,
        icon: "bus-idle",
      });
    }
  }
  return out;
}

/**
 * The bus as a tree label: the socket path of a unix:path address (its last two components after
 * "…/" when long), host:port of a tcp one, else the address. Tooltips give the whole address.
 */
export function shortAddress(address: string, max = 28): string {
  let parsed;
  try {
    parsed = parseBusAddress(address);
  } catch {
    return address;
  }
  if (parsed.length !== 1) return address;
  const a = parsed[0]!;
  if (a.transport === "tcp") return `${a.host}:${a.port}`;
  if (a.path.length <= max) return a.path;
  const parts = a.path.split("/").filter((p) => p.length);
  return `…/${parts.slice(-2).join("/")}`;
}

export function children(s: ExplorerState, node: TreeNode): TreeNode[] {
  const c = s.connection;
  if (node.kind === "bus") {
    if (!c || node.source !== "current" || c.address !== node.address) return [];
    if (c.status === "connecting") return [];
    if (c.status === "lost") {
      return [
        {
          kind: "info",
          id: `${node.id}/lost`,
          label: "Connection lost",
          description: c.reason,
          tooltip: c.reason,
          icon: "error",
        },
        {
          kind: "info",
          id: `${node.id}/reconnect`,
          label: "Reconnect",
          icon: "info",
          command: { command: "qemuVmstate.bus.reconnect", title: "Reconnect" },
        },
      ];
    }
    if (c.listError)
      return [
        {
          kind: "info",
          id: `${node.id}/error`,
          label: "Cannot list helpers",
          description: c.listError,
          tooltip: c.listError,
          icon: "error",
        },
      ];
    if (!c.helpers) return [{ kind: "info", id: `${node.id}/loading`, label: "Listing helpers…", icon: "info" }];
    if (!c.helpers.length) {
      return [
        {
          kind: "info",
          id: `${node.id}/none`,
          label: `No helper owns ${VMSTATE_NAME}`,
          description: "hover for help",
          tooltip: NO_HELPERS_HINT,
          icon: "info",
        },
      ];
    }
    return c.helpers.map((h) => helperNode(c, h));
  }
  if (node.kind === "helper") {
    if (!c) return [];
    return helperDetails(c, node);
  }
  return [];
}

export function helperNode(c: BusConnection, h: BusHelper): HelperNode {
  const check = c.checks.get(h.uniqueName);
  const busy = c.busy.get(h.uniqueName);
  const err = c.errors.get(h.uniqueName);
  const role = h.primary ? "primary" : `queued #${h.position}`;
  // what is going on first: a narrow side bar cuts the description's end off
  const parts: string[] = [];
  const failing = check ? check.rules.filter((r) => !r.ok && !r.skipped).length : 0;
  if (busy) parts.push(`${busy}…`);
  else if (err) parts.push("last action failed");
  else if (check) parts.push(check.ok ? "checks pass" : `${failing} check${failing === 1 ? " fails" : "s fail"}`);
  parts.push(h.uniqueName, role);
  if (h.pid !== null) parts.push(`pid ${h.pid}`);
  const tip = [
    `Id: ${h.id !== null ? JSON.stringify(h.id) : `missing (${h.idError ?? "no Id property"})`}`,
    `Unique name: ${h.uniqueName} (${h.primary ? "primary owner" : `queued for ${VMSTATE_NAME}, position ${h.position}`})`,
    `PID: ${h.pid ?? `unknown${h.pidError ? ` (${h.pidError})` : ""}`}`,
  ];
  if (h.cmdline) tip.push(`Command line: ${clip(h.cmdline, 300)}`);
  if (err) tip.push(`Last error: ${err}`);
  return {
    kind: "helper",
    id: `helper:${c.address}:${h.uniqueName}`,
    address: c.address,
    helper: h,
    label: h.id !== null ? h.id : "(no Id)",
    description: parts.join(" · "),
    tooltip: tip.join("\n"),
    icon: busy
      ? "helper-busy"
      : err || h.id === null
        ? "helper-fail"
        : check
          ? check.ok
            ? "helper-pass"
            : "helper-fail"
          : "helper",
  };
}

function helperDetails(c: BusConnection, node: HelperNode): TreeNode[] {
  const h = node.helper;
  const id = (k: string) => `${node.id}/${k}`;
  const out: InfoNode[] = [];
  const err = c.errors.get(h.uniqueName);
  if (err) out.push({ kind: "info", id: id("error"), label: "Error", description: err, tooltip: err, icon: "error" });
  if (h.id === null)
    out.push({
      kind: "info",
      id: id("iderror"),
      label: "Id",
      description: h.idError ?? "missing",
      tooltip: h.idError,
      icon: "warning",
    });
  out.push({ kind: "info", id: id("unique"), label: "Unique name", description: h.uniqueName, icon: "detail" });
  out.push({
    kind: "info",
    id: id("role"),
    label: "Role",
    description: h.primary ? "primary owner" : `queued (position ${h.position})`,
    icon: "detail",
  });
  out.push({
    kind: "info",
    id: id("pid"),
    label: "PID",
    description: h.pid !== null ? String(h.pid) : (h.pidError ?? "unknown"),
    icon: "detail",
  });
  if (h.cmdline)
    out.push({
      kind: "info",
      id: id("cmdline"),
      label: "Command line",
      description: clip(h.cmdline, 500),
      tooltip: clip(h.cmdline, 2000),
      icon: "detail",
    });
  const save = c.saves.get(h.uniqueName);
  if (save)
    out.push({
      kind: "info",
      id: id("save"),
      label: "Last Save",
      description: `${formatSize(save.size)} in ${Math.round(save.ms)} ms`,
      icon: "detail",
    });
  const check = c.checks.get(h.uniqueName);
  if (check) {
    // failing rules first: they are what a helper author came to see
    const rank = (r: (typeof check.rules)[number]) => (!r.ok && !r.skipped ? 0 : r.skipped ? 2 : 1);
    for (const r of [...check.rules].sort((a, b) => rank(a) - rank(b))) {
      out.push({
        kind: "info",
        id: id(`rule-${r.rule}`),
        label: RULE_TITLES[r.rule],
        description: r.message,
        tooltip: r.message,
        icon: r.ok ? "pass" : r.skipped ? "skip" : "fail",
      });
    }
  }
  return out;
}

/** At most `max` characters, "…" and the count of the rest after a cut (a command line can carry a whole payload). */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

export function newConnection(address: string, label?: string): BusConnection {
  return {
    address,
    ...(label ? { label } : {}),
    status: "connecting",
    busy: new Map(),
    checks: new Map(),
    saves: new Map(),
    errors: new Map(),
  };
}

/** Most recent first, no duplicates, at most `max`. */
export function remember(recent: readonly string[], address: string, max = 8): string[] {
  return [address, ...recent.filter((a) => a !== address)].slice(0, max);
}
