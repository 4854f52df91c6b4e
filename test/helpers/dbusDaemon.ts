// Test utility: a private dbus-daemon on a temporary unix socket, and org.qemu.VMState1 helper
// processes (dbus-next: dbusNextHelper.mjs, GDBus: gdbus_helper.py) on it. Every process runs in
// its own process group and is killed by group on stop(), so nothing outlives the tests.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import assert from "node:assert/strict";
import type { CheckReport } from "../../src/bus/client";

/** The repository root, found from this (bundled) file's location. */
export function repoRoot(): string {
  let d = __dirname;
  for (;;) {
    const p = join(d, "package.json");
    if (existsSync(p) && (JSON.parse(readFileSync(p, "utf8")) as { name?: string }).name === "qemu-vmstate") return d;
    const up = dirname(d);
    if (up === d) throw new Error(`cannot find the qemu-vmstate repository above ${__dirname}`);
    d = up;
  }
}

export const helpersDir = (): string => join(repoRoot(), "test", "helpers");
export const PYTHON = "/usr/bin/python3";

export function hasDbusDaemon(): boolean {
  return ["/usr/bin/dbus-daemon", "/bin/dbus-daemon"].some((p) => existsSync(p));
}
export function hasPythonGi(): boolean {
  return existsSync(PYTHON) && ["/usr/lib/python3/dist-packages/gi"].some((p) => existsSync(p));
}

function killGroup(p: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    /* already gone */
  }
}

