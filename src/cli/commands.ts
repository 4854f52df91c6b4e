import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { inflateSync } from "node:zlib";
import { ContainerError, exportStream, listSnapshots, openVmState, writeEdited, type ContainerInfo, type OpenedVmState } from "../container";
import { decodeStream, encodeStream, readPageRun, type ByteSource, type DecodedStream, type VNode } from "../format";
import { dumpStateJson } from "../format/dump";
import { safeHelperFileNames } from "../format/helperFiles";
import { writeChunksAtomically } from "../io/writeChunks";
import { EditError, editLabel, editWarnings, type Edit } from "../model/edits";
import { StreamModel } from "../model/streamModel";

export interface CliIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

class UsageError extends Error {}

const USAGE = `usage: vmstate <command> [options]

commands:
  inspect FILE... [--json] [--snapshot T]
                                      sections, helpers and diagnostics of each stream
  dump FILE                           device state as JSON, like QEMU's analyze-migration.py -d state
  helpers FILE [--json] [--extract DIR]
                                      dbus-vmstate helper entries; --extract writes each blob + manifest.json
  ram FILE --extract DIR              one file per RAM block (like analyze-migration.py -x) + manifest.json
  rewrite FILE -o OUT                 decode and re-encode (byte-identical without edits)
  set-helper FILE --id ID (--from BLOB | --remove | --rename NEW) [--add] -o OUT [--force]
                                      replace, add (--add --from), remove or rename a dbus-vmstate helper entry;
                                      the section and the vmdesc are re-framed
  set-field FILE --section NAME[:INSTANCE]|#ID --field PATH --value V -o OUT [--force]
                                      set an integer or bool device field (PATH like env.regs[3] or sub/field)
  snapshots FILE [--json]             the internal snapshots of a qcow2 image (id, tag, VM state size, date, VM clock)
  extract-stream FILE [--snapshot T] -o OUT
                                      write the bare QEMU stream inside FILE, byte for byte
  bus list|save|load|check ...        talk to org.qemu.VMState1 helpers on a D-Bus bus (vmstate bus --help)

FILE may be a bare stream, a libvirt save image (raw, gzip, bzip2, xz, lzop), a gzip/xz/zstd/bzip2/lzop
compressed stream, or a qcow2 image with internal snapshots (--snapshot TAG|ID picks one; without it the
only snapshot with VM state). Offsets are in stream space. Edits (rewrite, set-helper, set-field) are written
into the same container (a libvirt image keeps header, XML and cookie; gzip stays gzip); --raw writes the
stream uncompressed where the compression cannot be written (bzip2, xz, lzop, zstd).

exit status: 0 no errors, 1 the stream has errors (or a check failed), 2 usage error
`;

function hex(n: number): string {
  return "0x" + n.toString(16);
}

function hasErrors(d: DecodedStream): boolean {
  return d.diagnostics.some((x) => x.severity === "error");
}

function printDiagnostics(io: CliIo, file: string, d: DecodedStream): void {
  for (const x of d.diagnostics) {
    if (x.severity === "info") continue;
    io.stderr(`${file}: ${x.severity} at ${hex(x.span.start)}: ${x.message} [${x.code}]\n`);
  }
}

function sha256(src: ByteSource, start: number, end: number): string {
  const h = createHash("sha256");
  for (let p = start; p < end; p += 1 << 20) h.update(src.read(p, Math.min(1 << 20, end - p)));
  return h.digest("hex");
}

/** inspect --json's "container" object. */
export function containerJson(c: ContainerInfo) {
  return {
    kind: c.kind,
    compression: c.compression,
    streamOffset: c.streamOffset,
    streamSize: c.streamSize,
    ...(c.wasRunning !== undefined ? { wasRunning: c.wasRunning } : {}),
    ...(c.xml !== undefined ? { xml: c.xml } : {}),
    ...(c.cookie !== undefined ? { cookie: c.cookie } : {}),
    ...(c.libvirt ? { libvirt: { magic: c.libvirt.magic, version: c.libvirt.version, dataLen: c.libvirt.dataLen, compressed: c.libvirt.compressed, cookieOffset: c.libvirt.cookieOffset } } : {}),
    ...(c.snapshot ? { snapshot: snapshotJson(c.snapshot) } : {}),
    ...(c.warnings.length ? { warnings: c.warnings } : {}),
  };
}

