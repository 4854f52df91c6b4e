import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { inflateSync } from "node:zlib";
import {
  ContainerError,
  exportStream,
  listSnapshots,
  openVmState,
  writeEdited,
  type ContainerInfo,
  type OpenedVmState,
} from "../container";
import {
  decodeStream,
  encodeStream,
  readPageRun,
  visitMappedBitmap,
  type ByteSource,
  type Chunk,
  type CommandInfo,
  type DecodedStream,
  type VNode,
} from "../format";
import { hex } from "../format/bytes";
import { escapeControls, jsonForTerminal } from "../format/escape";
import { dumpStateJson } from "../format/dump";
import {
  MIG_CMD_PACKAGED,
  MIG_CMD_PING,
  MIG_CMD_POSTCOPY_ADVISE,
  MIG_CMD_POSTCOPY_RAM_DISCARD,
  MIG_CMD_RECV_BITMAP,
} from "../format/commands";
import { manifestBytes, safeHelperFileNames, writeHelperFiles } from "../format/helperFiles";
import { readMultifdChannel, type MultifdChannel } from "../format/multifd";
import { FileByteSource, fileKind } from "../io/fileSource";
import { writeAllSync, writeFileInDir } from "../io/safeWrite";
import { writeChunksAtomically } from "../io/writeChunks";
import { EditError, editLabel, editWarnings, type Edit } from "../model/edits";
import { StreamModel } from "../model/streamModel";
import { UsageError, type CliIo } from "./args";

export type { CliIo };
/** Writing the output failed (a full disk, permissions): exit 1 with this message. */
class OutputError extends Error {}

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
  diff A B [--json]                   what differs between two VM states (exit 0 same, 1 different)
  bus list|save|load|check ...        talk to org.qemu.VMState1 helpers on a D-Bus bus (vmstate bus --help)
  qmp info|capture|load ...           a running QEMU over QMP: its VM info, capture its state to a file,
                                      load a file into a QEMU started with -incoming defer (vmstate qmp --help)

FILE may be a bare stream, a libvirt save image (raw, gzip, bzip2, xz, lzop), a gzip/xz/zstd/bzip2/lzop
compressed stream, or a qcow2 image with internal snapshots (--snapshot TAG|ID picks one; without it the
only snapshot with VM state). Offsets are in stream space. Edits (rewrite, set-helper, set-field) are written
into the same container (a libvirt image keeps header, XML and cookie; gzip stays gzip); --raw writes the
stream uncompressed where the compression cannot be written (bzip2, xz, lzop, zstd).