function waitExit(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopProcess(p: ChildProcess): Promise<void> {
  killGroup(p, "SIGTERM");
  if (!(await waitExit(p, 3000))) {
    killGroup(p, "SIGKILL");
    await waitExit(p, 3000);
  }
}

/** A save-fast limit no Save that answers at all can break (the client's call timeout is 25 s). */
export const NO_TIME_LIMIT = 10 * 60_000;

/**
 * The rules a helper failed in a check, save-fast aside. How long a Save takes on a loaded machine
 * is not for a unit test to bound (busPure.test checks save-fast with given times): here its verdict
 * is checked against the Save time the report measured. A helper made slow on purpose is checked
 * with savedSlowly().
 */
export function failedRules(r: CheckReport, uniqueName: string, slowMs: number): string[] {
  const h = r.helpers.find((x) => x.helper.uniqueName === uniqueName);
  assert.ok(h, `${uniqueName} is not in the report`);
  const fast = h.rules.find((x) => x.rule === "save-fast");
  if (fast && !fast.skipped && h.save)
    assert.equal(
      fast.ok,
      h.save.ms <= slowMs,
      `save-fast said ${fast.ok} for a Save of ${h.save.ms} ms (limit ${slowMs} ms)`,
    );
  return h.rules.filter((x) => !x.ok && !x.skipped && x.rule !== "save-fast").map((x) => x.rule);
}

/** A helper whose Save sleeps delayMs (more than slowMs) fails save-fast: its time has a lower bound. */
export function savedSlowly(r: CheckReport, uniqueName: string, delayMs: number): void {
  const h = r.helpers.find((x) => x.helper.uniqueName === uniqueName)!;
  assert.ok(h.save && h.save.ms >= delayMs - 1, `Save took ${h.save?.ms} ms, the helper sleeps ${delayMs} ms`);
  assert.equal(h.rules.find((x) => x.rule === "save-fast")?.ok, false);
}

export interface HelperEvent {
  event?: string;
  ready?: boolean;
  unique_name?: string;
  len?: number;
  sha256?: string;
  matches_own_payload?: boolean;
  request_name_reply?: number;
  payload_len?: number;
  payload_sha256?: string;
  pid?: number;
  id?: string;
}

export type HelperMode =
  "normal" | "slow" | "fail" | "empty" | "big" | "noid" | "exit-during-save" | "wrongtype" | "intid";

export interface HelperSpec {
  impl?: "dbus-next" | "gdbus";
  id: string;
  mode?: HelperMode;
  payload?: string;
  delayMs?: number;
  loadOut?: string;
}

export class TestHelper {
  readonly events: HelperEvent[] = [];
  private waiters: Array<() => void> = [];
  ready!: HelperEvent;
  stderr = "";
  constructor(
    readonly proc: ChildProcess,
    readonly spec: HelperSpec,
  ) {}
  get uniqueName(): string {
    return this.ready.unique_name!;
  }
  get pid(): number {
    return this.proc.pid!;
  }
  push(ev: HelperEvent): void {
    this.events.push(ev);
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves with the first event matching, waiting for it if needed. */
  async waitFor(pred: (e: HelperEvent) => boolean, ms = 5000): Promise<HelperEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `helper ${this.spec.id}: event not seen within ${ms} ms; events: ${JSON.stringify(this.events)} stderr: ${this.stderr}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  exited(ms = 5000): Promise<boolean> {
    return waitExit(this.proc, ms);
  }
  stop(): Promise<void> {
    return stopProcess(this.proc);
  }
}

export class PrivateBus {
  private readonly helpers: TestHelper[] = [];
  private constructor(
    readonly address: string,
    /** What dbus-daemon printed (with ,guid=...). */
    readonly printedAddress: string,
    readonly dir: string,
    private readonly daemon: ChildProcess,
  ) {}

  static async start(): Promise<PrivateBus> {
    const dir = mkdtempSync(join(tmpdir(), "vmstate-bus-"));
    const address = `unix:path=${join(dir, "bus.sock")}`;
    // The shell kills the daemon when its stdin (our pipe) closes, so even a test run that is
    // killed before its after() hooks leaves no daemon behind.
    const daemon = spawn(
      "/bin/sh",
      [
        "-c",
        'dbus-daemon "$@" & d=$!; trap "kill $d" TERM INT; read -r _; kill $d; wait $d',
        "sh",
        `--config-file=${join(helpersDir(), "dbus-bus.conf")}`,
        "--nofork",
        "--print-address",
        `--address=${address}`,
      ],
      { detached: true, stdio: ["pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    daemon.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    let printed: string;
    try {
      printed = await new Promise<string>((resolve, reject) => {
        const rl = createInterface({ input: daemon.stdout! });
        rl.once("line", (l) => resolve(l.trim()));
        daemon.once("error", reject);
        daemon.once("exit", (c) => reject(new Error(`dbus-daemon exited with ${c}: ${stderr}`)));
      });
    } catch (e) {
      await stopProcess(daemon);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return new PrivateBus(address, printed, dir, daemon);
  }

  /** Starts a helper and waits until it has queued for org.qemu.VMState1. */
  async helper(spec: HelperSpec): Promise<TestHelper> {
    const common = ["--address", this.address, "--id", spec.id, "--mode", spec.mode ?? "normal"];
    if (spec.payload !== undefined) common.push("--payload", spec.payload);
    if (spec.delayMs !== undefined) common.push("--delay-ms", String(spec.delayMs));
    if (spec.loadOut !== undefined) common.push("--load-out", spec.loadOut);
    const [cmd, args] =
      spec.impl === "gdbus"
        ? [PYTHON, [join(helpersDir(), "gdbus_helper.py"), ...common]]
        : [process.execPath, [join(helpersDir(), "dbusNextHelper.mjs"), ...common]];
    // stdin is a pipe the helper watches: it exits when we go away, however we go.
    const proc = spawn(cmd, args, { detached: true, stdio: ["pipe", "pipe", "pipe"] });
    const h = new TestHelper(proc, spec);
    this.helpers.push(h);
    proc.stderr!.on("data", (d: Buffer) => (h.stderr += d.toString()));
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      try {
        h.push(JSON.parse(l) as HelperEvent);
      } catch {
        /* not ours */
      }
    });
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (c) =>
        reject(new Error(`helper ${spec.id} exited with ${c} before it was ready: ${h.stderr}`)),
      ),
    );
    h.ready = await Promise.race([h.waitFor((e) => e.ready === true, 10_000), exited]);
    exited.catch(() => {});
    return h;
  }

  async stopHelpers(): Promise<void> {
    await Promise.all(this.helpers.splice(0).map((h) => h.stop()));
  }

  /** Kills only the daemon, as if the bus went away under its clients. */
  async stopDaemon(): Promise<void> {
    await stopProcess(this.daemon);
  }

  /** Kills the daemon (and its helpers) and removes the socket directory. */
  async stop(): Promise<void> {
    await this.stopHelpers();
    await stopProcess(this.daemon);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
