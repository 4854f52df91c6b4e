// The QEMU view's tree as plain data (no vscode import): one root per QMP address (from the
// setting qemuVmstate.qmp.addresses or added by the user), and, when connected, the VM's facts
// and its dbus-vmstate objects. qemuView.ts turns these nodes into TreeItems.
import { formatBytes, type VmInfo } from "../qmp/vm";

export type QemuStatus = "idle" | "connecting" | "connected" | "lost";

export interface QemuConnState {
  address: string;
  status: QemuStatus;
  info?: VmInfo;
  /** Why the last connect failed or the connection ended. */
  error?: string;
  /** A capture or load in progress ("capturing 40%", "loading"). */
  busy?: string;
}

export interface QemuNode {
  id: string;
  kind: "qemu" | "fact" | "capabilities" | "capability" | "dbus-vmstate" | "warning";
  label: string;
  description?: string;
  tooltip?: string;
  icon: string;
  /** theme color id for the icon */
  color?: string;
  address: string;
  collapsible?: "expanded" | "collapsed";
  /** contextValue suffix, e.g. "connected" -> qemuVmstate.qmp.connected */
  context: string;
  /** For dbus-vmstate nodes: the D-Bus address of its helpers. */
  busAddress?: string;
  command?: { command: string; args: unknown[]; title: string };
}

/** A socket path short enough for the side bar: ".../dir/name.sock" (the tooltip has it all). */
export function shortAddress(a: string): string {
  if (a.length <= 32 || a.startsWith("tcp:")) return a;
  const parts = a.split("/");
  return parts.length > 2 ? `.../${parts.slice(-2).join("/")}` : a;
}

export function rootNode(s: QemuConnState): QemuNode {
  const info = s.info;
  const label = s.status === "connected" && info?.name ? info.name : shortAddress(s.address);
  let description: string;
  let icon = "vm";
  let color: string | undefined;
  switch (s.status) {
    case "connected":
      description = `${info?.runState.status ?? "?"} · QEMU ${info?.version ?? "?"}${s.busy ? ` · ${s.busy}` : ""}${info?.name ? ` · ${shortAddress(s.address)}` : ""}`;
      icon = info?.runState.running ? "vm-running" : "vm-outline";
      color = info?.runState.running ? "testing.iconPassed" : undefined;
      break;
    case "connecting":
      description = "connecting...";
      icon = "loading~spin";
      break;
    case "lost":
      description = `disconnected: ${s.error ?? "QEMU went away"}`;
      icon = "debug-disconnect";
      color = "errorForeground";
      break;
    default:
      description = s.error ? `failed: ${s.error}` : "not connected";
      color = s.error ? "errorForeground" : undefined;
  }
  return {
    // a new id once connected: VS Code keeps an item's first collapsible state per id, and the
    // idle item is not expandable
    id: `qemu:${s.status === "connected" ? "connected:" : ""}${s.address}`,
    kind: "qemu",
    label,
    description,
    tooltip: `${info?.name ? `${info.name}\n` : ""}QMP ${s.address}${s.error ? `\n${s.error}` : ""}`,
    icon,
    color,
    address: s.address,
    collapsible: s.status === "connected" ? "expanded" : undefined,
    context: s.status,
    command:
      s.status === "idle" || s.status === "lost"
        ? { command: "qemuVmstate.qmp.connectAddress", args: [s.address], title: "Connect" }
        : undefined,
  };
}

export function childNodes(s: QemuConnState, parent: QemuNode): QemuNode[] {
  const info = s.info;
  if (!info || s.status !== "connected") return [];
  const a = s.address;
  const id = (x: string) => `${parent.id}/${x}`;
  if (parent.kind === "capabilities") {
    return info.capabilities.map((c) => ({
      id: id(c.capability),
      kind: "capability" as const,
      label: c.capability,
      description: c.state ? "on" : "off",
      icon: c.state ? "pass-filled" : "circle-large-outline",
      address: a,
      context: "capability",
    }));
  }
  if (parent.kind !== "qemu") return [];
  const m = info.migration;
  const on = info.capabilities.filter((c) => c.state).map((c) => c.capability);
  const capture = ["background-snapshot", "mapped-ram"].filter((c) =>
    info.capabilities.some((x) => x.capability === c),
  );
  const out: QemuNode[] = [
    {
      id: id("version"),
      kind: "fact",
      label: "QEMU",
      description: `${info.version}${info.package ? ` (${info.package})` : ""}`,
      icon: "versions",
      address: a,
      context: "fact",
    },
    {
      id: id("machine"),
      kind: "fact",
      label: "Machine",
      description: `${info.machine ?? "?"}${info.machineAlias ? ` (${info.machineAlias})` : ""}${info.arch ? `, ${info.arch}` : ""}`,
      icon: "server",
      address: a,
      context: "fact",
    },
    {
      id: id("run"),
      kind: "fact",
      label: "Run state",
      description: info.runState.status,
      icon: info.runState.running ? "play-circle" : "debug-pause",
      address: a,
      context: "fact",
    },
    {
      id: id("migration"),
      kind: "fact",
      label: "Migration",
      description: `${m.status ?? "none yet"}${m.ram?.transferred !== undefined ? `, ${formatBytes(m.ram.transferred)} sent` : ""}${m["error-desc"] ? `: ${m["error-desc"]}` : ""}`,
      tooltip: m["error-desc"],
      icon: m.status === "failed" ? "error" : "arrow-swap",
      color: m.status === "failed" ? "errorForeground" : undefined,
      address: a,
      context: "fact",
    },
    {
      id: id("capabilities"),
      kind: "capabilities",
      label: "Migration capabilities",
      description: `${on.length ? `on: ${on.join(", ")}` : "none on"}${capture.length ? ` · has ${capture.join(", ")}` : ""}`,
      icon: "settings",
      address: a,
      collapsible: "collapsed",
      context: "capabilities",
    },
  ];
  if (!info.dbusVmstate.length)
    out.push({
      id: id("no-dbus"),
      kind: "fact",
      label: "dbus-vmstate",
      description: "none (no -object dbus-vmstate)",
      icon: "circle-slash",
      address: a,
      context: "fact",
    });
  for (const o of info.dbusVmstate) {
    out.push({
      id: id(`dbus:${o.id}`),
      kind: "dbus-vmstate",
      label: `dbus-vmstate ${o.id}`,
      description: o.addr ?? "(no addr)",
      tooltip: `QOM /objects/${o.id}\naddr ${o.addr ?? "?"}${o.idList ? `\nid-list ${o.idList}` : ""}\nClick to show its helpers in the D-Bus helpers view`,
      icon: "server-process",
      address: a,
      busAddress: o.addr,
      context: "dbusVmstate",
      command: o.addr ? { command: "qemuVmstate.qmp.showHelpers", args: [o.addr], title: "Show Helpers" } : undefined,
    });
  }
  for (const [i, w] of info.warnings.entries())
    out.push({
      id: id(`w${i}`),
      kind: "warning",
      label: "warning",
      description: w,
      tooltip: w,
      icon: "warning",
      color: "problemsWarningIcon.foreground",
      address: a,
      context: "fact",
    });
  return out;
}