exit status: 0 no errors, 1 the stream has errors (or a check failed), 2 usage error
`;

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
    names = fs
      .readdirSync(dir)
      .filter((n) => n.startsWith(`${base}.channel`))
      .sort();
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
  const pages = (c: MultifdChannel) =>
    `${c.normalPages} page${c.normalPages === 1 ? "" : "s"} + ${c.zeroPages} zero pages${c.error ? `; ${c.error}` : ""}`;
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
    io.stderr(
      `${escapeControls(file)}: ${x.severity} at ${hex(x.span.start)}: ${escapeControls(x.message)} [${x.code}]\n`,
    );
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
    ...(c.libvirt
      ? {
          libvirt: {
            magic: c.libvirt.magic,
            version: c.libvirt.version,
            dataLen: c.libvirt.dataLen,
            compressed: c.libvirt.compressed,
            cookieOffset: c.libvirt.cookieOffset,
          },
        }
      : {}),
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
    lines.push(
      `  container: libvirt save image (${h.magic}, version ${h.version}), compression ${c.compression}, was_running ${h.wasRunning}, data_len ${h.dataLen}, XML ${c.xml!.length} chars, cookie ${c.cookie !== undefined ? `${c.cookie.length} chars` : "none"}`,
    );
  } else if (c.kind === "qcow2-snapshot") {
    const s = c.snapshot!;
    lines.push(
      `  container: qcow2 internal snapshot ${s.id} ${JSON.stringify(s.tag)}, VM state ${s.vmStateSize} bytes, ${s.date}, VM clock ${fmtClock(s.vmClockNs)}`,
    );
  } else lines.push(`  container: ${c.kind}-compressed stream, ${c.fileSize} bytes compressed`);
  if (c.linear && c.streamOffset)
    lines.push(`  offsets are in stream space; file offset = stream offset + ${hex(c.streamOffset)}`);
  else if (!c.linear)
    lines.push(
      `  offsets are in stream space (the ${c.kind === "qcow2-snapshot" ? "stream is spread over qcow2 clusters" : "file holds it compressed"})`,
    );
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
    sections: d.sections.map((s) => ({
      sectionId: s.sectionId,
      name: s.name,
      instanceId: s.instanceId,
      versionId: s.versionId,
      kind: s.kind,
      offset: s.offset,
      end: s.end,
    })),
    commands: d.commands.map((c) => ({ name: c.name, cmd: c.cmd, offset: c.offset, end: c.end })),
    helpers: d.helpers.map((h) => ({
      id: h.id,
      size: h.size,
      offset: h.blob.start,
      sha256: sha256(src, h.blob.start, h.blob.end),
    })),
    diagnostics: d.diagnostics.map((x) => ({
      severity: x.severity,
      code: x.code,
      message: x.message,
      offset: x.span.start,
    })),
  };
}

function inspectText(file: string, src: ByteSource, d: DecodedStream, c?: ContainerInfo): string {
  const lines: string[] = [
    `${file}: ${d.size} bytes${c && c.kind !== "stream" ? " of QEMU stream" : ""}`,
    ...(c ? containerText(c) : []),
  ];
  if (d.machineType !== undefined)
    lines.push(
      `  machine ${d.machineType}${d.capabilities.length ? `, capabilities: ${d.capabilities.join(", ")}` : ""}, page size ${d.pageSize}`,
    );
  lines.push(
    `  ${d.sections.length} section records, vmdesc ${d.vmdesc ? `${d.vmdesc.devices.length} devices` : "absent"}`,
  );
  if (d.ramBlocks.length) {
    lines.push("  RAM blocks:");
    for (const b of d.ramBlocks)
      lines.push(`    ${b.name.padEnd(40)} ${hex(b.usedLength)}${b.mrAddr !== undefined ? ` @ ${hex(b.mrAddr)}` : ""}`);
  }
  lines.push(d.commands.length ? "  sections and commands:" : "  sections:");
  for (const r of recordLines(d)) lines.push(r);
  if (d.helpers.length) {
    lines.push("  dbus-vmstate helpers:");
    for (const h of d.helpers)
      lines.push(
        `    ${JSON.stringify(h.id).padEnd(30)} ${String(h.size).padStart(8)} bytes @ ${hex(h.blob.start)}  sha256 ${sha256(src, h.blob.start, h.blob.end)}`,
      );
  }
  const shown = d.diagnostics.filter((x) => x.severity !== "info");
  if (shown.length) {
    lines.push("  diagnostics:");
    for (const x of shown) lines.push(`    ${x.severity} at ${hex(x.span.start)}: ${x.message} [${x.code}]`);
  }
  // names and messages come from the stream: one line each, no terminal control sequences
  return lines.map(escapeControls).join("\n") + "\n";
}

/** Section and QEMU_VM_COMMAND records in stream order; records inside PACKAGED are indented. */
function recordLines(d: DecodedStream): string[] {
  const packaged = d.commands.filter((c) => c.cmd === MIG_CMD_PACKAGED);
  const depth = (off: number) => packaged.filter((p) => off > p.offset && off < p.end).length;
  const rows: { offset: number; text: string }[] = [];
  for (const s of d.sections) {
    rows.push({
      offset: s.offset,
      text: `${hex(s.offset).padStart(10)}..${hex(s.end).padEnd(10)} ${"  ".repeat(depth(s.offset))}${s.kind.toUpperCase().padEnd(5)} ${String(s.sectionId).padStart(3)} ${s.name} (instance ${s.instanceId}, v${s.versionId})`,
    });
  }
  for (const c of d.commands) {
    rows.push({
      offset: c.offset,
      text: `${hex(c.offset).padStart(10)}..${hex(c.end).padEnd(10)} ${"  ".repeat(c.depth)}CMD   ${String(c.cmd).padStart(3)} ${c.name}${commandArgs(c)}`,
    });
  }
  return rows.sort((a, b) => a.offset - b.offset).map((r) => `    ${r.text}`);
}

function commandArgs(c: CommandInfo): string {
  const a = c.args;
  if (!a) return "";
  switch (c.cmd) {
    case MIG_CMD_PING:
      return ` ${a.value}`;
    case MIG_CMD_POSTCOPY_ADVISE:
      return a.target_page_size !== undefined
        ? ` (page size summary ${hex(Number(a.ram_pagesize_summary))}, target page size ${a.target_page_size})`
        : " (dirty bitmaps only)";
    case MIG_CMD_POSTCOPY_RAM_DISCARD:
      return ` ${JSON.stringify(a.block)}: ${a.ranges} range${a.ranges === 1 ? "" : "s"}, ${a.bytes} bytes`;
    case MIG_CMD_PACKAGED:
      return ` (${a.length} bytes)`;
    case MIG_CMD_RECV_BITMAP:
      return ` ${JSON.stringify(a.block)}`;
    default:
      return "";
  }
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

/** The smallest page record QEMU writes: a be64 header and one fill byte (a ZERO page continuing a block). */
const MIN_PAGE_RECORD = 9;
const HASH_CHUNK = 1 << 20;
/** At most this many lines of the same kind of problem are printed; the rest are counted. */
const MAX_MESSAGES = 20;

function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create the folder ${dir}: ${errText(e)}`);
  }
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw new UsageError(`${dir} is ${fileKind(st)}, not a folder`);
}

