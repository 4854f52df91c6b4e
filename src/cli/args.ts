// What the `vmstate` command groups share: the output pair, the usage error, and the argument
// parsing of `vmstate GROUP SUBCOMMAND ...` (bus, qmp).
import { parseArgs, type ParseArgsConfig } from "node:util";

export interface CliIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

const USAGE_ERROR = Symbol.for("qemu-vmstate.UsageError");

/**
 * Bad arguments: the message, the usage, exit status 2. `instanceof` goes by a registered symbol,
 * not by this class object: the command groups' bundles (dist/cli-bus.js ...) have their own copy
 * of the class, and their errors must still read as usage errors in dist/cli.js's runCli.
 */
export class UsageError extends Error {
  readonly [USAGE_ERROR] = true;
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === "object" && x !== null && (x as { [USAGE_ERROR]?: boolean })[USAGE_ERROR] === true;
  }
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Subcommand {
  sub: string;
  /** The positional arguments after the subcommand. */
  rest: string[];
  values: OptionValues;
}

export interface SubcommandSpec {
  /** "vmstate bus": the start of every usage message. */
  prog: string;
  usage: string;
  /** parseArgs options (strict); --help/-h is added. */
  options: NonNullable<ParseArgsConfig["options"]>;
  subcommands: readonly string[];
  /** Further checks of the arguments: throw UsageError. */
  check?: (c: Subcommand) => void;
}

/**
 * Parses `SUBCOMMAND [ARGS] [--options]`. Returns the parsed command, or the exit status when it is
 * done: 0 after --help (the usage printed), 2 after a usage error (the message and the usage on stderr).
 */
export function parseSubcommand(argv: string[], out: CliIo, spec: SubcommandSpec): Subcommand | number {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        strict: true,
        options: { ...spec.options, help: { type: "boolean", short: "h" } },
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const values = parsed.values as OptionValues;
    if (values.help) {
      out.stdout(spec.usage);
      return 0;
    }
    const [sub, ...rest] = parsed.positionals;
    if (!sub) throw new UsageError("missing subcommand");
    if (!spec.subcommands.includes(sub)) throw new UsageError(`unknown subcommand "${sub}"`);
    const c = { sub, rest, values };
    spec.check?.(c);
    return c;
  } catch (e) {
    out.stderr(`${spec.prog}: ${(e as Error).message}\n${spec.usage}`);
    return 2;
  }
}

/** A --NAME MS option: a whole number of milliseconds, or `dflt` when absent. */
export function msOption(v: string | boolean | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "string" || !/^\d+$/.test(v))
    throw new UsageError(`--${name} must be a whole number of milliseconds, not "${String(v)}"`);
  return Number(v);
}
