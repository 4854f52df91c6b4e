import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { inflateSync } from "node:zlib";
import { decodeStream, encodeStream, readPageRun, visitMappedBitmap, type CommandInfo, type DecodedStream, type VNode } from "../format";
import { dumpStateJson } from "../format/dump";
import { safeHelperFileNames } from "../format/helperFiles";
import { readMultifdChannel, type MultifdChannel } from "../format/multifd";
import { FileByteSource } from "../io/fileSource";
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
  inspect FILE... [--json]            sections, helpers and diagnostics of each stream
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
  bus list|save|load|check ...        talk to org.qemu.VMState1 helpers on a D-Bus bus (vmstate bus --help)

exit status: 0 no errors, 1 the stream has errors (or a check failed), 2 usage error
`;

function hex(n: number): string {
  return "0x" + n.toString(16);
}

function open(file: string): FileByteSource {
  try {
    return FileByteSource.open(file);
  } catch (e) {
    throw new UsageError(`cannot open ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

interface CapturedChannel {
  name: string;
  src: FileByteSource;
  channel: MultifdChannel;
}

/**
 * multifd over a socket: the decoder can only say that the pages went elsewhere. Capture tools
 * (like the fixture relay) keep the other connections as FILE.channelN: read, name and count
 * them. The caller closes the returned sources.
 */
function multifdChannels(file: string, d: DecodedStream): CapturedChannel[] {
  const diag = d.diagnostics.find((x) => x.code === "multifd-pages-elsewhere");
  if (!diag) return [];
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith(`${base}.channel`)).sort();
  } catch {
    names = [];
  }
  const out: CapturedChannel[] = [];
  for (const n of names) {
    let src: FileByteSource | undefined;
    try {
      src = FileByteSource.open(path.join(dir, n));
      const channel = readMultifdChannel(src, d.pageSize);
      if (channel) {
        out.push({ name: n, src, channel });
        src = undefined;
      }
    } catch {
      // unreadable sibling: not counted
    } finally {
      src?.close();
    }
  }
  const pages = (c: MultifdChannel) => `${c.normalPages} page${c.normalPages === 1 ? "" : "s"} + ${c.zeroPages} zero pages${c.error ? `; ${c.error}` : ""}`;
  diag.message += out.length
    ? `; ${out.length} other channel${out.length === 1 ? "" : "s"} captured next to it: ${out.map((c) => `${c.name} (channel id ${c.channel.id}: ${pages(c.channel)})`).join(", ")}`
    : "; no FILE.channelN captures of those channels are next to it, so how many there were (the multifd-channels parameter) is not known";
  return out;
}