/**
 * `ram --extract DIR`: one file per RAM block, like analyze-migration.py -x. Hostile streams are
 * bounded (docs/LIMITS.md): a block is extracted only if the stream could hold its pages (QEMU
 * writes every page in at least MIN_PAGE_RECORD bytes, so all blocks together have at most
 * size/9 pages); pages the stream does not carry are holes of a sparse file (never allocated);
 * one block file is open at a time; each file is created with O_EXCL|O_NOFOLLOW (or under a fresh
 * temporary name renamed over a taken one), so links already in DIR are replaced, never followed;
 * the sha256 is computed by reading the file back 1 MiB at a time.
 */
function extractRam(
  src: ByteSource,
  d: DecodedStream,
  dir: string,
  io: CliIo,
  channels: CapturedChannel[] = [],
): number {
  ensureDir(dir);
  const ps = d.pageSize;
  const names = safeHelperFileNames(d.ramBlocks.map((b) => b.name)).map((n) => n.replace(/\.bin$/, ".ram"));
  const runsByBlock = new Map<string, VNode[]>();
  const recordsByBlock = new Map<string, number>();
  for (const run of pageRuns(d.root)) {
    const name = run.info?.block ?? "";
    const list = runsByBlock.get(name);
    if (list) list.push(run);
    else runsByBlock.set(name, [run]);
    recordsByBlock.set(name, (recordsByBlock.get(name) ?? 0) + (run.info?.count ?? 0));
  }
  let problems = 0;
  const warn = (msg: string) => {
    if (problems++ < MAX_MESSAGES) io.stderr(`vmstate: ${escapeControls(msg)}\n`);
  };
  const zero = new Uint8Array(HASH_CHUNK);
  // multifd channel captures carry pages too: a normal page is 4 KiB there, a zero page an 8-byte offset
  let budget = Math.floor(src.size / MIN_PAGE_RECORD) + channels.reduce((t, c) => t + Math.floor(c.src.size / 8), 0);
  const firstByName = new Map<string, number>();
  const known = new Set(d.ramBlocks.map((b) => b.name));
  for (const name of runsByBlock.keys())
    if (!known.has(name))
      warn(
        `pages of block ${JSON.stringify(name)} (${recordsByBlock.get(name)} records) name a block the stream never declared: not extracted`,
      );
  const manifest: { block: string; file?: string; size: number; sha256?: string; skipped?: string }[] = [];
  // multifd over a socket: the pages are in the captured FILE.channelN packets (packet_num order:
  // a page sent again later wins); without all of them the blocks are not the guest's RAM
  const multifd = d.diagnostics.some((x) => x.code === "multifd-pages-elsewhere");
  const badChannels = channels.filter((c) => c.channel.error);
  const packets =
    multifd && channels.length && !badChannels.length
      ? channels
          .flatMap((c) => c.channel.packets.map((p) => ({ p, src: c.src, name: c.name })))
          .sort((a, b) => a.p.packetNum - b.p.packetNum)
      : [];
  if (multifd && !packets.length) {
    problems++;
    io.stderr(
      `vmstate: error: the RAM pages of this multifd migration are not in this file (they went over the other multifd channels)${badChannels.length ? `, and ${escapeControls(badChannels.map((c) => `${c.name}: ${c.channel.error}`).join("; "))}` : ", and no FILE.channelN captures are next to it"}: the extracted blocks hold only what the main channel carried, not the guest's RAM\n`,
    );
  }
  for (const { p, name } of packets)
    if (!known.has(p.block))
      warn(
        `${name}: packet at ${hex(p.offset)} names RAM block ${JSON.stringify(p.block)}, which the stream does not declare`,
      );
  d.ramBlocks.forEach((b, i) => {
    const label = JSON.stringify(b.name);
    const used = b.usedLength;
    const dup = firstByName.get(b.name);
    if (dup === undefined) firstByName.set(b.name, i);
    else
      warn(
        `RAM block ${label} is declared twice (blocks #${dup} and #${i}); QEMU looks blocks up by name, so its pages belong to #${dup}; #${i} is written as ${names[i]} without pages`,
      );
    const records = dup === undefined ? (recordsByBlock.get(b.name) ?? 0) : 0;
    const pages = Math.ceil(used / ps);
    if (!Number.isSafeInteger(used) || used < 0) {
      warn(`RAM block ${label} declares an impossible size (${used}): not extracted`);
      manifest.push({ block: b.name, size: used, skipped: "impossible size" });
      return;
    }
    if (records === 0 && b.mrAddr !== undefined && pages > budget) {
      io.stderr(
        `vmstate: RAM block ${escapeControls(label)} has no pages in the stream (x-ignore-shared: shared memory is not migrated): not extracted\n`,
      );
      manifest.push({ block: b.name, size: used, skipped: "no pages in the stream (x-ignore-shared)" });
      return;
    }
    if (pages > budget) {
      warn(
        `RAM block ${label} declares ${hex(used)} bytes (${pages} pages), more than the ${src.size}-byte stream can hold (at most ${budget} more pages of ${MIN_PAGE_RECORD}+ bytes each): not extracted`,
      );
      manifest.push({ block: b.name, size: used, skipped: "larger than the stream can hold" });
      return;
    }
    budget -= pages;
    const written = new Uint8Array(Math.ceil(pages / 8));
    let sha = "";
    const file = names[i]!;
    try {
      writeFileInDir(dir, file, (fd) => {
        fs.ftruncateSync(fd, used);
        for (const run of dup === undefined ? (runsByBlock.get(b.name) ?? []) : []) {
          readPageRun(src, run, ps, (rec) => {
            if (rec.addr + ps > used) {
              warn(
                `page ${hex(rec.addr)} of block ${label} at ${hex(rec.span.start)} is outside the block's ${hex(used)} bytes`,
              );
              return;
            }
            const pageNo = rec.addr / ps;
            const bit = 1 << (pageNo & 7);
            let data: Uint8Array | undefined;
            if (rec.kind === "page") data = src.read(rec.data.start, rec.data.end - rec.data.start);
            else if (rec.kind === "compressed") {
              try {
                data = inflateSync(src.read(rec.data.start, rec.data.end - rec.data.start), { maxOutputLength: ps });
              } catch (e) {
                warn(
                  `compressed page ${hex(rec.addr)} of block ${label} at ${hex(rec.span.start)} does not inflate to a page: ${(e as Error).message}`,
                );
                return;
              }
            } else if (rec.kind === "zero")
              data = rec.fill
                ? new Uint8Array(ps).fill(rec.fill)
                : written[pageNo >> 3]! & bit
                  ? zero.subarray(0, ps)
                  : undefined;
            else {
              warn(`XBZRLE page ${hex(rec.addr)} of block ${label} at ${hex(rec.span.start)} not applied`);
              return;
            }
            if (!data) return;
            writeAllSync(fd, data, rec.addr);
            written[pageNo >> 3]! |= bit;
          });
        }
        // mapped-ram: a page whose bitmap bit is set is at pages_offset + index * page_size; the
        // others are zero pages (holes of the block file)
        const m = dup === undefined ? b.mapped : undefined;
        if (m) {
          visitMappedBitmap(
            src,
            m,
            (first, count, present) => {
              if (!present) return;
              for (let p = first; p < first + count;) {
                const n = Math.min(first + count - p, HASH_CHUNK / ps);
                const want = Math.min(n * ps, used - p * ps);
                if (want <= 0) return;
                const at = m.pagesOffset + p * ps;
                const data = src.read(at, want);
                if (data.length < want) {
                  warn(
                    `RAM block ${label}: pages ${hex(p * ps)}..${hex(p * ps + want)} are marked present but file offsets ${hex(at)}..${hex(at + want)} cannot be read (the file ends at ${hex(src.size)}); those pages are missing from ${file}, not zero`,
                  );
                  return;
                }
                writeAllSync(fd, data, p * ps);
                for (let q = p; q < p + n; q++) written[q >> 3]! |= 1 << (q & 7);
                p += n;
              }
            },
            0,
            m.pages,
            HASH_CHUNK,
          );
        }
        for (const { p, src: ch, name } of dup === undefined ? packets : []) {
          if (p.block !== b.name) continue;
          p.normal.forEach((addr, k) => {
            if (addr + ps > used) return warn(`${name}: page ${hex(addr)} of ${label} is outside the block`);
            writeAllSync(fd, ch.read(p.data + k * ps, ps), addr);
            written[(addr / ps) >> 3]! |= 1 << ((addr / ps) & 7);
          });
          // a zero page sent after a normal one replaces it
          for (const addr of p.zero) {
            const pageNo = addr / ps;
            if (addr + ps <= used && written[pageNo >> 3]! & (1 << (pageNo & 7)))
              writeAllSync(fd, zero.subarray(0, ps), addr);
          }
        }
        sha = hashFile(fd, used);
      });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new OutputError(`cannot write ${path.join(dir, file)}: ${errText(e)}`);
    }
    manifest.push({ block: b.name, file, size: used, sha256: sha });
  });
  if (d.capabilities.includes("mapped-ram")) {
    for (const b of d.ramBlocks) {
      if (!b.mapped && !(b.mrAddr !== undefined && d.capabilities.includes("x-ignore-shared"))) {
        problems++;
        io.stderr(
          `vmstate: error: RAM block ${escapeControls(JSON.stringify(b.name))}: its mapped-ram pages could not be located; the extracted file is not its content\n`,
        );
      }
    }
  }
  if (problems > MAX_MESSAGES) io.stderr(`vmstate: … and ${problems - MAX_MESSAGES} more problems\n`);
  putInDir(dir, "manifest.json", manifestBytes(manifest));
  for (const m of manifest)
    io.stdout(
      `${m.file ?? "-"}\t${m.size}\t${escapeControls(m.block)}${m.skipped ? `\t(not extracted: ${m.skipped})` : ""}\n`,
    );
  return problems ? 1 : 0;
}

