// Load: stream a file into a QEMU that waits with `-incoming defer`, with progress and QEMU's own
// error text when it refuses the stream.
//
// We feed the bytes ourselves rather than `migrate-incoming exec:cat FILE`: QEMU listens
// (`unix:` in a private temporary folder when QMP is a unix socket, `tcp:HOST:0` on QMP's host
// otherwise, the port read back from query-migrate's socket-address), we connect and write the
// file, so progress is exact bytes and a cancel is closing our end.
//
// QEMU 7.2 *exits* when an incoming migration fails (process_incoming_migration_co ends in
// exit(EXIT_FAILURE)), after printing its reason (e.g. "Failed to load PCIBUS:nirq") on its
// stderr, never over QMP. So we enable the `events` capability to see MIGRATION {status: failed}
// before the connection drops, and, where QEMU runs on this machine and its stderr is a file
// (libvirt's /var/log/libvirt/qemu/VM.log, or `2>log`), we find it through /proc and quote what
// QEMU wrote there. Newer QEMUs that stay alive report the reason in query-migrate error-desc.
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { QmpCommandError, type QmpClient } from "./client";
import type { MigrationProgress } from "./capture";
import { queryRunState, type MigrateInfo, type RunState } from "./vm";

export interface LoadOptions {
  onProgress?(p: MigrationProgress): void;
  signal?: AbortSignal;
  /** A file QEMU's stderr goes to (found through /proc when not given). */
  qemuLog?: string;
  /** How long to wait for QEMU to finish after the last byte (default 60 s). */
  finishTimeoutMs?: number;
}

export interface LoadResult {
  size: number;
  seconds: number;
  after: RunState;
  final: MigrateInfo;
}

export type LoadFailure = "not-waiting" | "refused" | "qemu-exited" | "cancelled" | "io";

export class LoadError extends Error {
  constructor(
    readonly reason: LoadFailure,
    message: string,
    /** What QEMU printed on its stderr while failing, when we could read it. */
    readonly qemuStderr?: string,
  ) {
    super(message);
    this.name = "LoadError";
  }
}

interface StderrProbe {
  pid: number;
  file: string;
  offset: number;
}

/** Linux: the process listening on a unix socket path, and its stderr if that is a regular file. */
export function findQemuStderr(socketPath: string): StderrProbe | undefined {
  try {
    const want = path.resolve(socketPath);
    const inodes = new Set<string>();
    for (const line of fs.readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 8 && f[7] === want) inodes.add(f[6]!);
    }
    if (!inodes.size) return undefined;
    for (const pid of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      let fds: string[];
      try {
        fds = fs.readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      const hit = fds.some((fd) => {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
          return !!m && inodes.has(m[1]!);
        } catch {
          return false;
        }
      });
      if (!hit) continue;
      const file = fs.readlinkSync(`/proc/${pid}/fd/2`);
      const st = fs.statSync(file);
      return st.isFile() ? { pid: Number(pid), file, offset: st.size } : undefined;
    }
  } catch {
    /* not Linux, or not ours to see */
  }
  return undefined;
}

