// `vmstate bus list|save|load|check`: the bus explorer's client on the command line.
import { lstatSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { VmStateBusClient, NO_HELPERS_HINT, DEFAULT_CALL_TIMEOUT_MS, type BusHelper } from "../bus/client";
import { BusError, errorMessage } from "../bus/errors";
import { formatCheckReport, formatHelperList } from "../bus/report";
import { DBUS_VMSTATE_SIZE_LIMIT, DEFAULT_SLOW_SAVE_MS, formatSize } from "../bus/rules";
import { escapeControls, jsonForTerminal } from "../format/escape";
import { MemoryByteSource } from "../io/memorySource";
import { writeChunksAtomically } from "../io/writeChunks";
import { msOption, parseSubcommand, UsageError, type CliIo, type OptionValues } from "./args";

const USAGE = `usage:
  vmstate bus list  --address ADDR [--json]
  vmstate bus save  --address ADDR (--id ID | --name :1.N) -o FILE [--timeout MS]
  vmstate bus load  --address ADDR (--id ID | --name :1.N) --from FILE [--timeout MS]
  vmstate bus check --address ADDR [--json] [--timeout MS] [--slow-ms MS]
ADDR is a D-Bus address such as unix:path=/run/vmstate/bus.sock or tcp:host=127.0.0.1,port=4000,
or "session" for $DBUS_SESSION_BUS_ADDRESS. Helpers are the owners of org.qemu.VMState1.
exit status: 0 ok, 1 failure (or a rule failed, for check), 2 usage
`;

/** argv = the arguments after `bus`. Returns the exit status. */
export async function runBusCommand(argv: string[], out: CliIo): Promise<number> {
  const parsed = parseSubcommand(argv, out, {
    prog: "vmstate bus",
    usage: USAGE,
    options: {
      address: { type: "string" },
      json: { type: "boolean" },
      id: { type: "string" },
      name: { type: "string" },
      output: { type: "string", short: "o" },
      from: { type: "string" },
      timeout: { type: "string" },
      "slow-ms": { type: "string" },
    },
    subcommands: ["list", "save", "load", "check"],
    check: ({ sub, rest, values }) => {
      if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
      if (!values.address) throw new UsageError("--address is required (the bus is never guessed)");
      if (sub === "save" || sub === "load") {
        if (!values.id === !values.name) throw new UsageError("give exactly one of --id ID or --name :1.N");
        if (sub === "save" && !values.output) throw new UsageError("save needs -o FILE");
        if (sub === "load" && !values.from) throw new UsageError("load needs --from FILE");
      }
    },
  });
  if (typeof parsed === "number") return parsed;
  const { sub, values } = parsed;

  const client = new VmStateBusClient();
  client.on("error", () => {
    /* reported through the failing call */
  });
  try {
    const timeoutMs = msOption(values.timeout, "timeout", DEFAULT_CALL_TIMEOUT_MS);
    const slowMs = msOption(values["slow-ms"], "slow-ms", DEFAULT_SLOW_SAVE_MS);
    const address = values.address as string;
    if (address === "session") await client.connectSession();
    else await client.connect(address);

    switch (sub) {
      case "list": {
        const helpers = await client.listHelpers();
        if (values.json) {
          out.stdout(
            jsonForTerminal(
              JSON.stringify(
                helpers.map((h) => ({
                  uniqueName: h.uniqueName,
                  id: h.id,
                  pid: h.pid,
                  primary: h.primary,
                  ...(h.idError ? { idError: h.idError } : {}),
                  ...(h.cmdline ? { cmdline: h.cmdline } : {}),
                })),
                null,
                2,
              ),
            ) + "\n",
          );
        } else out.stdout(formatHelperList(helpers, NO_HELPERS_HINT));
        return 0;
      }
      case "save": {
        const h = await pick(client, values);
        const r = await client.save(h.uniqueName, { timeoutMs });
        writeSaved(values.output as string, r.bytes);
        out.stderr(
          `saved ${describe(h)}: ${formatSize(r.bytes.length)} in ${Math.round(r.ms)} ms -> ${values.output as string}\n`,
        );
        if (r.bytes.length > DBUS_VMSTATE_SIZE_LIMIT) out.stderr(`warning: over 1 MiB; QEMU would drop this blob\n`);
        if (!r.bytes.length) out.stderr(`warning: empty; QEMU cannot migrate an empty blob\n`);
        return 0;
      }
      case "load": {
        const bytes = await readFile(values.from as string);
        const h = await pick(client, values);
        if (bytes.length > DBUS_VMSTATE_SIZE_LIMIT)
          out.stderr(`warning: ${formatSize(bytes.length)} is over 1 MiB; QEMU would never send this\n`);
        const r = await client.load(h.uniqueName, bytes, { timeoutMs });
        out.stderr(`loaded ${formatSize(bytes.length)} into ${describe(h)} in ${Math.round(r.ms)} ms\n`);
        return 0;
      }
      case "check": {
        const report = await client.check({ timeoutMs, slowMs });
        out.stdout(values.json ? jsonForTerminal(JSON.stringify(report, null, 2)) + "\n" : formatCheckReport(report));
        return report.ok ? 0 : 1;
      }
    }
    return 2;
  } catch (e) {
    if (e instanceof UsageError) {
      out.stderr(`vmstate bus: ${e.message}\n`);
      return 2;
    }
    out.stderr(`vmstate bus ${sub}: ${escapeControls(errorMessage(e))}\n`);
    return 1;
  } finally {
    client.disconnect();
  }
}

function describe(h: BusHelper): string {
  return escapeControls(`${h.id !== null ? JSON.stringify(h.id) : "(no Id)"} (${h.uniqueName})`);
}

async function pick(client: VmStateBusClient, values: OptionValues): Promise<BusHelper> {
  const helpers = await client.listHelpers();
  if (typeof values.name === "string") {
    const h = helpers.find((x) => x.uniqueName === values.name);
    if (!h)
      throw new BusError(
        "usage",
        `${values.name} is not an owner of org.qemu.VMState1 on this bus (owners: ${helpers.map((x) => x.uniqueName).join(", ") || "none"})`,
      );
    return h;
  }
  const matches = helpers.filter((x) => x.id === values.id);
  if (!matches.length) {
    const ids = helpers.map((x) => (x.id !== null ? JSON.stringify(x.id) : `${x.uniqueName} (no Id)`));
    throw new BusError(
      "usage",
      `no helper with Id ${JSON.stringify(values.id)} on this bus (helpers: ${ids.join(", ") || "none"})`,
    );
  }
  if (matches.length > 1)
    throw new BusError(
      "usage",
      `Id ${JSON.stringify(values.id)} is used by ${matches.map((m) => m.uniqueName).join(", ")}; pick one with --name`,
    );
  return matches[0]!;
}

/**
 * `bus save -o FILE`: like every vmstate output, written to a temporary file (O_EXCL|O_NOFOLLOW)
 * and renamed; a symbolic link at FILE is refused, never written through (docs/LIMITS.md).
 */
function writeSaved(out: string, bytes: Uint8Array): void {
  let link = false;
  try {
    link = lstatSync(out).isSymbolicLink();
  } catch {
    /* a new file */
  }
  if (link)
    throw new UsageError(
      `-o ${out} is a symbolic link: vmstate neither replaces links nor writes through them; give the real path`,
    );
  try {
    writeChunksAtomically(out, new MemoryByteSource(bytes), [{ bytes }]);
  } catch (e) {
    throw new UsageError(`cannot write ${out}: ${(e as Error).message}; nothing was written`);
  }
}