/** sha256 of the first `size` bytes of an open file, read back 1 MiB at a time (never the whole file in memory). */
function hashFile(fd: number, size: number): string {
  const h = createHash("sha256");
  const buf = new Uint8Array(HASH_CHUNK);
  for (let off = 0; off < size;) {
    const got = fs.readSync(fd, buf, 0, Math.min(HASH_CHUNK, size - off), off);
    if (got <= 0) throw new Error(`short read at ${hex(off)}`);
    h.update(buf.subarray(0, got));
    off += got;
  }
  return h.digest("hex");
}

/** Writes DIR/name as extractRam writes (no links followed); a failure is an OutputError. */
function putInDir(dir: string, name: string, bytes: Uint8Array): void {
  try {
    writeFileInDir(dir, name, (fd) => writeAllSync(fd, bytes));
  } catch (e) {
    throw new OutputError(`cannot write ${path.join(dir, name)}: ${errText(e)}`);
  }
}

/** `helpers --extract DIR`: each blob and manifest.json, written as extractRam writes (no links followed). */
async function extractHelpers(src: ByteSource, d: DecodedStream, dir: string, io: CliIo): Promise<void> {
  ensureDir(dir);
  const manifest = await writeHelperFiles(
    d.helpers.map((h) => ({ id: h.id, size: h.size, offset: h.blob.start })),
    (i) => src.read(d.helpers[i]!.blob.start, d.helpers[i]!.size),
    (bytes) => createHash("sha256").update(bytes).digest("hex"),
    (name, bytes) => putInDir(dir, name, bytes),
  );
  for (const m of manifest) io.stdout(`${m.file}\t${m.size}\t${escapeControls(JSON.stringify(m.id))}\n`);
}

