// `vmstate qmp info|capture|load`: the QEMU view's QMP operations on the command line.
import {
  CaptureError,
  LoadError,
  QmpAddressError,
  QmpClient,
  QmpCommandError,
  QmpConnectionError,
  captureVmState,
  formatBytes,
  formatVmInfo,
  loadVmState,
  queryVmInfo,
  type AfterState,
  type CaptureMode,
  type MigrationProgress,
} from "../qmp";
import { msOption, parseSubcommand, UsageError, type CliIo } from "./args";

const USAGE = `usage:
  vmstate qmp info    --qmp ADDR [--json]
  vmstate qmp capture --qmp ADDR -o FILE [--pause | --background-snapshot] [--after running|paused]
  vmstate qmp load    --qmp ADDR FILE [--qemu-log FILE]
All take --timeout MS (connect and greeting, default 5000).
ADDR is QEMU's QMP socket: a unix socket path (or unix:PATH) or tcp:HOST:PORT (-qmp ...,server=on).
capture migrates the VM into FILE (QEMU sends the stream to us; FILE appears only when complete). Default live;
  --pause stops the VM first; --background-snapshot keeps it running (needs the capability).
  Afterwards the VM runs or stays paused as before, unless --after says otherwise.
load streams FILE into a QEMU started with -incoming defer. QEMU's error text comes from its stderr
  when that is a file (found through /proc, or --qemu-log).
exit status: 0 ok, 1 failure, 2 usage
`;

function progressLine(p: MigrationProgress): string {
  if (p.transferred === undefined && p.fileSize === undefined) return p.status;
  if (p.fileSize !== undefined) return `${p.status}: ${formatBytes(p.sent)} of ${formatBytes(p.fileSize)} sent`;
  return `${p.status}: ${formatBytes(p.written)} written; RAM ${formatBytes(p.transferred)} sent, ${formatBytes(p.remaining)} remaining of ${formatBytes(p.total)}`;
}

/** argv = the arguments after `qmp`. Returns the exit status. */
export async function runQmpCommand(argv: string[], out: CliIo): Promise<number> {
  const parsed = parseSubcommand(argv, out, {
    prog: "vmstate qmp",
    usage: USAGE,
    options: {
      qmp: { type: "string" },
      json: { type: "boolean" },
      output: { type: "string", short: "o" },
      pause: { type: "boolean" },
      "background-snapshot": { type: "boolean" },
      after: { type: "string" },
      "qemu-log": { type: "string" },
      quiet: { type: "boolean", short: "q" },
      timeout: { type: "string" },
    },
    subcommands: ["info", "capture", "load"],
    check: ({ sub, rest, values }) => {
      if (!values.qmp) throw new UsageError("--qmp ADDR is required (a QMP socket path or tcp:HOST:PORT)");
      if (sub === "load") {
        if (rest.length !== 1) throw new UsageError("load needs exactly one FILE");
      } else if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
      if (sub === "capture" && !values.output) throw new UsageError("capture needs -o FILE");
      if (values.pause && values["background-snapshot"])
        throw new UsageError("--pause and --background-snapshot exclude each other");
      msOption(values.timeout, "timeout", 0);
      if (values.after !== undefined && !["running", "paused"].includes(values.after as string))
        throw new UsageError(`--after must be running or paused, not "${values.after as string}"`);
    },
  });
  if (typeof parsed === "number") return parsed;
  const { sub, values } = parsed;
  const file = sub === "load" ? parsed.rest[0] : undefined;

  let client: QmpClient | undefined;
  try {
    client = await QmpClient.connect(values.qmp as string, values.timeout ? { timeoutMs: Number(values.timeout) } : {});
    switch (sub) {
      case "info": {
        const info = await queryVmInfo(client);
        out.stdout(
          values.json
            ? JSON.stringify({ address: client.label, ...info }, null, 2) + "\n"
            : formatVmInfo(info, client.label),
        );
        return 0;
      }
      case "capture": {
        const mode: CaptureMode = values.pause
          ? "pause"
          : values["background-snapshot"]
            ? "background-snapshot"
            : "live";
        let last = Date.now();
        const r = await captureVmState(client, values.output as string, {
          mode,
          after: (values.after as AfterState | undefined) ?? "as-before",
          onProgress: (p) => {
            if (values.quiet || Date.now() - last < 1000) return;
            last = Date.now();
            out.stderr(`  ${progressLine(p)}\n`);
          },
        });
        out.stderr(
          `captured ${formatBytes(r.size)} (${mode}) in ${r.seconds.toFixed(1)} s -> ${r.file}; VM was ${r.before.status}, now ${r.after.status}\n`,
        );
        return 0;
      }
      case "load": {
        let last = Date.now();
        const r = await loadVmState(client, file!, {
          qemuLog: values["qemu-log"] as string | undefined,
          onProgress: (p) => {
            if (values.quiet || Date.now() - last < 1000) return;
            last = Date.now();
            out.stderr(`  ${progressLine(p)}\n`);
          },
        });
        out.stderr(
          `loaded ${formatBytes(r.size)} into QEMU in ${r.seconds.toFixed(1)} s; migration ${r.final.status ?? "?"}, VM now ${r.after.status}\n`,
        );
        return 0;
      }
    }
    return 2;
  } catch (e) {
    if (e instanceof QmpAddressError) {
      out.stderr(`vmstate qmp: ${e.message}\n`);
      return 2;
    }
    if (
      e instanceof CaptureError ||
      e instanceof LoadError ||
      e instanceof QmpConnectionError ||
      e instanceof QmpCommandError
    ) {
      out.stderr(`vmstate qmp ${sub}: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    client?.close();
  }
}
