// Capture: migrate a running (or paused) QEMU into a file, with progress from query-migrate, a
// cancel that really cancels (migrate_cancel, partial file removed), and the run state the user
// asked for afterwards.
//
// We receive the stream ourselves: we listen (a unix socket in a private temporary folder when
// QMP is a unix socket; tcp on our address of the QMP connection otherwise), QEMU migrates to it
// (`migrate uri=unix:PATH` / `tcp:HOST:PORT`), and we write a temporary file next to the target,
// renamed onto it only once QEMU says "completed" AND the socket has ended AND the file is
// closed. Not `exec:cat > FILE`: QEMU reports "completed" before it closes the pipe
// (migrate_fd_cleanup runs afterwards), and on close QEMU 7.2 SIGTERMs a child that has not
// exited yet (qio_channel_command_abort), so cat could still be writing, or be cut short, when we
// rename. Receiving also needs no shell quoting, works with a QEMU on another host (tcp), and
// leaves a file owned by the user. (`file:` URIs arrive in QEMU 8.2 and mapped-ram in 9.0; 7.2
// has neither.)
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { QmpCommandError, QmpConnectionError, type QmpClient } from "./client";
import { queryRunState, type MigrateCapability, type MigrateInfo, type RunState } from "./vm";

/**
 * pause: stop the VM, then migrate (a consistent image at the moment you asked);
 * live: migrate while it runs (QEMU stops it briefly at the end for the last dirty pages);
 * background-snapshot: QEMU's background-snapshot capability (the VM keeps running, the image
 * is the state at the start; needs userfaultfd write-protect support in the host kernel).
 */
export type CaptureMode = "pause" | "live" | "background-snapshot";
/** The VM's run state after the capture: as it was before (default), running, or paused. */
export type AfterState = "as-before" | "running" | "paused";

export interface MigrationProgress {
  status: string;
  /** RAM bytes sent so far (query-migrate ram.transferred). */
  transferred?: number;
  /** RAM bytes still to send (ram.remaining). */
  remaining?: number;
  /** Guest RAM size (ram.total). */
  total?: number;
  /** For captures: stream bytes written to the file so far. */
  written?: number;
  /** For loads: stream bytes sent to QEMU, and the file size. */
  sent?: number;
  fileSize?: number;
}

export interface CaptureOptions {
  mode: CaptureMode;
  after?: AfterState;
  onProgress?(p: MigrationProgress): void;
  signal?: AbortSignal;
  /** query-migrate polling interval (default 200 ms). */
  pollMs?: number;
}

export interface CaptureResult {
  file: string;
  size: number;
  seconds: number;
  before: RunState;
  after: RunState;
  final: MigrateInfo;
}

export type CaptureFailure = "cancelled" | "failed" | "qemu-exited" | "busy" | "unsupported" | "io";

export class CaptureError extends Error {
  constructor(
    readonly reason: CaptureFailure,
    message: string,
  ) {
    super(message);
    this.name = "CaptureError";
  }
}

/** Migration states in which another migration is in flight (QAPI MigrationStatus). */
const BUSY = new Set([
  "setup",
  "active",
  "pre-switchover",
  "device",
  "cancelling",
  "wait-unplug",
  "colo",
  "postcopy-active",
  "postcopy-paused",
  "postcopy-recover",
  "postcopy-recover-setup",
]);
const FINAL = new Set(["completed", "failed", "cancelled"]);
const CANCEL_TIMEOUT_MS = 30_000;
const FINISH_TIMEOUT_MS = 30_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    /* nothing to remove */
  }
}