function snapshotJson(s: NonNullable<ContainerInfo["snapshot"]>) {
  return { id: s.id, tag: s.tag, vmStateSize: s.vmStateSize, date: s.date, vmClockNs: s.vmClockNs };
}

function containerText(c: ContainerInfo): string[] {
  if (c.kind === "stream") return [];
  const lines: string[] = [];
  if (c.kind === "libvirt-save") {
    const h = c.libvirt!;
    lines.push(`  container: libvirt save image (${h.magic}, version ${h.version}), compression ${c.compression}, was_running ${h.wasRunning}, data_len ${h.dataLen}, XML ${c.xml!.length} chars, cookie ${c.cookie !== undefined ? `${c.cookie.length} chars` : "none"}`);
  } else if (c.kind === "qcow2-snapshot") {
    const s = c.snapshot!;
    lines.push(`  container: qcow2 internal snapshot ${s.id} ${JSON.stringify(s.tag)}, VM state ${s.vmStateSize} bytes, ${s.date}, VM clock ${fmtClock(s.vmClockNs)}`);
  } else lines.push(`  container: ${c.kind}-compressed stream, ${c.fileSize} bytes compressed`);
  if (c.linear && c.streamOffset) lines.push(`  offsets are in stream space; file offset = stream offset + ${hex(c.streamOffset)}`);
  else if (!c.linear) lines.push(`  offsets are in stream space (the ${c.kind === "qcow2-snapshot" ? "stream is spread over qcow2 clusters" : "file holds it compressed"})`);
  for (const w of c.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

function fmtClock(ns: string): string {
  const n = BigInt(ns);
  const s = n / 1000000000n;
  return `${String(s / 3600n).padStart(2, "0")}:${String((s / 60n) % 60n).padStart(2, "0")}:${String(s % 60n).padStart(2, "0")}.${String((n % 1000000000n) / 1000000n).padStart(3, "0")}`;
}

function inspectJson(file: string, src: ByteSource, d: DecodedStream, c?: ContainerInfo) {
  return {
    file,
    ...(c ? { container: containerJson(c) } : {}),
    size: d.size,
    sections: d.sections.map((s) => ({ sectionId: s.sectionId, name: s.name, instanceId: s.instanceId, versionId: s.versionId, kind: s.kind, offset: s.offset, end: s.end })),
    helpers: d.helpers.map((h) => ({ id: h.id, size: h.size, offset: h.blob.start, sha256: sha256(src, h.blob.start, h.blob.end) })),
    diagnostics: d.diagnostics.map((x) => ({ severity: x.severity, code: x.code, message: x.message, offset: x.span.start })),
  };
}

function inspectText(file: string, src: ByteSource, d: DecodedStream, c?: ContainerInfo): string {
  const lines: string[] = [`${file}: ${d.size} bytes${c && c.kind !== "stream" ? " of QEMU stream" : ""}`, ...(c ? containerText(c) : [])];
  if (d.machineType !== undefined) lines.push(`  machine ${d.machineType}${d.capabilities.length ? `, capabilities: ${d.capabilities.join(", ")}` : ""}, page size ${d.pageSize}`);
  lines.push(`  ${d.sections.length} section records, vmdesc ${d.vmdesc ? `${d.vmdesc.devices.length} devices` : "absent"}`);
  if (d.ramBlocks.length) {
    lines.push("  RAM blocks:");
    for (const b of d.ramBlocks) lines.push(`    ${b.name.padEnd(40)} ${hex(b.usedLength)}${b.mrAddr !== undefined ? ` @ ${hex(b.mrAddr)}` : ""}`);
  }
  lines.push("  sections:");
  for (const s of d.sections) {
    lines.push(`    ${hex(s.offset).padStart(10)}..${hex(s.end).padEnd(10)} ${s.kind.toUpperCase().padEnd(5)} ${String(s.sectionId).padStart(3)} ${s.name} (instance ${s.instanceId}, v${s.versionId})`);
  }
  if (d.helpers.length) {
    lines.push("  dbus-vmstate helpers:");
    for (const h of d.helpers) lines.push(`    ${JSON.stringify(h.id).padEnd(30)} ${String(h.size).padStart(8)} bytes @ ${hex(h.blob.start)}  sha256 ${sha256(src, h.blob.start, h.blob.end)}`);
  }
  const shown = d.diagnostics.filter((x) => x.severity !== "info");
  if (shown.length) {
    lines.push("  diagnostics:");
    for (const x of shown) lines.push(`    ${x.severity} at ${hex(x.span.start)}: ${x.message} [${x.code}]`);
  }
  return lines.join("\n") + "\n";
}

function pageRuns(root: VNode): VNode[] {
  const out: VNode[] = [];
  const walk = (n: VNode) => {
    if (n.kind === "page-run" && n.lazy === "pages") out.push(n);
    for (const c of n.children ?? []) walk(c);
  };
  walk(root);
  return out;
}

function extractRam(src: ByteSource, d: DecodedStream, dir: string, io: CliIo): number {
  fs.mkdirSync(dir, { recursive: true });
  const names = safeHelperFileNames(d.ramBlocks.map((b) => b.name)).map((n) => n.replace(/\.bin$/, ".ram"));
  const files = new Map<string, { fd: number; size: number; written: Uint8Array; file: string }>();
  d.ramBlocks.forEach((b, i) => {
    const file = path.join(dir, names[i]!);
    const fd = fs.openSync(file, "w");
    fs.ftruncateSync(fd, b.usedLength);
    files.set(b.name, { fd, size: b.usedLength, written: new Uint8Array(Math.ceil(b.usedLength / d.pageSize / 8)), file });
  });
  const zero = new Uint8Array(d.pageSize);
  let problems = 0;
  try {
    for (const run of pageRuns(d.root)) {
      readPageRun(src, run, d.pageSize, (rec) => {
        const f = files.get(rec.block);
        if (!f || rec.addr + d.pageSize > f.size) {
          if (problems++ < 10) io.stderr(`warning: page ${hex(rec.addr)} of block ${JSON.stringify(rec.block)} at ${hex(rec.span.start)} is outside the blocks the stream declared\n`);
          return;
        }
        const pageNo = rec.addr / d.pageSize;
        const bit = 1 << (pageNo & 7);
        let data: Uint8Array | undefined;
        if (rec.kind === "page") data = src.read(rec.data.start, rec.data.end - rec.data.start);
        else if (rec.kind === "compressed") data = inflateSync(src.read(rec.data.start, rec.data.end - rec.data.start));
        else if (rec.kind === "zero") data = rec.fill ? new Uint8Array(d.pageSize).fill(rec.fill) : (f.written[pageNo >> 3]! & bit ? zero : undefined);
        else {
          if (problems++ < 10) io.stderr(`warning: XBZRLE page ${hex(rec.addr)} at ${hex(rec.span.start)} not applied\n`);
          return;
        }
        if (!data) return;
        let off = 0;
        while (off < data.length) off += fs.writeSync(f.fd, data, off, data.length - off, rec.addr + off);
        f.written[pageNo >> 3]! |= bit;
      });
    }
  } finally {
    for (const f of files.values()) fs.closeSync(f.fd);
  }
  const manifest = d.ramBlocks.map((b, i) => {
    const f = files.get(b.name)!;
    const h = createHash("sha256").update(fs.readFileSync(f.file)).digest("hex");
    return { block: b.name, file: names[i]!, size: b.usedLength, sha256: h };
  });
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const m of manifest) io.stdout(`${m.file}\t${m.size}\t${m.block}\n`);
  return problems ? 1 : 0;
}

function extractHelpers(src: ByteSource, d: DecodedStream, dir: string, io: CliIo): void {
  fs.mkdirSync(dir, { recursive: true });
  const names = safeHelperFileNames(d.helpers.map((h) => h.id));
  const manifest = d.helpers.map((h, i) => {
    const bytes = src.read(h.blob.start, h.size);
    fs.writeFileSync(path.join(dir, names[i]!), bytes);
    return { id: h.id, file: names[i]!, size: h.size, offset: h.blob.start, sha256: createHash("sha256").update(bytes).digest("hex") };
  });
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const m of manifest) io.stdout(`${m.file}\t${m.size}\t${JSON.stringify(m.id)}\n`);
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    io.stdout(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === "bus") {
    const { runBusCommand } = await import("./busCommand");
    return runBusCommand(rest, io);
  }
  const opts = {
    json: { type: "boolean" as const },
    extract: { type: "string" as const },
    output: { type: "string" as const, short: "o" },
    id: { type: "string" as const },
    from: { type: "string" as const },
    remove: { type: "boolean" as const },
    rename: { type: "string" as const },
    add: { type: "boolean" as const },
    force: { type: "boolean" as const },
    section: { type: "string" as const },
    field: { type: "string" as const },
    value: { type: "string" as const },
    snapshot: { type: "string" as const },
    raw: { type: "boolean" as const },
    help: { type: "boolean" as const, short: "h" },
  };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: opts, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const one = () => {
    if (positionals.length !== 1) throw new UsageError(`${cmd} takes exactly one FILE`);
    return positionals[0]!;
  };
  // read-only commands show what a cut-short compressed stream holds; writers never do
  const readOnly = ["inspect", "dump", "helpers", "ram"].includes(cmd);
  const openAny = async (file: string) => {
    const o = await openContainer(file, values.snapshot, readOnly);
    if (cmd !== "inspect") for (const w of o.container.warnings) io.stderr(`vmstate: ${file}: warning: ${w}\n`);
    return o;
  };
  switch (cmd) {
    case "inspect": {
      if (!positionals.length) throw new UsageError("inspect needs at least one FILE");
      let code = 0;
      const results = [];
      for (const file of positionals) {
        let opened: OpenedVmState;
        try {
          opened = await openAny(file);
        } catch (e) {
          if (!(e instanceof ContainerFail) || positionals.length === 1) throw e;
          io.stderr(e.message + "\n");
          if (values.json) results.push({ file, error: { code: e.cause.code, message: e.cause.message, offset: e.cause.offset } });
          code = Math.max(code, e.exitCode);
          continue;
        }
        const src = opened.source;
        try {
          const d = decodeStream(src);
          if (hasErrors(d)) code = Math.max(code, 1);
          if (values.json) results.push(inspectJson(file, src, d, opened.container));
          else io.stdout(inspectText(file, src, d, opened.container));
        } finally {
          opened.close();
        }
      }
      if (values.json) io.stdout(JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + "\n");
      return code;
    }
    case "dump": {
      const file = one();
      const opened = await openAny(file);
      const src = opened.source;
      try {
        const d = decodeStream(src);
        io.stdout(dumpStateJson(src, d));
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      } finally {
        opened.close();
      }
    }
    case "helpers": {
      const file = one();
      const opened = await openAny(file);
      const src = opened.source;
      try {
        const d = decodeStream(src);
        if (values.extract) extractHelpers(src, d, values.extract, io);
        else if (values.json) io.stdout(JSON.stringify(inspectJson(file, src, d).helpers, null, 2) + "\n");
        else for (const h of d.helpers) io.stdout(`${JSON.stringify(h.id)}\t${h.size}\t${hex(h.blob.start)}\t${sha256(src, h.blob.start, h.blob.end)}\n`);
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      } finally {
        opened.close();
      }
    }
    case "ram": {
      const file = one();
      if (!values.extract) throw new UsageError("ram needs --extract DIR");
      const opened = await openAny(file);
      const src = opened.source;
      try {
        const d = decodeStream(src);
        const code = extractRam(src, d, values.extract, io);
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : code;
      } finally {
        opened.close();
      }
    }
    case "snapshots": {
      const file = one();
      let list;
      try {
        list = listSnapshots(file);
      } catch (e) {
        if (e instanceof ContainerError) throw new ContainerFail(file, e);
        throw e;
      }
      if (values.json) io.stdout(JSON.stringify(list.map(snapshotJson), null, 2) + "\n");
      else {
        if (!list.length) io.stdout(`${file}: no internal snapshots\n`);
        else io.stdout(`${"ID".padEnd(6)} ${"TAG".padEnd(24)} ${"VM SIZE".padStart(12)} ${"DATE".padEnd(24)} VM CLOCK\n`);
        for (const s of list) io.stdout(`${s.id.padEnd(6)} ${s.tag.padEnd(24)} ${String(s.vmStateSize).padStart(12)} ${s.date.padEnd(24)} ${fmtClock(s.vmClockNs)}\n`);
      }
      return 0;
    }
    case "extract-stream": {
      const file = one();
      if (!values.output) throw new UsageError("extract-stream needs -o OUT");
      const opened = await openAny(file);
      try {
        const n = exportStream(opened, values.output);
        io.stdout(`wrote ${n} bytes of QEMU stream to ${values.output}\n`);
        return 0;
      } finally {
        opened.close();
      }
    }
    case "rewrite": {
      const file = one();
      if (!values.output) throw new UsageError("rewrite needs -o OUT");
      const opened = await openAny(file);
      const src = opened.source;
      try {
        const d = decodeStream(src);
        await writeBack(opened, encodeStream(d.root), values.output, !!values.raw, io);
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      } finally {
        opened.close();
      }
    }
    case "set-helper":
    case "set-field": {
      const file = one();
      if (!values.output) throw new UsageError(`${cmd} needs -o OUT`);
      const opened = await openAny(file);
      const src = opened.source;
      try {
        const model = new StreamModel(src);
        const edit = cmd === "set-helper" ? helperEdit(model, values) : fieldEdit(model, values);
        const warnings = editWarnings(model.decoded, edit);
        if (warnings.length && !values.force) {
          for (const w of warnings) io.stderr(`vmstate: refusing to write ${w}\n`);
          io.stderr("vmstate: QEMU would refuse or fail on this; pass --force to write it anyway (to test QEMU's error paths)\n");
          return 1;
        }
        for (const w of warnings) io.stderr(`vmstate: warning: writing ${w}\n`);
        try {
          model.apply(edit);
        } catch (e) {
          if (e instanceof EditError) {
            io.stderr(`vmstate: ${e.message}\n`);
            return 1;
          }
          throw e;
        }
        await writeBack(opened, model.saveChunks(), values.output, !!values.raw, io);
        io.stdout(`${editLabel(edit)}: wrote ${values.output}\n`);
        printDiagnostics(io, values.output, model.decoded);
        return 0;
      } finally {
        opened.close();
      }
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

interface EditArgs {
  id?: string;
  from?: string;
  remove?: boolean;
  rename?: string;
  add?: boolean;
  section?: string;
  field?: string;
  value?: string;
}

function readBlob(file: string): Uint8Array {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new UsageError(`${file} is not a file`);
    if (st.size > 64 * 1024 * 1024) throw new UsageError(`${file} is ${st.size} bytes; helper blobs are at most 1 MiB for QEMU`);
    return new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function helperEdit(model: StreamModel, v: EditArgs): Edit {
  if (v.id === undefined) throw new UsageError("set-helper needs --id ID");
  const actions = [v.from !== undefined, !!v.remove, v.rename !== undefined].filter(Boolean).length;
  if (actions !== 1) throw new UsageError("set-helper needs exactly one of --from BLOB, --remove, --rename NEW");
  const helpers = model.decoded.helpers;
  if (v.add) {
    if (v.from === undefined) throw new UsageError("--add needs --from BLOB");
    return { type: "helper-add", id: v.id, bytes: readBlob(v.from) };
  }
  const index = helpers.findIndex((h) => h.id === v.id);
  if (index < 0) throw new UsageError(`no helper with Id ${JSON.stringify(v.id)} (there are: ${helpers.map((h) => JSON.stringify(h.id)).join(", ") || "none"}); use --add to add one`);
  if (v.from !== undefined) return { type: "helper-set", index, id: v.id, bytes: readBlob(v.from) };
  if (v.remove) return { type: "helper-remove", index, id: v.id };
  return { type: "helper-rename", index, id: v.id, newId: v.rename! };
}

function fieldEdit(model: StreamModel, v: EditArgs): Edit {
  if (!v.section || !v.field || v.value === undefined) throw new UsageError("set-field needs --section, --field and --value");
  const sections = model.decoded.root.children!.filter((n) => n.kind === "section" && (n.info?.sectionKind === "full" || n.info?.sectionKind === "start"));
  let matches: VNode[];
  if (v.section.startsWith("#")) matches = sections.filter((n) => String(n.info!.sectionId) === v.section!.slice(1));
  else {
    const m = /^(.*?)(?::(\d+))?$/.exec(v.section)!;
    matches = sections.filter((n) => n.name === m[1] && (m[2] === undefined || String(n.info!.instanceId) === m[2]));
  }
  if (matches.length === 0) throw new UsageError(`no section ${v.section}`);
  if (matches.length > 1) throw new UsageError(`${v.section} names ${matches.length} sections (ids ${matches.map((n) => n.info!.sectionId).join(", ")}): use --section '#ID'`);
  const node = resolveFieldPath(matches[0]!, v.field);
  if (!node) throw new UsageError(`no field ${v.field} in ${v.section}`);
  return { type: "field-set", nodeId: node.id, value: v.value };
}

/** PATH: names joined by "/", an array element as name[k] (field names may contain dots). */
export function resolveFieldPath(section: VNode, path: string): VNode | undefined {
  let n: VNode | undefined = section;
  for (const seg of path.split("/")) {
    if (!n) return undefined;
    const kids: VNode[] = (n.children ?? []).filter((c) => !c.id.slice(c.id.lastIndexOf("/") + 1).startsWith("$"));
    const direct = kids.find((c) => c.name === seg);
    if (direct) {
      n = direct;
      continue;
    }
    const m = /^(.*)\[(\d+)\]$/.exec(seg);
    const arr = m ? kids.find((c) => c.kind === "array" && c.name === m[1]) : undefined;
    n = arr?.children?.find((c) => c.name === seg);
  }
  return n;
}

/** A file that could not be opened as a container: exit 2 for a snapshot choice, else 1. */
class ContainerFail extends Error {
  constructor(
    readonly file: string,
    override readonly cause: ContainerError,
  ) {
    super(`vmstate: ${file}: error${cause.offset !== undefined ? ` at ${hex(cause.offset)}` : ""}: ${cause.message} [${cause.code}]`);
  }
  get exitCode(): number {
    return ["snapshot-ambiguous", "snapshot-not-found", "not-qcow2", "cannot-open"].includes(this.cause.code) ? 2 : 1;
  }
}

async function openContainer(file: string, snapshot: string | undefined, keepPartial: boolean): Promise<OpenedVmState> {
  try {
    return await openVmState(file, { ...(snapshot !== undefined ? { snapshot } : {}), keepPartial });
  } catch (e) {
    if (e instanceof ContainerError) throw new ContainerFail(file, e);
    throw e;
  }
}

/** Writes edited stream chunks into the same kind of container (a bare stream stays bare). */
async function writeBack(opened: OpenedVmState, chunks: import("../format/encode").Chunk[], out: string, raw: boolean, io: CliIo): Promise<void> {
  const c = opened.container;
  if (c.kind === "stream") {
    writeChunksAtomically(out, opened.file, chunks);
    return;
  }
  try {
    const written = await writeEdited(opened, chunks, out, raw ? "raw" : "same");
    if (written !== c.compression) io.stderr(`vmstate: wrote ${out} uncompressed (was ${c.compression})\n`);
  } catch (e) {
    if (e instanceof ContainerError && e.code === "cannot-compress") throw new UsageError(`${e.message}; pass --raw to write it uncompressed`);
    if (e instanceof ContainerError && e.code === "read-only") throw new UsageError(`${e.message} (vmstate extract-stream FILE --snapshot T -o OUT, then edit the bare stream)`);
    throw e;
  }
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    if (e instanceof ContainerFail) {
      io.stderr(e.message + "\n");
      return e.exitCode;
    }
    if (e instanceof UsageError) {
      io.stderr(`vmstate: ${e.message}\n(vmstate --help shows the commands)\n`);
      return 2;
    }
    throw e;
  }
}
