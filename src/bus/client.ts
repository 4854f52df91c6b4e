// A client for org.qemu.VMState1 helpers on one D-Bus bus, as QEMU's dbus-vmstate object sees them
// (backends/dbus-vmstate.c, util/dbus.c). No vscode here: the CLI and the tree share it.
// It calls only org.freedesktop.DBus (Hello, AddMatch, ListQueuedOwners, GetConnectionUnixProcessID),
// org.freedesktop.DBus.Properties.GetAll on /org/qemu/VMState1, and org.qemu.VMState1.Save/Load,
// always with NO_AUTO_START like QEMU's G_DBUS_CALL_FLAGS_NO_AUTO_START, and always by unique name.
import * as dbus from "dbus-next";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { type BusAddress, isLocalAddress, parseBusAddress, toDbusNextAddress, AddressError } from "./address";
import { BusError, errorMessage } from "./errors";
import { type RuleResult, checkId, checkSave, DEFAULT_SLOW_SAVE_MS, formatSize } from "./rules";
import { exactCopy } from "../format/bytes";

export const VMSTATE_NAME = "org.qemu.VMState1";
export const VMSTATE_PATH = "/org/qemu/VMState1";
export const VMSTATE_IFACE = "org.qemu.VMState1";
/** GDBus's default method-call timeout, which QEMU uses for Save and Load (timeout -1). */
export const DEFAULT_CALL_TIMEOUT_MS = 25_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_QUERY_TIMEOUT_MS = 5_000;
// dbus-specification "Message Format": header flag 0x2. dbus-next's typings give the enum wrong values.
const NO_AUTO_START = 2 as dbus.MessageFlag;
const BUS = { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus" };
const UNIQUE_NAME = /^:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;

export const NO_HELPERS_HINT =
  `No connection owns ${VMSTATE_NAME} on this bus. A helper exports ${VMSTATE_PATH} (interface ${VMSTATE_IFACE}, property Id) ` +
  `and calls RequestName("${VMSTATE_NAME}") without DO_NOT_QUEUE, so that several helpers queue for the name; ` +
  `QEMU's -object dbus-vmstate,addr=... must point at the same bus.`;

/** An owner of org.qemu.VMState1 on a bus (a helper entry decoded from a stream is format's HelperInfo). */
export interface BusHelper {
  uniqueName: string;
  /** The Id property, or null when it is missing or unreadable (then idError says why). */
  id: string | null;
  idError?: string;
  pid: number | null;
  pidError?: string;
  /** /proc/PID/cmdline of a process on this machine, arguments joined by spaces. */
  cmdline: string | null;
  /** The primary owner of org.qemu.VMState1 (the first in ListQueuedOwners), else queued. */
  primary: boolean;
  /** Position in the queue of owners, 0 = primary. */
  position: number;
}

export interface SaveResult {
  bytes: Uint8Array;
  ms: number;
}

export interface HelperCheck {
  helper: BusHelper;
  save?: { size: number; ms: number };
  rules: RuleResult[];
  ok: boolean;
}

export interface CheckReport {
  address: string;
  helpers: HelperCheck[];
  ok: boolean;
  /** Set when there is no helper at all. */
  hint?: string;
}

export interface ClientOptions {
  connectTimeoutMs?: number;
  /** Timeout of bus queries (ListQueuedOwners, GetAll, PID). */
  queryTimeoutMs?: number;
  /** Reads a local process's command line; defaults to /proc/PID/cmdline. */
  readCmdline?: (pid: number) => string | null;
}

export interface CallOptions {
  /** Milliseconds; 0 or less waits forever. Default 25 s like GDBus. */
  timeoutMs?: number;
}

export interface CheckOptions extends CallOptions {
  slowMs?: number;
}

/** The client's link to the bus (the explorer's per-bus record is BusConnection in busTreeModel). */
export type ClientState = "disconnected" | "connecting" | "connected";

type PrivateBus = dbus.MessageBus & {
  name: string | null;
  _connection?: EventEmitter & { stream?: EventEmitter };
  _methodReturnHandlers?: Record<number, unknown>;
};

interface Pending {
  reject(e: BusError): void;
}

export function readProcCmdline(pid: number): string | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`);
    const args = raw.toString("utf8").split("\0");
    if (args.length && args[args.length - 1] === "") args.pop();
    if (!args.length) return null;
    return args.map((a) => (/^[-\w./=:,@+%]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
  } catch {
    return null;
  }
}

/**
 * Events: 'ownersChanged' (owners: string[]) when helpers come or go; 'close' ({ reason, expected })
 * when the connection ends; 'error' (BusError) for connection errors after connect, emitted only
 * when someone listens (an unhandled 'error' would kill the host).
 */
export class VmStateBusClient extends EventEmitter {
  private bus: PrivateBus | undefined;
  private addr: BusAddress | undefined;
  private _state: ClientState = "disconnected";
  private readonly pending = new Set<Pending>();
  private closing = false;
  private watching = false;
  private lastOwners: string[] | undefined;
  private recheckTimers = new Set<NodeJS.Timeout>();
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly opts: Required<ClientOptions>;

  constructor(opts: ClientOptions = {}) {
    super();
    this.opts = {
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
      readCmdline: opts.readCmdline ?? readProcCmdline,
    };
  }

  get state(): ClientState {
    return this._state;
  }
  /** The address as the user typed it (the entry that connected). */
  get address(): string | undefined {
    return this.addr?.text;
  }
  /** Our own unique name on the bus. */
  get uniqueName(): string | null {
    return this.bus?.name ?? null;
  }

  /** Connects to the first address of the list that answers. Throws BusError('address' | 'connect'). */
  async connect(addressText: string): Promise<void> {
    if (this._state !== "disconnected") throw new BusError("usage", "already connected; disconnect first");
    let addrs: BusAddress[];
    try {
      addrs = parseBusAddress(addressText);
    } catch (e) {
      throw new BusError("address", e instanceof AddressError ? e.message : errorMessage(e));
    }
    this._state = "connecting";
    let last: unknown;
    for (const a of addrs) {
      try {
        this.bus = await this.open(a);
        this.addr = a;
        this._state = "connected";
        this.closing = false;
        return;
      } catch (e) {
        last = e;
      }
    }
    this._state = "disconnected";
    throw last instanceof BusError ? last : new BusError("connect", errorMessage(last));
  }

  /** The session bus of this process's environment: only when the user asks for it. */
  async connectSession(env: NodeJS.ProcessEnv = process.env): Promise<void> {
    const a = env.DBUS_SESSION_BUS_ADDRESS;
    if (!a) throw new BusError("connect", "there is no session bus here: DBUS_SESSION_BUS_ADDRESS is not set");
    await this.connect(a);
  }

  private open(a: BusAddress): Promise<PrivateBus> {
    return new Promise<PrivateBus>((resolve, reject) => {
      let settled = false;
      let bus: PrivateBus;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        closeStream(bus, true);
        reject(new BusError("connect", `cannot connect to ${a.text}: ${describeConnectError(e)}`));
      };
      const timer = setTimeout(
        () =>
          fail(new Error(`no answer within ${this.opts.connectTimeoutMs} ms (is a D-Bus bus daemon listening there?)`)),
        this.opts.connectTimeoutMs,
      );
      try {
        bus = dbus.sessionBus({ busAddress: toDbusNextAddress(a) }) as PrivateBus;
      } catch (e) {
        fail(e);
        return;
      }
      // Always listening: dbus-next emits 'error' on the bus, and an unheard 'error' kills the process.
      bus.on("error", (e: unknown) => {
        if (!settled) fail(e);
        else if (bus === this.bus) this.onConnectionError(e);
      });
      const conn = bus._connection;
      const onGone = () => {
        if (!settled)
          fail(new Error("the other side closed the connection during the handshake (is this a D-Bus bus daemon?)"));
        else if (bus === this.bus) this.onClosed();
      };
      conn?.on("end", onGone);
      conn?.stream?.on("close", onGone);
      bus.once("connect", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(bus);
      });
    });
  }

  private onConnectionError(e: unknown): void {
    if (this.listenerCount("error"))
      this.emit("error", new BusError("closed", `bus connection error: ${describeConnectError(e)}`));
  }

  private onClosed(): void {
    if (this._state === "disconnected") return;
    const expected = this.closing;
    const where = this.addr?.text ?? "the bus";
    this.teardown(
      expected
        ? `disconnected from ${where}`
        : `the connection to ${where} was closed (the bus daemon stopped or dropped us)`,
    );
    this.emit("close", { reason: expected ? "disconnected" : `the connection to ${where} was closed`, expected });
  }

  private teardown(reason: string): void {
    this._state = "disconnected";
    for (const p of [...this.pending]) p.reject(new BusError("closed", reason));
    this.pending.clear();
    for (const t of this.recheckTimers) clearTimeout(t);
    this.recheckTimers.clear();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.watching = false;
    this.lastOwners = undefined;
    this.bus = undefined;
  }

  disconnect(): void {
    const bus = this.bus;
    if (!bus) {
      this._state = "disconnected";
      return;
    }
    this.closing = true;
    closeStream(bus, false);
    // 'end'/'close' will follow; settle callers now rather than when the socket says so.
    this.teardown(`disconnected from ${this.addr?.text ?? "the bus"}`);
    this.emit("close", { reason: "disconnected", expected: true });
  }

  /** One method call with NO_AUTO_START and a timeout; maps every failure to a BusError. */
  private call(m: dbus.MessageLike, what: string, timeoutMs: number): Promise<dbus.Message> {
    const bus = this.bus;
    if (!bus || this._state !== "connected")
      return Promise.reject(new BusError("closed", `${what}: not connected to a bus`));
    const msg = new dbus.Message({ ...m, flags: NO_AUTO_START });
    return new Promise<dbus.Message>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const entry: Pending = {
        reject: (e) => {
          finish();
          reject(e);
        },
      };
      const finish = () => {
        if (timer) clearTimeout(timer);
        this.pending.delete(entry);
      };
      this.pending.add(entry);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          finish();
          // forget the reply handler so a late answer is dropped, not leaked
          if (msg.serial !== null) delete bus._methodReturnHandlers?.[msg.serial];
          reject(new BusError("timeout", `${what}: no reply within ${formatMs(timeoutMs)}`));
        }, timeoutMs);
      }
      bus.call(msg).then(
        (reply) => {
          if (!this.pending.has(entry)) return;
          finish();
          if (!reply) reject(new BusError("wrong-type", `${what}: no reply`));
          else resolve(reply);
        },
        (e: unknown) => {
          if (!this.pending.has(entry)) return;
          finish();
          reject(mapCallError(e, what));
        },
      );
    });
  }

  private busCall(member: string, signature: string, body: unknown[], what = `${member}`): Promise<dbus.Message> {
    return this.call({ ...BUS, member, signature, body }, what, this.opts.queryTimeoutMs);
  }

  /** Unique names queued for org.qemu.VMState1, primary owner first; [] when nobody owns it. */
  async listOwners(): Promise<string[]> {
    try {
      const r = await this.busCall("ListQueuedOwners", "s", [VMSTATE_NAME], `ListQueuedOwners("${VMSTATE_NAME}")`);
      if (r.signature !== "as")
        throw new BusError("wrong-type", `ListQueuedOwners replied with '${r.signature}', expected 'as'`);
      return (r.body[0] as string[]).slice();
    } catch (e) {
      // util/dbus.c qemu_dbus_get_queued_owners: NameHasNoOwner means "no helpers"
      if (e instanceof BusError && e.dbusName === "org.freedesktop.DBus.Error.NameHasNoOwner") return [];
      throw e;
    }
  }

  async listHelpers(): Promise<BusHelper[]> {
    const owners = await this.listOwners();
    return Promise.all(owners.map((u, i) => this.describe(u, i)));
  }

  private async describe(uniqueName: string, position: number): Promise<BusHelper> {
    const info: BusHelper = { uniqueName, id: null, pid: null, cmdline: null, primary: position === 0, position };
    const [props, pid] = await Promise.allSettled([this.readId(uniqueName), this.readPid(uniqueName)]);
    if (props.status === "fulfilled") {
      if (typeof props.value === "string") info.id = props.value;
      else info.idError = props.value.error;
    } else info.idError = `cannot read the Id property: ${errorMessage(props.reason)}`;
    if (pid.status === "fulfilled") {
      info.pid = pid.value;
      if (this.addr && isLocalAddress(this.addr)) info.cmdline = this.opts.readCmdline(pid.value);
    } else info.pidError = errorMessage(pid.reason);
    return info;
  }

  /** The Id property the way QEMU's GDBusProxy caches it: GetAll, then look for "Id" of type s. */
  private async readId(uniqueName: string): Promise<string | { error: string }> {
    const r = await this.call(
      {
        destination: uniqueName,
        path: VMSTATE_PATH,
        interface: "org.freedesktop.DBus.Properties",
        member: "GetAll",
        signature: "s",
        body: [VMSTATE_IFACE],
      },
      `GetAll("${VMSTATE_IFACE}") on ${uniqueName}`,
      this.opts.queryTimeoutMs,
    );
    if (r.signature !== "a{sv}") return { error: `GetAll replied with '${r.signature}', expected 'a{sv}'` };
    const props = r.body[0] as Record<string, dbus.Variant>;
    const v = props.Id;
    if (!v) return { error: "VMState Id property is missing." };
    if (v.signature !== "s") return { error: `the Id property has type '${v.signature}', expected 's'` };
    return v.value as string;
  }

  private async readPid(uniqueName: string): Promise<number> {
    const r = await this.busCall("GetConnectionUnixProcessID", "s", [uniqueName]);
    if (r.signature !== "u")
      throw new BusError("wrong-type", `GetConnectionUnixProcessID replied with '${r.signature}'`);
    return r.body[0] as number;
  }

  private checkUnique(uniqueName: string): void {
    if (!UNIQUE_NAME.test(uniqueName))
      throw new BusError(
        "usage",
        `"${uniqueName}" is not a unique connection name (such as :1.42); helpers are called by unique name only`,
      );
  }

  /** org.qemu.VMState1.Save on one helper. */
  async save(uniqueName: string, opts: CallOptions = {}): Promise<SaveResult> {
    this.checkUnique(uniqueName);
    const what = `Save on ${uniqueName}`;
    const t0 = performance.now();
    const r = await this.call(
      { destination: uniqueName, path: VMSTATE_PATH, interface: VMSTATE_IFACE, member: "Save" },
      what,
      opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
    );
    const ms = performance.now() - t0;
    if (r.signature !== "ay")
      throw new BusError("wrong-type", `${what}: the reply has signature '${r.signature || "(empty)"}', expected 'ay'`);
    const b = r.body[0] as Buffer;
    return { bytes: new Uint8Array(exactCopy(b)), ms };
  }

  /** org.qemu.VMState1.Load(ay) on one helper. */
  async load(uniqueName: string, bytes: Uint8Array, opts: CallOptions = {}): Promise<{ ms: number }> {
    this.checkUnique(uniqueName);
    const t0 = performance.now();
    await this.call(
      {
        destination: uniqueName,
        path: VMSTATE_PATH,
        interface: VMSTATE_IFACE,
        member: "Load",
        signature: "ay",
        body: [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
      },
      `Load of ${formatSize(bytes.length)} on ${uniqueName}`,
      opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
    );
    return { ms: performance.now() - t0 };
  }

  /** Every rule for every helper; Saves run one after the other, like QEMU's pre_save. */
  async check(opts: CheckOptions = {}): Promise<CheckReport> {
    const helpers = await this.listHelpers();
    const out: HelperCheck[] = [];
    for (const h of helpers) {
      const rules = checkId(h, helpers);
      let save: HelperCheck["save"];
      try {
        const r = await this.save(h.uniqueName, opts);
        save = { size: r.bytes.length, ms: r.ms };
        rules.push(...checkSave({ ok: true, ...save }, opts.slowMs ?? DEFAULT_SLOW_SAVE_MS));
      } catch (e) {
        if (e instanceof BusError && e.kind === "closed") throw e;
        rules.push(...checkSave({ ok: false, error: errorMessage(e) }));
      }
      out.push({ helper: h, ...(save ? { save } : {}), rules, ok: rules.every((r) => r.ok) });
    }
    return {
      address: this.addr?.text ?? "",
      helpers: out,
      ok: out.every((h) => h.ok),
      ...(out.length ? {} : { hint: NO_HELPERS_HINT }),
    };
  }

  /**
   * Emits 'ownersChanged' when the queue of owners changes. NameOwnerChanged only reports the
   * primary owner of a well-known name, so a helper joining the queue is caught by re-listing shortly
   * after any new connection appears, and a queued helper leaving by its unique name going away.
   * pollMs > 0 adds a periodic re-list as a safety net.
   */
  async watch(pollMs = 0): Promise<void> {
    const bus = this.bus;
    if (!bus || this.watching) return;
    this.watching = true;
    this.lastOwners = await this.listOwners();
    await this.busCall("AddMatch", "s", [
      "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged'",
    ]);
    bus.on("message", (msg: dbus.Message) => {
      if (
        bus !== this.bus ||
        msg.type !== dbus.MessageType.SIGNAL ||
        msg.member !== "NameOwnerChanged" ||
        msg.interface !== BUS.interface
      )
        return;
      if (msg.sender !== "org.freedesktop.DBus") return; // only the daemon's own signal counts
      const [name, oldOwner, newOwner] = msg.body as [string, string, string];
      if (name === VMSTATE_NAME || (oldOwner && this.lastOwners?.includes(name))) this.recheck([0]);
      else if (name.startsWith(":") && !oldOwner && newOwner) this.recheck([300, 1500]); // may queue soon
    });
    if (pollMs > 0) this.pollTimer = setInterval(() => this.recheck([0]), pollMs);
  }

  private recheck(delays: number[]): void {
    for (const d of delays) {
      const t = setTimeout(() => {
        this.recheckTimers.delete(t);
        if (this._state !== "connected") return;
        this.listOwners().then(
          (owners) => {
            const before = this.lastOwners ?? [];
            this.lastOwners = owners;
            if (owners.length !== before.length || owners.some((o, i) => o !== before[i]))
              this.emit("ownersChanged", owners);
          },
          () => {
            /* the connection is going away; 'close' tells */
          },
        );
      }, d);
      this.recheckTimers.add(t);
    }
  }
}

/** Ends the socket; a peer that never answers the FIN must not keep it (and the process) alive. */
function closeStream(bus: PrivateBus | undefined, now: boolean): void {
  const stream = bus?._connection?.stream as (EventEmitter & { destroy?(): void }) | undefined;
  try {
    bus?.disconnect();
  } catch {
    /* already closed */
  }
  if (!stream?.destroy) return;
  if (now) stream.destroy();
  else setTimeout(() => stream.destroy?.(), 1000).unref();
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : `${ms} ms`;
}

function describeConnectError(e: unknown): string {
  const code = (e as { code?: string } | null)?.code;
  switch (code) {
    case "ENOENT":
      return "no such socket (ENOENT); is the bus daemon running, and is the path right?";
    case "ECONNREFUSED":
      return "connection refused (ECONNREFUSED); nothing listens there";
    case "EACCES":
      return "permission denied (EACCES) on the socket";
    case "ENOTSOCK":
      return "the path is not a socket (ENOTSOCK)";
    case "ENOTFOUND":
      return "unknown host (ENOTFOUND)";
    default: {
      const m = errorMessage(e);
      if (/usocket/.test(m))
        return "this address needs dbus-next's native usocket module, which is not available here; use unix:path=";
      return m;
    }
  }
}

const VANISHED = new Set([
  "org.freedesktop.DBus.Error.NoReply",
  "org.freedesktop.DBus.Error.ServiceUnknown",
  "org.freedesktop.DBus.Error.NameHasNoOwner",
]);

function mapCallError(e: unknown, what: string): BusError {
  if (e instanceof BusError) return e;
  if (e instanceof dbus.DBusError) {
    const name = e.type;
    const text = e.text ?? "";
    if (VANISHED.has(name) && !(name === "org.freedesktop.DBus.Error.NoReply" && !/disconnect/i.test(text))) {
      const why =
        name === "org.freedesktop.DBus.Error.NoReply"
          ? "the helper left the bus without replying"
          : "the helper is no longer on the bus";
      return new BusError("vanished", `${what}: ${why} (${name}: ${text})`, name);
    }
    return new BusError("dbus", `${what}: ${name}: ${text}`, name);
  }
  if (/closed stream|stream is closed/i.test(errorMessage(e)))
    return new BusError("closed", `${what}: the bus connection is closed`);
  return new BusError("dbus", `${what}: ${errorMessage(e)}`);
}