export async function captureVmState(client: QmpClient, target: string, opts: CaptureOptions): Promise<CaptureResult> {
  const t0 = Date.now();
  const file = path.resolve(target);
  const dir = path.dirname(file);
  if (!fs.existsSync(dir)) throw new CaptureError("io", `the folder ${dir} does not exist`);
  const pollMs = opts.pollMs ?? 200;
  const before = await queryRunState(client);
  if (before.status === "inmigrate")
    throw new CaptureError(
      "busy",
      "this QEMU is waiting for an incoming migration (-incoming); there is no VM state to capture yet",
    );
  if (before.status === "postmigrate") {
    // QEMU's migrate_prepare refuses this itself ("Can't migrate the vm that was paused due to
    // previous migration"); say what to do about it.
    throw new CaptureError(
      "busy",
      'QEMU cannot migrate this VM again: it is paused after a previous migration (run state postmigrate). Resume it once (cont, or capture with "run afterwards") and capture again',
    );
  }
  const mig0 = await client.execute<MigrateInfo>("query-migrate");
  if (mig0.status && BUSY.has(mig0.status))
    throw new CaptureError(
      "busy",
      `a migration is already in progress (status ${mig0.status}); cancel it first (migrate_cancel)`,
    );

  const caps = await client.execute<MigrateCapability[]>("query-migrate-capabilities");
  const capsToRestore: MigrateCapability[] = [];
  const setCap = async (capability: string, state: boolean) => {
    const cur = caps.find((c) => c.capability === capability);
    if (!cur)
      throw new CaptureError(
        "unsupported",
        `this QEMU (${client.version.qemu.major}.${client.version.qemu.minor}) has no "${capability}" migration capability`,
      );
    if (cur.state === state) return;
    try {
      await client.execute("migrate-set-capabilities", { capabilities: [{ capability, state }] });
    } catch (e) {
      if (e instanceof QmpCommandError)
        throw new CaptureError("unsupported", `QEMU refused ${capability}=${state}: ${e.desc}`);
      throw e;
    }
    capsToRestore.push({ capability, state: cur.state });
  };

  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}-${randomBytes(4).toString("hex")}.partial`);
  let closed: QmpConnectionError | undefined;
  const offClose = client.onClose((e) => (closed = e));
  let migrationStarted = false;
  let receiver: Receiver | undefined;
  try {
    // background-snapshot only works with the VM running and excludes a few others; QEMU checks.
    await setCap("background-snapshot", opts.mode === "background-snapshot");
    if (opts.mode === "pause" && before.running) {
      await client.execute("stop");
    }
    if (opts.signal?.aborted) throw new CaptureError("cancelled", "cancelled before the migration started");
    receiver = await openReceiver(client, tmp);
    try {
      await client.execute("migrate", { uri: receiver.uri });
      migrationStarted = true;
    } catch (e) {
      if (e instanceof QmpCommandError) throw new CaptureError("failed", `QEMU refused to migrate: ${e.desc}`);
      throw e;
    }
    let cancelSent = 0;
    let info: MigrateInfo = {};
    const aborted = abortPromise(opts.signal);
    for (;;) {
      if (opts.signal?.aborted && !cancelSent) {
        cancelSent = Date.now();
        await client.execute("migrate_cancel");
      }
      if (cancelSent && Date.now() - cancelSent > CANCEL_TIMEOUT_MS) {
        throw new CaptureError(
          "failed",
          `QEMU did not finish cancelling within ${CANCEL_TIMEOUT_MS / 1000} s (status ${info.status ?? "?"}); the partial file was removed`,
        );
      }
      info = await client.execute<MigrateInfo>("query-migrate");
      opts.onProgress?.({
        status: info.status ?? "?",
        transferred: info.ram?.transferred,
        remaining: info.ram?.remaining,
        total: info.ram?.total,
        written: receiver.written(),
      });
      if (info.status && FINAL.has(info.status)) break;
      // wake early for a cancel, but only once: afterwards poll at the normal pace
      await (cancelSent ? sleep(pollMs) : Promise.race([sleep(pollMs), aborted]));
    }
    if (info.status === "cancelled" || (cancelSent && info.status !== "completed"))
      throw new CaptureError("cancelled", "the capture was cancelled (migrate_cancel); no file was written");
    if (info.status === "failed")
      throw new CaptureError(
        "failed",
        `the migration failed: ${info["error-desc"] ?? "QEMU gave no reason (query-migrate status failed)"}`,
      );
    // completed: wait for QEMU to close its end (it does so right after) and the file to close.
    if (!receiver.connected()) throw new CaptureError("io", 'QEMU reported "completed" but never connected to us');
    let timer: NodeJS.Timeout | undefined;
    const closedIn = await Promise.race([
      receiver.done,
      new Promise<number>((r) => (timer = setTimeout(() => r(-1), FINISH_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (closedIn < 0)
      throw new CaptureError(
        "io",
        `QEMU reported "completed" but did not close the stream within ${FINISH_TIMEOUT_MS / 1000} s`,
      );
    let size = 0;
    try {
      const fd = fs.openSync(tmp, "r");
      try {
        size = fs.fstatSync(fd).size;
        const magic = Buffer.alloc(4);
        fs.readSync(fd, magic, 0, 4, 0);
        if (size !== closedIn || magic.toString("latin1") !== "QEVM")
          throw new CaptureError(
            "io",
            `QEMU reported "completed" but ${tmp} holds ${size} of ${closedIn} bytes received, starting ${JSON.stringify(magic.toString("latin1"))} (not QEVM)`,
          );
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      if (e instanceof CaptureError) throw e;
      throw new CaptureError(
        "io",
        `the captured stream ${tmp} cannot be read back: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    fs.renameSync(tmp, file);
    const after = await restoreRunState(client, before, opts.after ?? "as-before");
    await restoreCaps(client, capsToRestore);
    return { file, size, seconds: (Date.now() - t0) / 1000, before, after, final: info };
  } catch (e) {
    receiver?.close();
    removeQuietly(tmp);
    if (closed || (e instanceof QmpConnectionError && client.closed)) {
      throw new CaptureError(
        "qemu-exited",
        `QEMU went away during the capture (${(closed ?? (e as Error)).message}); no file was written`,
      );
    }
    if (!client.closed) {
      // Leave the VM as the user asked even when the capture did not happen.
      if (migrationStarted) await waitNotBusy(client, pollMs).catch(() => {});
      await restoreRunState(client, before, opts.after ?? "as-before").catch(() => {});
      await restoreCaps(client, capsToRestore).catch(() => {});
    }
    if (e instanceof CaptureError) throw e;
    if (e instanceof QmpCommandError) throw new CaptureError("failed", e.message);
    throw e;
  } finally {
    receiver?.close();
    offClose();
  }
}

