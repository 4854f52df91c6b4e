// What a running QEMU tells us over QMP about itself, for `vmstate qmp info` and the QEMU view:
// name, version, machine type, run state, migration capabilities/status, and its dbus-vmstate
// objects (from QOM: the children of /objects whose type is child<dbus-vmstate>, with their
// `addr` = the D-Bus address their helpers live on, and `id-list`).
import { QmpCommandError, type QmpClient } from "./client";

export interface RunState {
  status: string;
  running: boolean;
}

export interface MigrateCapability {
  capability: string;
  state: boolean;
}

/** query-migrate's answer (only the fields we use; QEMU adds more over versions). */
export interface MigrateInfo {
  status?: string;
  "error-desc"?: string;
  "total-time"?: number;
  ram?: { transferred?: number; remaining?: number; total?: number; mbps?: number; "dirty-sync-count"?: number };
  "socket-address"?: Array<{ type: string; host?: string; port?: string; path?: string }>;
}

export interface DbusVmstateObject {
  /** The QOM id (-object dbus-vmstate,id=ID). */
  id: string;
  /** The D-Bus address of the helpers' bus (its `addr` property). */
  addr: string | undefined;
  /** Its `id-list` property ("" or absent = every helper on the bus). */
  idList: string | undefined;
}

export interface VmInfo {
  name: string | undefined;
  version: string;
  versionTriple: [number, number, number];
  package: string;
  arch: string | undefined;
  /** e.g. "pc-q35-7.2", from QOM's /machine type ("pc-q35-7.2-machine"). */
  machine: string | undefined;
  /** query-machines' alias for it, e.g. "q35". */
  machineAlias: string | undefined;
  runState: RunState;
  migration: MigrateInfo;
  capabilities: MigrateCapability[];
  dbusVmstate: DbusVmstateObject[];
  /** Problems met while asking (a command this QEMU lacks, ...): shown, never hidden. */
  warnings: string[];
}

async function optional<T>(warnings: string[], what: string, p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof QmpCommandError) {
      warnings.push(`${what}: ${e.desc}`);
      return undefined;
    }
    throw e;
  }
}

export async function queryRunState(client: QmpClient): Promise<RunState> {
  const s = await client.execute<{ status: string; running: boolean }>("query-status");
  return { status: s.status, running: s.running };
}

export async function queryVmInfo(client: QmpClient): Promise<VmInfo> {
  const warnings: string[] = [];
  const q = client.version.qemu;
  const [name, target, machineType, runState, migration, capabilities, objects] = await Promise.all([
    optional(warnings, "query-name", client.execute<{ name?: string }>("query-name")),
    optional(warnings, "query-target", client.execute<{ arch: string }>("query-target")),
    optional(
      warnings,
      "qom-get /machine type",
      client.execute<string>("qom-get", { path: "/machine", property: "type" }),
    ),
    queryRunState(client),
    client.execute<MigrateInfo>("query-migrate"),
    client.execute<MigrateCapability[]>("query-migrate-capabilities"),
    optional(
      warnings,
      "qom-list /objects",
      client.execute<Array<{ name: string; type: string }>>("qom-list", { path: "/objects" }),
    ),
  ]);
  const machine = machineType?.replace(/-machine$/, "");
  let machineAlias: string | undefined;
  if (machine) {
    const machines = await optional(
      warnings,
      "query-machines",
      client.execute<Array<{ name: string; alias?: string }>>("query-machines"),
    );
    machineAlias = machines?.find((m) => m.name === machine)?.alias;
  }
  const dbusVmstate: DbusVmstateObject[] = [];
  for (const o of objects ?? []) {
    if (o.type !== "child<dbus-vmstate>") continue;
    const path = `/objects/${o.name}`;
    const addr = await optional(
      warnings,
      `qom-get ${path} addr`,
      client.execute<string>("qom-get", { path, property: "addr" }),
    );
    const idList = await optional(
      warnings,
      `qom-get ${path} id-list`,
      client.execute<string>("qom-get", { path, property: "id-list" }),
    );
    dbusVmstate.push({ id: o.name, addr: addr ?? undefined, idList: idList ?? undefined });
  }
  return {
    name: name?.name,
    version: `${q.major}.${q.minor}.${q.micro}`,
    versionTriple: [q.major, q.minor, q.micro],
    package: client.version.package.trim(),
    arch: target?.arch,
    machine,
    machineAlias,
    runState,
    migration,
    capabilities,
    dbusVmstate,
    warnings,
  };
}

/** True when QEMU has this migration capability (query-migrate-capabilities lists it). */
export function hasCapability(info: Pick<VmInfo, "capabilities">, cap: string): boolean {
  return info.capabilities.some((c) => c.capability === cap);
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return "?";
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** Human text for `vmstate qmp info` (the view shows the same facts as tree items). */
export function formatVmInfo(info: VmInfo, address: string): string {
  const l: string[] = [];
  l.push(`QMP ${address}`);
  l.push(`  name         ${info.name ?? "(none: no -name)"}`);
  l.push(
    `  QEMU         ${info.version}${info.package ? ` (${info.package})` : ""}${info.arch ? `, ${info.arch}` : ""}`,
  );
  l.push(`  machine      ${info.machine ?? "(unknown)"}${info.machineAlias ? ` (${info.machineAlias})` : ""}`);
  l.push(`  run state    ${info.runState.status}${info.runState.running ? " (running)" : ""}`);
  const m = info.migration;
  l.push(
    `  migration    ${m.status ?? "none yet"}${m["error-desc"] ? `: ${m["error-desc"]}` : ""}${m.ram?.transferred !== undefined ? `, ${formatBytes(m.ram.transferred)} transferred` : ""}`,
  );
  const on = info.capabilities.filter((c) => c.state).map((c) => c.capability);
  l.push(
    `  capabilities ${on.length ? `on: ${on.join(", ")}` : "none on"}; available: ${info.capabilities.map((c) => c.capability).join(", ")}`,
  );
  if (info.dbusVmstate.length) {
    l.push(`  dbus-vmstate objects:`);
    for (const o of info.dbusVmstate)
      l.push(`    ${o.id.padEnd(12)} addr ${o.addr ?? "?"}${o.idList ? `  id-list ${o.idList}` : ""}`);
  } else l.push(`  dbus-vmstate objects: none`);
  for (const w of info.warnings) l.push(`  warning: ${w}`);
  return l.join("\n") + "\n";
}
