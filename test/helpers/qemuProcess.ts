// Test utility: a real QEMU (TCG) with a QMP unix socket, in its own process group, its stderr in
// a file (so the load layer can quote it, as it would libvirt's VM log). stop() kills the group.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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
  extra?: string[];
}

export class QemuProcess {
  private constructor(
    readonly proc: ChildProcess,
    readonly dir: string,
    readonly qmp: string,
    readonly log: string,
  ) {}

  static async start(o: QemuOptions = {}): Promise<QemuProcess> {
    const dir = mkdtempSync(join(tmpdir(), "vmstate-qemu-"));
    const qmp = join(dir, "qmp.sock");
    const log = join(dir, "qemu.log");
    const args = ["-display", "none", "-nodefaults", "-no-user-config", "-M", "q35", "-accel", "tcg", "-m", o.mem ?? "64M", "-qmp", `unix:${qmp},server=on,wait=off`];
    if (o.paused ?? true) args.push("-S");
    if (o.name) args.push("-name", o.name);
    if (o.incoming) args.push("-incoming", "defer");
    if (o.dbusAddr) args.push("-object", `dbus-vmstate,id=dv0,addr=${o.dbusAddr}`);
    args.push(...(o.extra ?? []));
    const fd = openSync(log, "w");
    const proc = spawn(QEMU, args, { detached: true, stdio: ["ignore", "ignore", fd] });
    closeSync(fd);
    const q = new QemuProcess(proc, dir, qmp, log);
    for (let i = 0; i < 200 && !existsSync(qmp); i++) {
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!existsSync(qmp)) {
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