interface Receiver {
  uri: string;
  /** Bytes written to the file so far. */
  written(): number;
  /** Resolves with the byte count once QEMU has closed its end and the file is closed. */
  done: Promise<number>;
  /** True once QEMU has connected. */
  connected(): boolean;
  close(): void;
}

/** Listens for QEMU's outgoing migration and writes it to `file` (created, never overwritten). */
async function openReceiver(client: QmpClient, file: string): Promise<Receiver> {
  const server = net.createServer();
  let dir: string | undefined;
  let uri: string;
  if (client.address.kind === "unix") {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-capture-"));
    const sock = path.join(dir, "migration.sock");
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(sock, resolve);
    });
    uri = `unix:${sock}`;
  } else {
    const host = client.localAddress ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, resolve);
    });
    const port = (server.address() as net.AddressInfo).port;
    uri = `tcp:${host.includes(":") ? `[${host}]` : host}:${port}`;
  }
  let written = 0;
  let conn: net.Socket | undefined;
  let resolveDone!: (n: number) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<number>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {});
  server.on("connection", (s) => {
    if (conn) {
      s.destroy(); // one migration stream only
      return;
    }
    conn = s;
    const out = fs.createWriteStream(file, { flags: "wx" });
    s.on("data", (d: Buffer) => (written += d.length));
    s.on("error", (e) => out.destroy(e));
    out.on("error", (e) => {
      s.destroy();
      rejectDone(new CaptureError("io", `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    out.on("close", () => resolveDone(written));
    s.pipe(out);
  });
  return {
    uri,
    written: () => written,
    done,
    connected: () => conn !== undefined,
    close: () => {
      conn?.destroy();
      server.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function abortPromise(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise(() => {});
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener("abort", () => r(), { once: true }));
}

async function waitNotBusy(client: QmpClient, pollMs: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const m = await client.execute<MigrateInfo>("query-migrate");
    if (!m.status || !BUSY.has(m.status)) return;
    await sleep(pollMs);
  }
}

async function restoreCaps(client: QmpClient, caps: MigrateCapability[]): Promise<void> {
  if (caps.length) await client.execute("migrate-set-capabilities", { capabilities: caps });
}

async function restoreRunState(client: QmpClient, before: RunState, after: AfterState): Promise<RunState> {
  const want = after === "as-before" ? before.running : after === "running";
  let now = await queryRunState(client);
  if (want && !now.running) {
    await client.execute("cont");
    now = await queryRunState(client);
  } else if (!want && now.running) {
    await client.execute("stop");
    now = await queryRunState(client);
  }
  return now;
}
