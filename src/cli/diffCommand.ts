// `vmstate diff A B [--json]`: what differs between two VM states (src/diff does the work).
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { inflateSync } from "node:zlib";
import { compareStreams, unreadableReason } from "../diff/compare";
import type { StreamDiff } from "../diff/types";
import { decodeStream, type DecodedStream } from "../format";
import { hex } from "../format/bytes";
import { HelperWorker, helperWorkerScript } from "../io/decodeInWorker";
import { OpenError, openVmStateFile, type OpenedVmState } from "../container/openForCompare";
import type { CliIo } from "./commands";

export const DIFF_USAGE = `usage: vmstate diff A B [--json] [--snapshot-a TAG|ID] [--snapshot-b TAG|ID]

Compare two VM states: configuration and capabilities, sections present in one only (by name and
instance), device fields that differ (path, both values, offsets in each file), dbus-vmstate
helpers added, removed or changed, and RAM page by page per block.
A and B may be any file vmstate reads: bare streams, libvirt save images (raw or compressed),
compressed streams, qcow2 internal snapshots (--snapshot-a/--snapshot-b pick one).

exit status: 0 the same, 1 different, 2 usage error or an input that is not a migration stream
--json prints the result object described in docs/DIFF.md
`;

export function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

export function inflatePage(b: Uint8Array): Uint8Array {
  return new Uint8Array(inflateSync(b));
}

export function formatDiffText(d: StreamDiff): string {
  const L: string[] = [];
  const sideLine = (tag: string, s: StreamDiff["a"]) =>
    `${tag}: ${s.file} (${s.size} bytes${s.machineType ? `, ${s.machineType}` : ""}${s.capabilities.length ? `, capabilities ${s.capabilities.join(" ")}` : ""})`;
  L.push(sideLine("A", d.a), sideLine("B", d.b));
  const c = d.configuration;
  if (c.machineType)
    L.push(`machine type: ${JSON.stringify(c.machineType.a ?? null)} -> ${JSON.stringify(c.machineType.b ?? null)}`);
  if (c.pageSize) L.push(`page size: ${c.pageSize.a} -> ${c.pageSize.b}`);
  if (c.capabilities.onlyA.length) L.push(`capabilities only in A: ${c.capabilities.onlyA.join(", ")}`);
  if (c.capabilities.onlyB.length) L.push(`capabilities only in B: ${c.capabilities.onlyB.join(", ")}`);
  const sref = (s: StreamDiff["sections"]["onlyA"][number]) => `${s.key} (v${s.versionId}, at ${hex(s.offset)})`;
  if (d.sections.onlyA.length)
    L.push(`sections only in A (${d.sections.onlyA.length}):`, ...d.sections.onlyA.map((s) => `  ${sref(s)}`));
  if (d.sections.onlyB.length)
    L.push(`sections only in B (${d.sections.onlyB.length}):`, ...d.sections.onlyB.map((s) => `  ${sref(s)}`));
  if (d.sections.versionChanged.length)
    L.push("section versions:", ...d.sections.versionChanged.map((v) => `  ${v.key}: v${v.a} -> v${v.b}`));
  if (d.fields.length) {
    L.push(
      `fields (${d.counts.fields} differ${d.fieldsTruncated ? `, first ${d.fields.length} listed` : ""}${d.counts.configuration ? `; configuration ${d.counts.configuration}` : ""}):`,
    );
    for (const f of d.fields) {
      const v = (s?: StreamDiff["fields"][number]["a"]) => (s ? `${s.value} @${hex(s.offset)}` : "(absent)");
      const tag = f.status === "only-a" ? " [only in A]" : f.status === "only-b" ? " [only in B]" : "";
      L.push(
        `  ${f.path}${tag}`,
        `      A: ${v(f.a)}`,
        `      B: ${v(f.b)}${f.firstDiff !== undefined ? `  (first differing byte +${f.firstDiff})` : ""}`,
      );
    }
  }
  if (d.helpers.length) {
    L.push(`dbus-vmstate helpers (${d.helpers.length} differ):`);
    for (const h of d.helpers) {
      const s = (x?: StreamDiff["helpers"][number]["a"]) =>
        x ? `${x.size} bytes @${hex(x.offset)} sha256 ${x.sha256}` : "(absent)";
      L.push(
        `  ${JSON.stringify(h.id)} ${h.status === "changed" ? `changed, first differing byte ${h.firstDiff}` : h.status === "only-a" ? "only in A" : "only in B"}`,
        `      A: ${s(h.a)}`,
        `      B: ${s(h.b)}`,
      );
    }
  }
  for (const bl of d.ram.blocks) {
    if (bl.status === "same") continue;
    if (bl.status === "only-a" || bl.status === "only-b") {
      L.push(
        `RAM block ${bl.name}: only in ${bl.status === "only-a" ? "A" : "B"} (${hex(bl.usedLengthA ?? bl.usedLengthB ?? 0)} bytes)`,
      );
      continue;
    }
    const parts = Object.entries(bl.counts)
      .filter(([, n]) => n)
      .map(([k, n]) => `${n} ${k}`);
    L.push(
      `RAM block ${bl.name}: ${parts.join(", ") || "sizes differ"} (${bl.comparedPages} pages compared${bl.usedLengthA !== bl.usedLengthB ? `; used_length ${hex(bl.usedLengthA ?? 0)} -> ${hex(bl.usedLengthB ?? 0)}` : ""})`,
    );
    for (const r of bl.ranges.slice(0, 20))
      L.push(`  ${hex(r.start)}..${hex(r.end)}  ${r.pages} page${r.pages === 1 ? "" : "s"} ${r.change}`);
    if (bl.ranges.length > 20 || bl.rangesTruncated)
      L.push(`  ... (${bl.ranges.length}${bl.rangesTruncated ? "+" : ""} ranges; --json lists up to 1000)`);
    for (const p of bl.first.slice(0, 5))
      L.push(
        `  page ${hex(p.addr)}: ${p.change}${p.aOffset !== undefined ? `, A @${hex(p.aOffset)}` : ""}${p.bOffset !== undefined ? `, B @${hex(p.bOffset)}` : ""}${p.firstDiff !== undefined ? `, first differing byte +${p.firstDiff}` : ""}`,
      );
  }
  for (const n of d.notes) L.push(`${n.severity}: ${n.message} [${n.code}]`);
  const k = d.counts;
  L.push(
    d.same
      ? "the states are the same"
      : `differences: ${[
          k.configuration && `${k.configuration} configuration`,
          k.sections && `${k.sections} section`,
          k.fields && `${k.fields} field`,
          k.helpers && `${k.helpers} helper`,
          k.ramPages && `${k.ramPages} RAM page`,
          k.ramBlocks && !k.ramPages && `${k.ramBlocks} RAM block`,
        ]
          .filter(Boolean)
          .join(", ")}`,
  );
  return L.join("\n") + "\n";
}