function readNew(probe: { file: string; offset: number } | undefined): string | undefined {
  if (!probe) return undefined;
  try {
    const fd = fs.openSync(probe.file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const start = Math.max(probe.offset, size - 16384);
      const buf = Buffer.alloc(Math.max(0, size - start));
      fs.readSync(fd, buf, 0, buf.length, start);
      return buf.toString("utf8").trim() || undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function loadVmState(client: QmpClient, file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const t0 = Date.now();
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    throw new LoadError("io", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const state = await queryRunState(client);
  if (state.status !== "inmigrate") {
    throw new LoadError(
      "not-waiting",
      `this QEMU is not waiting for an incoming migration (run state "${state.status}"); start one with -incoming defer and the same machine and devices as the stream's source`,
    );
  }
  const probe = opts.qemuLog
    ? { pid: 0, file: opts.qemuLog, offset: safeSize(opts.qemuLog) }
    : client.address.kind === "unix"
      ? findQemuStderr(client.address.path)
      : undefined;
  const stderrText = () => readNew(probe);
  // MIGRATION events tell "QEMU refused the stream" apart from "QEMU crashed".
  let failedEvent = false;
  let completedEvent = false;
  const offEv = client.onEvent((e) => {
    if (e.event !== "MIGRATION") return;
    const st = (e.data as { status?: string } | undefined)?.status;
    if (st === "failed") failedEvent = true;
    if (st === "completed") completedEvent = true;
  });
  let qmpClosed = false;
  const offClose = client.onClose(() => (qmpClosed = true));
  const tmpDir = client.address.kind === "unix" ? fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-load-")) : undefined;
  let sock: net.Socket | undefined;
  const failure = async (fallback: string): Promise<LoadError> => {
    // Give QEMU a moment to print its reason and exit (or report failed).
    for (let i = 0; i < 20 && !qmpClosed; i++) {
      const m = await client.execute<MigrateInfo>("query-migrate").catch(() => undefined);
      if (m?.status === "failed" && m["error-desc"])
        return new LoadError("refused", `QEMU refused the stream: ${m["error-desc"]}`, stderrText());
      await sleep(100);
    }
    const text = stderrText();
    if (qmpClosed) {
      const why = failedEvent
        ? "QEMU refused the stream and exited (QEMU 7.2 exits when an incoming migration fails)"
        : "QEMU exited during the load";
      return new LoadError(
        failedEvent ? "refused" : "qemu-exited",
        text
          ? `${why}: ${lastLines(text)}`
          : `${why}; its reason is on its stderr${probe ? "" : " (not a file we can read)"}`,
        text,
      );
    }
    return new LoadError("io", text ? `${fallback}: ${lastLines(text)}` : fallback, text);
  };
  try {
    try {
      await client.execute("migrate-set-capabilities", { capabilities: [{ capability: "events", state: true }] });
    } catch {
      /* older QEMU: no events, the close still tells */
    }
    let connectOpts: net.NetConnectOpts;
    try {
      if (tmpDir) {
        const sockPath = path.join(tmpDir, "incoming.sock");
        await client.execute("migrate-incoming", { uri: `unix:${sockPath}` });
        connectOpts = { path: sockPath };
      } else {
        const host = client.address.kind === "tcp" ? client.address.host : "127.0.0.1";
        await client.execute("migrate-incoming", { uri: `tcp:${host.includes(":") ? `[${host}]` : host}:0` });
        const m = await client.execute<MigrateInfo>("query-migrate");
        const port = Number(m["socket-address"]?.find((a) => a.port)?.port);
        if (!port)
          throw new LoadError(
            "io",
            "QEMU listens for the stream but did not say on which port (query-migrate has no socket-address)",
          );
        connectOpts = { host, port };
      }
    } catch (e) {
      if (e instanceof QmpCommandError) throw new LoadError("refused", `QEMU refused migrate-incoming: ${e.desc}`);
      throw e;
    }
    const s = net.createConnection(connectOpts);
    sock = s;
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", (e) => reject(new LoadError("io", `cannot connect to QEMU's incoming socket: ${e.message}`)));
    });
    // Write the file with backpressure; progress = bytes QEMU has taken.
    let sent = 0;
    let lastReport = 0;
    const report = (status: string) => opts.onProgress?.({ status, sent, fileSize: size });
    report("active");
    const fd = fs.openSync(file, "r");
    let writeError: Error | undefined;
    s.on("error", (e) => (writeError = e));
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        if (opts.signal?.aborted)
          throw new LoadError(
            "cancelled",
            "the load was cancelled; QEMU 7.2 gives up on the incoming migration (and exits)",
          );
        if (writeError || qmpClosed)
          throw await failure(
            `QEMU stopped reading the stream after ${sent} of ${size} bytes (${writeError?.message ?? "connection closed"})`,
          );
        const n = fs.readSync(fd, buf, 0, buf.length, sent);
        if (n === 0) break;
        const chunk = Buffer.from(buf.subarray(0, n));
        const ok = s.write(chunk);
        sent += n;
        if (!ok)
          await new Promise<void>((r) => {
            const done = () => {
              s.off("drain", done);
              s.off("close", done);
              r();
            };
            s.on("drain", done);
            s.on("close", done);
          });
        if (Date.now() - lastReport > 100) {
          lastReport = Date.now();
          report("active");
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    await new Promise<void>((r) => s.end(r));
    report("finishing");
    // Wait for QEMU to finish loading.
    const deadline = Date.now() + (opts.finishTimeoutMs ?? 60_000);
    let info: MigrateInfo = {};
    for (;;) {
      if (qmpClosed) throw await failure("QEMU exited");
      if (opts.signal?.aborted)
        throw new LoadError(
          "cancelled",
          "the load was cancelled after the whole stream was sent; QEMU may still finish loading it",
        );
      info = await client.execute<MigrateInfo>("query-migrate").catch(async (e) => {
        if (qmpClosed) throw await failure("QEMU exited");
        throw e;
      });
      if (info.status === "completed" || completedEvent) break;
      if (info.status === "failed" || failedEvent) throw await failure("QEMU refused the stream");
      if (Date.now() > deadline)
        throw new LoadError(
          "io",
          `QEMU read the whole stream but did not finish loading within ${(opts.finishTimeoutMs ?? 60_000) / 1000} s (status ${info.status ?? "?"})`,
        );
      await sleep(100);
    }
    if (info.status !== "completed") info = await client.execute<MigrateInfo>("query-migrate");
    report("completed");
    const after = await queryRunState(client);
    return { size, seconds: (Date.now() - t0) / 1000, after, final: info };
  } catch (e) {
    if (e instanceof LoadError) throw e;
    if (qmpClosed) throw await failure("QEMU exited");
    if (e instanceof QmpCommandError) throw new LoadError("refused", e.message);
    throw e;
  } finally {
    sock?.destroy();
    offEv();
    offClose();
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

function safeSize(f: string): number {
  try {
    return fs.statSync(f).size;
  } catch {
    return 0;
  }
}

/** The last few lines of QEMU's stderr (its reason comes last). */
function lastLines(text: string): string {
  return text.split("\n").slice(-6).join("\n");
}
