// A small QMP (QEMU Machine Protocol) client: one socket (unix path or tcp host:port), the
// greeting, qmp_capabilities negotiation, commands with ids, asynchronous events, and errors that
// carry QEMU's own `class` and `desc`. No vscode imports: the CLI and the extension share it.
//
// Why ours and not an npm package: the one maintained-looking package, `qemu-qmp` (0.5.0), is
// callback-based, depends on `split@*` (an unpinned wildcard), and leaves the greeting, ids and
// the "socket is not QMP" / "QEMU went away" cases to the caller; the protocol is ~150 lines.
//
// Protocol (qemu/docs/interop/qmp-spec.rst): the server sends one JSON object per line
// ("\r\n"-terminated). First a greeting {"QMP": {"version": ..., "capabilities": [...]}}; the
// client must send {"execute": "qmp_capabilities"} before any other command. Replies are
// {"return": X, "id": ID} or {"error": {"class": C, "desc": D}, "id": ID}; events are
// {"event": NAME, "data": ..., "timestamp": {...}} and may arrive between replies.
import { EventEmitter } from "node:events";
import * as net from "node:net";
import { formatQmpAddress, parseQmpAddress, type QmpAddress } from "./address";

/** QEMU answered a command with an error object. `desc` is QEMU's own text. */
export class QmpCommandError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${command}: ${desc}`);
    this.name = "QmpCommandError";
  }
}

/** The connection failed, the peer is not QMP, or it went away. */
export class QmpConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QmpConnectionError";
  }
}

export interface QmpVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpConnectOptions {
  /** Connect + greeting + negotiation must finish within this (default 5000 ms). */
  timeoutMs?: number;
  /** Each command must be answered within this (default 30000 ms; 0 = no limit). */
  commandTimeoutMs?: number;
}

/** The longest line we accept from the peer; query-qmp-schema is ~200 KB, so this is generous. */
export const MAX_LINE = 32 << 20;

interface Pending {
  command: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

export class QmpClient {
  private readonly events = new EventEmitter();
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private closedError: QmpConnectionError | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly address: QmpAddress,
    readonly version: QmpVersion,
    /** Capabilities the server offered in its greeting (e.g. "oob"). */
    readonly serverCapabilities: string[],
    private readonly commandTimeoutMs: number,
  ) {}

  get label(): string {
    return formatQmpAddress(this.address);
  }

  /** Our end's IP address on a tcp QMP connection: an address QEMU's host can reach us on. */
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  /** True once the socket is closed (by us or by QEMU). */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async connect(address: string | QmpAddress, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const addr = typeof address === "string" ? parseQmpAddress(address) : address;
    const label = formatQmpAddress(addr);
    const timeoutMs = opts.timeoutMs ?? 5000;
    const socket = await openSocket(addr, Date.now() + timeoutMs);
    socket.setNoDelay(true);
    const lines = new LineReader(socket);
    let timer: NodeJS.Timeout | undefined;
    try {
      const greeting = await new Promise<Record<string, unknown>>((resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new QmpConnectionError(
                `${label} sent no QMP greeting within ${timeoutMs} ms: is it a QMP socket (-qmp ...,server=on), and is no other client connected to it?`,
              ),
            ),
          timeoutMs,
        );
        socket.once("error", (e: NodeJS.ErrnoException) => reject(new QmpConnectionError(connectErrorText(label, e))));
        socket.once("close", () =>
          reject(
            new QmpConnectionError(
              `${label} closed the connection before sending a QMP greeting${lines.sample ? `; it sent: ${JSON.stringify(lines.sample)}` : ""}: not a QMP socket?`,
            ),
          ),
        );
        lines.onLine = (line) => {
          const msg = parseMessage(line);
          const qmp = msg?.QMP as Record<string, unknown> | undefined;
          if (!qmp || typeof qmp !== "object") {
            reject(
              new QmpConnectionError(
                `${label} is not a QMP socket: its first line is ${JSON.stringify(line.slice(0, 120))}, not a QMP greeting`,
              ),
            );
            return;
          }
          resolve(qmp);
        };
        lines.onError = (e) => reject(new QmpConnectionError(`${label}: ${e.message}`));
      });
      const v = greeting.version as QmpVersion | undefined;
      const version: QmpVersion =
        v && typeof v === "object" && v.qemu ? v : { qemu: { major: 0, minor: 0, micro: 0 }, package: "" };
      const caps = Array.isArray(greeting.capabilities)
        ? (greeting.capabilities as unknown[]).filter((c): c is string => typeof c === "string")
        : [];
      socket.removeAllListeners("error");
      socket.removeAllListeners("close");
      const client = new QmpClient(socket, addr, version, caps, opts.commandTimeoutMs ?? 30_000);
      client.attach(lines);
      const left = Math.max(1, timeoutMs);
      // "oob" is offered by QEMU but we do not enable it: plain in-order execution is all we need.
      await client.executeWithin("qmp_capabilities", {}, left);
      return client;
    } catch (e) {
      socket.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private attach(lines: LineReader): void {
    lines.onLine = (line) => this.onLine(line);
    lines.onError = (e) => this.fail(new QmpConnectionError(`${this.label}: ${e.message}`));
    this.socket.on("error", (e: NodeJS.ErrnoException) =>
      this.fail(
        new QmpConnectionError(
          e.code === "ECONNRESET" || e.code === "EPIPE"
            ? `QEMU closed the QMP connection ${this.label} (did it exit?)`
            : `${this.label}: ${e.code ?? e.message}`,
        ),
      ),
    );
    this.socket.on("close", () =>
      this.fail(new QmpConnectionError(`QEMU closed the QMP connection ${this.label} (did it exit?)`)),
    );
  }

  private onLine(line: string): void {
    const msg = parseMessage(line);
    if (!msg) {
      this.fail(
        new QmpConnectionError(
          `${this.label} sent a line that is not a JSON object: ${JSON.stringify(line.slice(0, 120))}`,
        ),
      );
      return;
    }
    if (typeof msg.event === "string") {
      this.events.emit("event", msg as unknown as QmpEvent);
      return;
    }
    const id = typeof msg.id === "string" ? msg.id : undefined;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (!p) {
      // A reply without our id: QEMU answers an unparseable command with {"error":...} and no id.
      // We never send such a command, so this is a protocol error worth surfacing on the next call.
      const err = msg.error as { desc?: string } | undefined;
      this.events.emit("stray", msg);
      if (err && this.pending.size === 1) {
        const [only] = this.pending.values();
        this.settle(
          only!,
          undefined,
          new QmpCommandError(only!.command, "GenericError", String(err.desc ?? "error without id")),
        );
      }
      return;
    }
    if ("error" in msg) {
      const err = (msg.error ?? {}) as { class?: unknown; desc?: unknown };
      this.settle(
        p,
        undefined,
        new QmpCommandError(
          p.command,
          String(err.class ?? "GenericError"),
          String(err.desc ?? "(QEMU gave no description)"),
        ),
      );
    } else if ("return" in msg) {
      this.settle(p, msg.return);
    } else {
      this.settle(
        p,
        undefined,
        new QmpConnectionError(
          `${this.label} answered ${p.command} with neither "return" nor "error": ${line.slice(0, 200)}`,
        ),
      );
    }
  }

  private settle(p: Pending, value: unknown, error?: Error): void {
    for (const [k, v] of this.pending) if (v === p) this.pending.delete(k);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(value);
  }

  private fail(e: QmpConnectionError): void {
    if (this.closedError) return;
    this.closedError = e;
    this.socket.destroy();
    for (const p of [...this.pending.values()]) this.settle(p, undefined, e);
    this.events.emit("close", e);
  }

  /** Runs a command and resolves with its "return" value; rejects with QmpCommandError (QEMU's desc). */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    return this.executeWithin<T>(command, args, this.commandTimeoutMs);
  }

  private executeWithin<T>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `vmstate-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { command, resolve: resolve as (v: unknown) => void, reject };
      if (timeoutMs > 0)
        p.timer = setTimeout(
          () =>
            this.settle(
              p,
              undefined,
              new QmpConnectionError(`${this.label}: no answer to ${command} within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
      this.pending.set(id, p);
      const msg: Record<string, unknown> = { execute: command, id };
      if (args && Object.keys(args).length) msg.arguments = args;
      this.socket.write(JSON.stringify(msg) + "\n");
    });
  }

  /** Calls fn for every QMP event; returns a function that stops it. */
  onEvent(fn: (e: QmpEvent) => void): () => void {
    this.events.on("event", fn);
    return () => this.events.off("event", fn);
  }

  /** Calls fn once when the connection ends (QEMU exited, socket error, or close()). */
  onClose(fn: (e: QmpConnectionError) => void): () => void {
    if (this.closedError) {
      const e = this.closedError;
      queueMicrotask(() => fn(e));
      return () => {};
    }
    this.events.once("close", fn);
    return () => this.events.off("close", fn);
  }

  /** Resolves with the next event matching pred (rejects if the connection ends or after ms). */
  waitForEvent(pred: (e: QmpEvent) => boolean, ms: number): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        off();
        offClose();
      };
      const t = setTimeout(() => {
        done();
        reject(new QmpConnectionError(`${this.label}: event not seen within ${ms} ms`));
      }, ms);
      const off = this.onEvent((e) => {
        if (pred(e)) {
          done();
          resolve(e);
        }
      });
      const offClose = this.onClose((e) => {
        done();
        reject(e);
      });
    });
  }

  close(): void {
    this.fail(new QmpConnectionError(`the QMP connection ${this.label} was closed`));
  }
}

/**
 * Connects, retrying EAGAIN: QEMU listens on its QMP socket with a backlog of 1 and accepts one
 * client at a time, so a connect just after another client left can find the backlog full.
 */
async function openSocket(addr: QmpAddress, deadline: number): Promise<net.Socket> {
  for (;;) {
    const socket =
      addr.kind === "unix"
        ? net.createConnection({ path: addr.path })
        : net.createConnection({ host: addr.host, port: addr.port });
    let timer: NodeJS.Timeout | undefined;
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      socket.once("connect", () => resolve(undefined));
      socket.once("error", resolve);
      timer = setTimeout(
        () => resolve(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" })),
        Math.max(1, deadline - Date.now()),
      );
    });
    clearTimeout(timer);
    if (!err) return socket;
    socket.destroy();
    if (err.code !== "EAGAIN" || Date.now() > deadline)
      throw new QmpConnectionError(connectErrorText(formatQmpAddress(addr), err));
    await new Promise((r) => setTimeout(r, 50));
  }
}

function connectErrorText(label: string, e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ENOENT":
      return `${label}: no such socket (is QEMU running with -qmp unix:PATH,server=on,wait=off?)`;
    case "ECONNREFUSED":
      return `${label}: connection refused (nothing is listening there; QEMU may have exited)`;
    case "EACCES":
      return `${label}: permission denied`;
    case "ENOTSOCK":
      return `${label}: not a socket`;
    case "ETIMEDOUT":
      return `${label}: the connection timed out (host unreachable or port filtered?)`;
    default:
      return `${label}: ${e.code ?? ""} ${e.message}`.trim();
  }
}

function parseMessage(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits the byte stream into lines (QMP ends each message with "\r\n"), with a length cap. */
class LineReader {
  onLine: (line: string) => void = () => {};
  onError: (e: Error) => void = () => {};
  /** The first bytes seen, for error messages about non-QMP peers. */
  sample = "";
  private buf: Buffer[] = [];
  private size = 0;
  private dead = false;
  constructor(socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.push(chunk));
  }
  private push(chunk: Buffer): void {
    if (this.dead) return;
    if (this.sample.length < 120)
      this.sample += chunk
        .subarray(0, 120)
        .toString("latin1")
        .slice(0, 120 - this.sample.length);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const part = chunk.subarray(start, nl);
      const line = this.size ? Buffer.concat([...this.buf, part]) : part;
      this.buf = [];
      this.size = 0;
      start = nl + 1;
      const text = line.toString("utf8").replace(/\r$/, "");
      if (text.trim()) this.onLine(text);
      if (this.dead) return;
    }
    if (start < chunk.length) {
      this.buf.push(chunk.subarray(start));
      this.size += chunk.length - start;
      if (this.size > MAX_LINE) {
        this.dead = true;
        this.buf = [];
        this.onError(new Error(`a QMP message longer than ${MAX_LINE} bytes without a line end: not QMP?`));
      }
    }
  }
}
