// Test utility: a real QEMU (TCG) with a QMP unix socket, in its own process group, its stderr in
// a file (so the load layer can quote it, as it would libvirt's VM log). stop() kills the group.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as net from "node:net";
import { join } from "node:path";

export const QEMU = "/usr/bin/qemu-system-x86_64";
export const hasQemu = (): boolean => existsSync(QEMU);

export interface QemuOptions {
  /** -S (prelaunch, not running). Default true. */
  paused?: boolean;
  /** -incoming defer. */
  incoming?: boolean;
  /** RAM, default 64M. */
  mem?: string;
  /** A D-Bus address for -object dbus-vmstate,id=dv0,addr=... */
  dbusAddr?: string;
  name?: string;
  /** QMP on tcp:127.0.0.1:PORT (a free port) instead of a unix socket. */
  tcp?: boolean;
  extra?: string[];
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Linux: a unix socket at this path is in the listening state (__SO_ACCEPTCON, flag 0x10000). */
function isListening(p: string): boolean {
  try {
    return readFileSync("/proc/net/unix", "utf8")
      .split("\n")
      .some((l) => {
        const f = l.trim().split(/\s+/);
        return f[7] === p && (parseInt(f[3]!, 16) & 0x10000) !== 0;
      });
  } catch {
    return existsSync(p);
  }
}

function canConnect(to: number | string): Promise<boolean> {
  return new Promise((resolve) => {
    const s =
      typeof to === "number"
        ? net.createConnection({ host: "127.0.0.1", port: to })
        : net.createConnection({ path: to });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** QEMUs started and not yet reaped: killed when the test process exits, however it exits (a test
 * that fails or times out before its stop() must not leave a QEMU behind: each runs detached). */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) {
    try {
      if (p.pid !== undefined) process.kill(-p.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
});

export class QemuProcess {
  private constructor(
    readonly proc: ChildProcess,
    readonly dir: string,
    readonly qmp: string,
    readonly log: string,
  ) {}

  static async start(o: QemuOptions = {}): Promise<QemuProcess> {
    const dir = mkdtempSync(join(tmpdir(), "vmstate-qemu-"));
    const port = o.tcp ? await freePort() : 0;
    const qmp = o.tcp ? `tcp:127.0.0.1:${port}` : join(dir, "qmp.sock");
    const log = join(dir, "qemu.log");
    const args = [
      "-display",
      "none",
      "-nodefaults",
      "-no-user-config",
      "-M",
      "q35",
      "-accel",
      "tcg",
      "-m",
      o.mem ?? "64M",
      "-qmp",
      `${o.tcp ? qmp : `unix:${qmp}`},server=on,wait=off`,
    ];
    if (o.paused ?? true) args.push("-S");
    if (o.name) args.push("-name", o.name);
    if (o.incoming) args.push("-incoming", "defer");
    if (o.dbusAddr) args.push("-object", `dbus-vmstate,id=dv0,addr=${o.dbusAddr}`);
    args.push(...(o.extra ?? []));
    const fd = openSync(log, "w");
    const proc = spawn(QEMU, args, { detached: true, stdio: ["ignore", "ignore", fd] });
    closeSync(fd);
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    const q = new QemuProcess(proc, dir, qmp, log);
    // the socket file appears at bind(), a moment before QEMU listens; a probe connection would
    // take QEMU's only QMP slot (backlog 1), so look for the listening socket in /proc/net/unix
    const ready = async () => (o.tcp ? canConnect(port) : isListening(qmp));
    for (let i = 0; i < 200 && !(await ready()); i++) {
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!(await ready())) {
      await q.stop();
      throw new Error(`QEMU did not create its QMP socket: ${q.stderr()}`);
    }
    return q;
  }

  stderr(): string {
    try {
      return readFileSync(this.log, "utf8");
    } catch {
      return "";
    }
  }

  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  waitExit(ms = 5000): Promise<boolean> {
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.proc.once("exit", () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.exited || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      /* gone */
    }
  }

  async stop(): Promise<void> {
    this.kill("SIGTERM");
    if (!(await this.waitExit(3000))) {
      this.kill("SIGKILL");
      await this.waitExit(3000);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