function checkReadable(o: OpenedVmState, d: DecodedStream): DecodedStream {
  const fatal = unreadableReason(d);
  if (fatal) throw new OpenError(`${o.label}: ${fatal}`);
  return d;
}

export async function runDiffCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        json: { type: "boolean" },
        "snapshot-a": { type: "string" },
        "snapshot-b": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    io.stderr(`vmstate diff: ${(e as Error).message}\n${DIFF_USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout(DIFF_USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 2) {
    io.stderr(`vmstate diff: needs exactly two files, A and B\n${DIFF_USAGE}`);
    return 2;
  }
  const [fa, fb] = parsed.positionals as [string, string];
  const opened: OpenedVmState[] = [];
  const helpers: (HelperWorker | undefined)[] = [];
  try {
    const snapA = parsed.values["snapshot-a"] as string | undefined;
    const snapB = parsed.values["snapshot-b"] as string | undefined;
    const a = await openVmStateFile(fa, snapA !== undefined ? { snapshot: snapA } : {});
    opened.push(a);
    const b = await openVmStateFile(fb, snapB !== undefined ? { snapshot: snapB } : {});
    opened.push(b);
    // a second thread decodes A while this one decodes B, then compares half of the RAM
    // dist/diffWorker.js beside dist/cli.js (absent when this runs from the unit tests' bundle)
    const script = helperWorkerScript(__dirname);
    const pa = a.path;
    const pb = b.path;
    const helper = script && pa !== undefined && pb !== undefined ? new HelperWorker(script) : undefined;
    helpers.push(helper);
    const pending = helper ? helper.decode(pa!).catch(() => undefined) : Promise.resolve(undefined);
    const db = checkReadable(b, decodeStream(b.src, { readAhead: !helper }));
    const da = checkReadable(a, (await pending) ?? decodeStream(a.src));
    const opts: Parameters<typeof compareStreams>[2] = { sha256: sha256Hex, inflate: inflatePage };
    let slices = 0;
    if (helper) {
      opts.ramRemote = (job) => {
        slices++;
        return helper.ramSlice(pa!, pb!, job);
      };
    }
    // tests: split even small blocks between the threads, and say how many slices went over
    const split = Number(process.env.VMSTATE_DIFF_SPLIT_BYTES);
    if (Number.isSafeInteger(split) && split > 0) opts.ramSplitBytes = split;
    const { diff } = await compareStreams(
      { file: a.label, src: a.src, decoded: da },
      { file: b.label, src: b.src, decoded: db },
      opts,
    );
    io.stdout(parsed.values.json ? JSON.stringify(diff, null, 2) + "\n" : formatDiffText(diff));
    if (opts.ramSplitBytes !== undefined)
      io.stderr(`vmstate diff: ${slices} RAM slice(s) compared in the helper thread\n`);
    return diff.same ? 0 : 1;
  } catch (e) {
    if (e instanceof OpenError) {
      io.stderr(`vmstate diff: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    for (const o of opened) o.close();
    for (const h of helpers) h?.close();
  }
}