/** An errno as words: "ENOSPC (no space left on device)". */
function errText(e: unknown): string {
  const x = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOSPC: "no space left on device",
    EDQUOT: "disk quota exceeded",
    EISDIR: "it is a directory",
    ENOENT: "no such file or directory",
    ENOTDIR: "a part of the path is not a directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "read-only file system",
    EFBIG: "file too large for the file system",
    EMFILE: "too many open files",
    EEXIST: "it exists",
    ELOOP: "too many symbolic links",
    EIO: "I/O error",
  };
  if (x && typeof x.code === "string") return words[x.code] ? `${x.code} (${words[x.code]})` : x.code;
  return x instanceof Error ? x.message : String(e);
}

/**
 * Checks `-o OUT` before any work: a missing folder, a directory or a symbolic link is a usage
 * error. A link is refused rather than replaced or written through: `-o link` would otherwise
 * either destroy the link or silently overwrite whatever it points to (docs/LIMITS.md).
 */
function checkOutputPath(out: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new UsageError(`cannot use -o ${out}: ${errText(e)}`);
  }
  if (st?.isSymbolicLink()) {
    let to = "";
    try {
      to = fs.readlinkSync(out);
    } catch {
      /* unreadable link */
    }
    throw new UsageError(
      `-o ${out} is a symbolic link${to ? ` (to ${to})` : ""}: vmstate neither replaces links nor writes through them; give the real path`,
    );
  }
  if (st && !st.isFile()) throw new UsageError(`-o ${out} is ${fileKind(st)}, not a file`);
  const dir = path.dirname(path.resolve(out));
  let ds: fs.Stats;
  try {
    ds = fs.statSync(dir);
  } catch (e) {
    throw new UsageError(`cannot write ${out}: the folder ${dir} does not exist or cannot be reached (${errText(e)})`);
  }
  if (!ds.isDirectory()) throw new UsageError(`cannot write ${out}: ${dir} is ${fileKind(ds)}, not a folder`);
}