function closeChannels(chs: CapturedChannel[]): void {
  for (const c of chs) c.src.close();
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

function sha256(src: FileByteSource, start: number, end: number): string {
  const h = createHash("sha256");
  for (let p = start; p < end; p += 1 << 20) h.update(src.read(p, Math.min(1 << 20, end - p)));
  return h.digest("hex");
}

function inspectJson(file: string, src: FileByteSource, d: DecodedStream) {
  return {
    file,
    size: d.size,
    sections: d.sections.map((s) => ({ sectionId: s.sectionId, name: s.name, instanceId: s.instanceId, versionId: s.versionId, kind: s.kind, offset: s.offset, end: s.end })),
    commands: d.commands.map((c) => ({ name: c.name, cmd: c.cmd, offset: c.offset, end: c.end })),
    helpers: d.helpers.map((h) => ({ id: h.id, size: h.size, offset: h.blob.start, sha256: sha256(src, h.blob.start, h.blob.end) })),
    diagnostics: d.diagnostics.map((x) => ({ severity: x.severity, code: x.code, message: x.message, offset: x.span.start })),
  };
}

function inspectText(file: string, src: FileByteSource, d: DecodedStream): string {
  const lines: string[] = [`${file}: ${d.size} bytes`];
  if (d.machineType !== undefined) lines.push(`  machine ${d.machineType}${d.capabilities.length ? `, capabilities: ${d.capabilities.join(", ")}` : ""}, page size ${d.pageSize}`);
  lines.push(`  ${d.sections.length} section records, vmdesc ${d.vmdesc ? `${d.vmdesc.devices.length} devices` : "absent"}`);
  if (d.ramBlocks.length) {
    lines.push("  RAM blocks:");
    for (const b of d.ramBlocks) lines.push(`    ${b.name.padEnd(40)} ${hex(b.usedLength)}${b.mrAddr !== undefined ? ` @ ${hex(b.mrAddr)}` : ""}`);
  }
  lines.push(d.commands.length ? "  sections and commands:" : "  sections:");
  for (const r of recordLines(d)) lines.push(r);
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

/** Section and QEMU_VM_COMMAND records in stream order; records inside PACKAGED are indented. */
function recordLines(d: DecodedStream): string[] {
  const packaged = d.commands.filter((c) => c.name === "PACKAGED");
  const depth = (off: number) => packaged.filter((p) => off > p.offset && off < p.end).length;
  const rows: { offset: number; text: string }[] = [];
  for (const s of d.sections) {
    rows.push({ offset: s.offset, text: `${hex(s.offset).padStart(10)}..${hex(s.end).padEnd(10)} ${"  ".repeat(depth(s.offset))}${s.kind.toUpperCase().padEnd(5)} ${String(s.sectionId).padStart(3)} ${s.name} (instance ${s.instanceId}, v${s.versionId})` });
  }
  for (const c of d.commands) {
    rows.push({ offset: c.offset, text: `${hex(c.offset).padStart(10)}..${hex(c.end).padEnd(10)} ${"  ".repeat(c.depth)}CMD   ${String(c.cmd).padStart(3)} ${c.name}${commandArgs(c)}` });
  }
  return rows.sort((a, b) => a.offset - b.offset).map((r) => `    ${r.text}`);
}

function commandArgs(c: CommandInfo): string {
  const a = c.args;
  if (!a) return "";
  switch (c.name) {
    case "PING":
      return ` ${a.value}`;
    case "POSTCOPY_ADVISE":
      return a.target_page_size !== undefined ? ` (page size summary ${hex(Number(a.ram_pagesize_summary))}, target page size ${a.target_page_size})` : " (dirty bitmaps only)";
    case "POSTCOPY_RAM_DISCARD":
      return ` ${JSON.stringify(a.block)}: ${a.ranges} range${a.ranges === 1 ? "" : "s"}, ${a.bytes} bytes`;
    case "PACKAGED":
      return ` (${a.length} bytes)`;
    case "RECV_BITMAP":
      return ` ${JSON.stringify(a.block)}`;
    default:
      return "";
  }
}

/**
 * multifd over a socket with the channels captured: every packet of every channel in packet_num
 * order (a page sent again later wins), normal pages from the bytes after each packet; zero pages
 * are zero in the ftruncated files already. Returns the number of problems.
 */
function extractFromChannels(d: DecodedStream, channels: CapturedChannel[], files: Map<string, { fd: number; size: number; file: string }>, io: CliIo): number {
  const all = channels.flatMap((c) => c.channel.packets.map((p) => ({ p, src: c.src, name: c.name })));
  all.sort((a, b) => a.p.packetNum - b.p.packetNum);
  let problems = 0;
  const zero = new Uint8Array(d.pageSize);
  for (const { p, src, name } of all) {
    const f = files.get(p.block);
    if (!f) {
      if (problems++ < 10) io.stderr(`error: ${name}: packet at ${hex(p.offset)} names RAM block ${JSON.stringify(p.block)}, which the stream does not declare\n`);
      continue;
    }
    const put = (data: Uint8Array, at: number) => {
      let off = 0;
      while (off < data.length) off += fs.writeSync(f.fd, data, off, data.length - off, at + off);
    };
    p.normal.forEach((addr, i) => {
      if (addr + d.pageSize > f.size) {
        if (problems++ < 10) io.stderr(`error: ${name}: page ${hex(addr)} of ${JSON.stringify(p.block)} is outside the block\n`);
        return;
      }
      put(src.read(p.data + i * d.pageSize, d.pageSize), addr);
    });
    // a zero page sent after a normal one replaces it
    for (const addr of p.zero) if (addr + d.pageSize <= f.size) put(zero, addr);
  }
  return problems;
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

function extractRam(src: FileByteSource, d: DecodedStream, dir: string, io: CliIo, channels: CapturedChannel[] = []): number {
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
    // mapped-ram: every page whose bitmap bit is set is at pages_offset + index * page_size;
    // the others are zero pages (the ftruncated file already reads as zeros there)
    for (const b of d.ramBlocks) {
      const m = b.mapped;
      if (!m) continue;
      const f = files.get(b.name)!;
      visitMappedBitmap(src, m, (first, count, present) => {
        if (!present) return;
        for (let p = first; p < first + count; ) {
          const n = Math.min(first + count - p, (1 << 20) / d.pageSize);
          const want = Math.min(n * d.pageSize, b.usedLength - p * d.pageSize);
          const at = m.pagesOffset + p * d.pageSize;
          const data = src.read(at, want);
          if (data.length < want) {
            problems++;
            io.stderr(`error: RAM block ${JSON.stringify(b.name)}: pages ${hex(p * d.pageSize)}..${hex(p * d.pageSize + want)} are marked present but file offsets ${hex(at)}..${hex(at + want)} cannot be read (the file ends at ${hex(src.size)}); those pages are missing from ${f.file}, not zero\n`);
            return;
          }
          let off = 0;
          while (off < data.length) off += fs.writeSync(f.fd, data, off, data.length - off, p * d.pageSize + off);
          p += n;
        }
      }, 0, m.pages, 1 << 20);
    }
    if (d.diagnostics.some((x) => x.code === "multifd-pages-elsewhere")) {
      const bad = channels.filter((c) => c.channel.error);
      if (!channels.length || bad.length) {
        problems++;
        io.stderr(`error: the RAM pages of this multifd migration are not in this file (they went over the other multifd channels)${bad.length ? `, and ${bad.map((c) => `${c.name}: ${c.channel.error}`).join("; ")}` : ", and no FILE.channelN captures are next to it"}: the extracted blocks hold only what the main channel carried, not the guest's RAM\n`);
      } else {
        problems += extractFromChannels(d, channels, files, io);
      }
    }
  } finally {
    for (const f of files.values()) fs.closeSync(f.fd);
  }
  if (d.capabilities.includes("mapped-ram")) {
    for (const b of d.ramBlocks) {
      if (!b.mapped && !(b.mrAddr !== undefined && d.capabilities.includes("x-ignore-shared"))) {
        problems++;
        io.stderr(`error: RAM block ${JSON.stringify(b.name)}: its mapped-ram pages could not be located; the extracted file is not its content\n`);
      }
    }
  }
  const manifest = d.ramBlocks.map((b, i) => {
    const f = files.get(b.name)!;
    const h = sha256File(f.file);
    return { block: b.name, file: names[i]!, size: b.usedLength, sha256: h };
  });
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const m of manifest) io.stdout(`${m.file}\t${m.size}\t${m.block}\n`);
  return problems ? 1 : 0;
}

/** sha256 of a file read 1 MiB at a time (RAM blocks can be larger than a Buffer may be). */
function sha256File(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

function extractHelpers(src: FileByteSource, d: DecodedStream, dir: string, io: CliIo): void {
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
  switch (cmd) {
    case "inspect": {
      if (!positionals.length) throw new UsageError("inspect needs at least one FILE");
      let code = 0;
      const results = [];
      for (const file of positionals) {
        const src = open(file);
        try {
          const d = decodeStream(src);
          closeChannels(multifdChannels(file, d));
          if (hasErrors(d)) code = 1;
          if (values.json) results.push(inspectJson(file, src, d));
          else io.stdout(inspectText(file, src, d));
        } finally {
          src.close();
        }
      }
      if (values.json) io.stdout(JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + "\n");
      return code;
    }
    case "dump": {
      const file = one();
      const src = open(file);
      try {
        const d = decodeStream(src);
        closeChannels(multifdChannels(file, d));
        io.stdout(dumpStateJson(src, d));
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      } finally {
        src.close();
      }
    }
    case "helpers": {
      const file = one();
      const src = open(file);
      try {
        const d = decodeStream(src);
        if (values.extract) extractHelpers(src, d, values.extract, io);
        else if (values.json) io.stdout(JSON.stringify(inspectJson(file, src, d).helpers, null, 2) + "\n");
        else for (const h of d.helpers) io.stdout(`${JSON.stringify(h.id)}\t${h.size}\t${hex(h.blob.start)}\t${sha256(src, h.blob.start, h.blob.end)}\n`);
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      } finally {
        src.close();
      }
    }
    case "ram": {
      const file = one();
      if (!values.extract) throw new UsageError("ram needs --extract DIR");
      const src = open(file);
      try {
        const d = decodeStream(src);
        const channels = multifdChannels(file, d);
        let code: number;
        try {
          code = extractRam(src, d, values.extract, io, channels);
        } finally {
          closeChannels(channels);
        }
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : code;
      } finally {
        src.close();
      }
    }
    case "rewrite": {
      const file = one();
      if (!values.output) throw new UsageError("rewrite needs -o OUT");
      const src = open(file);
      try {
        const d = decodeStream(src);
        writeChunksAtomically(values.output, src, encodeStream(d.root));
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      } finally {
        src.close();
      }
    }
    case "set-helper":
    case "set-field": {
      const file = one();
      if (!values.output) throw new UsageError(`${cmd} needs -o OUT`);
      const src = open(file);
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
        writeChunksAtomically(values.output, src, model.saveChunks());
        io.stdout(`${editLabel(edit)}: wrote ${values.output}\n`);
        printDiagnostics(io, values.output, model.decoded);
        return 0;
      } finally {
        src.close();
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

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`vmstate: ${e.message}\n(vmstate --help shows the commands)\n`);
      return 2;
    }
    throw e;
  }
}