/** Writes -o OUT (temp file + rename); I/O failures become a clear message (exit 1), the temp file is removed. */
function writeOutput(out: string, src: FileByteSource, chunks: Chunk[]): void {
  try {
    writeChunksAtomically(out, src, chunks);
  } catch (e) {
    throw new OutputError(`cannot write ${out}: ${errText(e)}; nothing was written`);
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    io.stdout(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === "diff") {
    const { runDiffCommand } = await import("./diffCommand");
    return runDiffCommand(rest, io);
  }
  if (cmd === "bus") {
    const { runBusCommand } = await import("./busCommand");
    return runBusCommand(rest, io);
  }
  if (cmd === "qmp") {
    const { runQmpCommand } = await import("./qmpCommand");
    return runQmpCommand(rest, io);
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
  /** The writers' -o OUT, checked before any work. */
  const outputPath = (): string => {
    if (!values.output) throw new UsageError(`${cmd} needs -o OUT`);
    checkOutputPath(values.output);
    return values.output;
  };
  /** Opens FILE (any container) for one command and closes it again, whatever the command does. */
  const withStream = async <T>(
    file: string,
    fn: (opened: OpenedVmState, src: ByteSource) => T | Promise<T>,
  ): Promise<T> => {
    const opened = await openAny(file);
    try {
      return await fn(opened, opened.source);
    } finally {
      opened.close();
    }
  };
  switch (cmd) {
    case "inspect": {
      if (!positionals.length) throw new UsageError("inspect needs at least one FILE");
      let code = 0;
      const results = [];
      for (const file of positionals) {
        try {
          await withStream(file, (opened, src) => {
            const d = decodeStream(src);
            closeChannels(multifdChannels(file, d));
            if (hasErrors(d)) code = Math.max(code, 1);
            if (values.json) results.push(inspectJson(file, src, d, opened.container));
            else io.stdout(inspectText(file, src, d, opened.container));
          });
        } catch (e) {
          // only opening throws ContainerFail: with several files, report it and go on
          if (!(e instanceof ContainerFail) || positionals.length === 1) throw e;
          io.stderr(e.message + "\n");
          if (values.json)
            results.push({ file, error: { code: e.cause.code, message: e.cause.message, offset: e.cause.offset } });
          code = Math.max(code, e.exitCode);
        }
      }
      if (values.json)
        io.stdout(jsonForTerminal(JSON.stringify(results.length === 1 ? results[0] : results, null, 2)) + "\n");
      return code;
    }
    case "dump": {
      const file = one();
      return withStream(file, (_o, src) => {
        const d = decodeStream(src);
        closeChannels(multifdChannels(file, d));
        io.stdout(dumpStateJson(src, d));
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      });
    }
    case "helpers": {
      const file = one();
      return withStream(file, async (_o, src) => {
        const d = decodeStream(src);
        if (values.extract) await extractHelpers(src, d, values.extract, io);
        else if (values.json)
          io.stdout(jsonForTerminal(JSON.stringify(inspectJson(file, src, d).helpers, null, 2)) + "\n");
        else
          for (const h of d.helpers)
            io.stdout(
              `${escapeControls(JSON.stringify(h.id))}\t${h.size}\t${hex(h.blob.start)}\t${sha256(src, h.blob.start, h.blob.end)}\n`,
            );
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      });
    }
    case "ram": {
      const file = one();
      const dir = values.extract;
      if (!dir) throw new UsageError("ram needs --extract DIR");
      return withStream(file, (_o, src) => {
        const d = decodeStream(src);
        const channels = multifdChannels(file, d);
        let code: number;
        try {
          code = extractRam(src, d, dir, io, channels);
        } finally {
          closeChannels(channels);
        }
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : code;
      });
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
        else
          io.stdout(`${"ID".padEnd(6)} ${"TAG".padEnd(24)} ${"VM SIZE".padStart(12)} ${"DATE".padEnd(24)} VM CLOCK\n`);
        for (const s of list)
          io.stdout(
            `${s.id.padEnd(6)} ${s.tag.padEnd(24)} ${String(s.vmStateSize).padStart(12)} ${s.date.padEnd(24)} ${fmtClock(s.vmClockNs)}\n`,
          );
      }
      return 0;
    }
    case "extract-stream": {
      const file = one();
      const out = outputPath();
      return withStream(file, (opened) => {
        const n = exportStream(opened, out);
        io.stdout(`wrote ${n} bytes of QEMU stream to ${out}\n`);
        return 0;
      });
    }
    case "rewrite": {
      const file = one();
      const out = outputPath();
      return withStream(file, async (opened, src) => {
        const d = decodeStream(src);
        await writeBack(opened, encodeStream(d.root), out, !!values.raw, io);
        printDiagnostics(io, file, d);
        return hasErrors(d) ? 1 : 0;
      });
    }
    case "set-helper":
    case "set-field": {
      const file = one();
      const out = outputPath();
      return withStream(file, async (opened, src) => {
        const model = new StreamModel(src);
        const edit = cmd === "set-helper" ? helperEdit(model, values) : fieldEdit(model, values);
        const warnings = editWarnings(model.decoded, edit);
        if (warnings.length && !values.force) {
          for (const w of warnings) io.stderr(`vmstate: refusing to write ${escapeControls(w)}\n`);
          io.stderr(
            "vmstate: QEMU would refuse or fail on this; pass --force to write it anyway (to test QEMU's error paths)\n",
          );
          return 1;
        }
        for (const w of warnings) io.stderr(`vmstate: warning: writing ${escapeControls(w)}\n`);
        try {
          model.apply(edit);
        } catch (e) {
          if (e instanceof EditError) {
            io.stderr(`vmstate: ${escapeControls(e.message)}\n`);
            return 1;
          }
          throw e;
        }
        await writeBack(opened, model.saveChunks(), out, !!values.raw, io);
        io.stdout(`${escapeControls(editLabel(edit))}: wrote ${out}\n`);
        printDiagnostics(io, out, model.decoded);
        return 0;
      });
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
    if (st.size > 64 * 1024 * 1024)
      throw new UsageError(`${file} is ${st.size} bytes; helper blobs are at most 1 MiB for QEMU`);
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
  if (index < 0)
    throw new UsageError(
      `no helper with Id ${JSON.stringify(v.id)} (there are: ${helpers.map((h) => JSON.stringify(h.id)).join(", ") || "none"}); use --add to add one`,
    );
  if (v.from !== undefined) return { type: "helper-set", index, id: v.id, bytes: readBlob(v.from) };
  if (v.remove) return { type: "helper-remove", index, id: v.id };
  return { type: "helper-rename", index, id: v.id, newId: v.rename! };
}

function fieldEdit(model: StreamModel, v: EditArgs): Edit {
  if (!v.section || !v.field || v.value === undefined)
    throw new UsageError("set-field needs --section, --field and --value");
  const sections = model.decoded.root.children!.filter(
    (n) => n.kind === "section" && (n.info?.sectionKind === "full" || n.info?.sectionKind === "start"),
  );
  let matches: VNode[];
  if (v.section.startsWith("#")) matches = sections.filter((n) => String(n.info!.sectionId) === v.section!.slice(1));
  else {
    const m = /^(.*?)(?::(\d+))?$/.exec(v.section)!;
    matches = sections.filter((n) => n.name === m[1] && (m[2] === undefined || String(n.info!.instanceId) === m[2]));
  }
  if (matches.length === 0) throw new UsageError(`no section ${v.section}`);
  if (matches.length > 1)
    throw new UsageError(
      `${v.section} names ${matches.length} sections (ids ${matches.map((n) => n.info!.sectionId).join(", ")}): use --section '#ID'`,
    );
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
    super(
      `vmstate: ${file}: error${cause.offset !== undefined ? ` at ${hex(cause.offset)}` : ""}: ${cause.message} [${cause.code}]`,
    );
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
async function writeBack(
  opened: OpenedVmState,
  chunks: import("../format/encode").Chunk[],
  out: string,
  raw: boolean,
  io: CliIo,
): Promise<void> {
  const c = opened.container;
  if (c.kind === "stream") {
    writeOutput(out, opened.file, chunks);
    return;
  }
  try {
    const written = await writeEdited(opened, chunks, out, raw ? "raw" : "same");
    if (written !== c.compression) io.stderr(`vmstate: wrote ${out} uncompressed (was ${c.compression})\n`);
  } catch (e) {
    if (e instanceof ContainerError && e.code === "cannot-compress")
      throw new UsageError(`${e.message}; pass --raw to write it uncompressed`);
    if (e instanceof ContainerError && e.code === "read-only")
      throw new UsageError(`${e.message} (vmstate extract-stream FILE --snapshot T -o OUT, then edit the bare stream)`);
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
      io.stderr(`vmstate: ${escapeControls(e.message)}\n(vmstate --help shows the commands)\n`);
      return 2;
    }
    if (e instanceof OutputError) {
      io.stderr(`vmstate: ${escapeControls(e.message)}\n`);
      return 1;
    }
    // an I/O error nobody expected (EIO reading the input…): a message, not a stack trace
    if (
      e &&
      typeof (e as NodeJS.ErrnoException).code === "string" &&
      typeof (e as NodeJS.ErrnoException).syscall === "string"
    ) {
      io.stderr(
        `vmstate: ${errText(e)} (${(e as NodeJS.ErrnoException).syscall}${(e as NodeJS.ErrnoException).path ? ` ${(e as NodeJS.ErrnoException).path}` : ""})\n`,
      );
      return 1;
    }
    throw e;
  }
}
