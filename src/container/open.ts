// The one entry point: open any file that carries a QEMU migration stream (a bare stream, a
// libvirt save image raw or compressed, a compressed stream, a qcow2 internal snapshot) and get
// the bare stream as a ByteSource, with what carried it and the stream -> file offset mapping.
import * as fs from "node:fs";
import { toHex } from "../format/bytes";
import type { ByteSource } from "../format/types";
import { FileByteSource, NotRegularFileError } from "../io/fileSource";
import { decompressToTemp, type DecompressOptions } from "./decompress";
import { describeUnknown, detectKind, MAGIC } from "./detect";
import { parseLibvirtHeader } from "./libvirt";
import { checkQcow2Usable, parseQcow2Header, pickSnapshot, Qcow2VmStateSource, readSnapshotTable } from "./qcow2";
import { ContainerError, hex, SliceSource, type Compression, type ContainerInfo, type SnapshotInfo } from "./types";

export interface OpenOptions extends DecompressOptions {
  /** qcow2: snapshot id or tag (default: the only snapshot with VM state) */
  snapshot?: string;
}

export interface OpenedVmState {
  /** the bare QEMU stream (stream space: offset 0 is "QEVM") */
  source: ByteSource & { close?(): void };
  /** the file itself */
  file: FileByteSource;
  container: ContainerInfo;
  /** file offset of a stream offset, or undefined where there is none (compressed data, zero clusters) */
  toFileOffset(streamOffset: number): number | undefined;
  close(): void;
}

const COMPRESSED_KINDS = { gzip: "gzip", xz: "xz", zstd: "zstd", bzip2: "bzip2", lzop: "lzop" } as const;

function openFile(path: string): FileByteSource {
  try {
    return FileByteSource.open(path);
  } catch (e) {
    // a FIFO, a device or a folder is refused before anything is read (opening a FIFO would block)
    if (e instanceof NotRegularFileError)
      throw new ContainerError(
        "cannot-open",
        `cannot open ${path}: it is ${e.kind}, not a regular file (vmstate reads only regular files)`,
      );
    throw new ContainerError(
      "cannot-open",
      `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** Checks that the compressor's signature is where the libvirt header says the data starts. */
function expectCompressed(file: ByteSource, at: number, compression: Compression): void {
  const head = file.read(at, 16);
  const kind = detectKind(head);
  const want = compression === "none" ? "stream" : compression;
  if (kind !== want) {
    const found = kind ? `${kind} data` : describeUnknown(head);
    throw new ContainerError(
      "bad-payload",
      `the libvirt header says the stream at ${hex(at)} is ${compression === "none" ? "a raw QEMU stream" : `${compression}-compressed`}, but ${found} is there`,
      at,
    );
  }
}

export async function openVmState(path: string, opts: OpenOptions = {}): Promise<OpenedVmState> {
  const file = openFile(path);
  try {
    return await openOn(path, file, opts);
  } catch (e) {
    file.close();
    throw e;
  }
}

async function openOn(path: string, file: FileByteSource, opts: OpenOptions): Promise<OpenedVmState> {
  const head = file.read(0, 16);
  const kind = detectKind(head);
  if (opts.snapshot !== undefined && kind !== "qcow2-snapshot") {
    throw new ContainerError(
      "not-qcow2",
      `a snapshot (${JSON.stringify(opts.snapshot)}) was asked for, but ${path} is not a qcow2 image: it is ${kind ? `a ${kind === "stream" ? "bare QEMU stream" : kind === "libvirt-part" ? "libvirt save image" : kind} file` : describeUnknown(file.read(0, 512))}`,
      0,
    );
  }
  const base: Pick<ContainerInfo, "fileSize" | "warnings"> = { fileSize: file.size, warnings: [] as string[] };
  const linear = (source: ByteSource, offset: number) => (s: number) =>
    s >= 0 && s <= source.size ? s + offset : undefined;
  // a compressed stream, bare or in a libvirt image, from info.streamOffset on: its source is the
  // temp file it decompresses to, and no stream offset has a file offset
  const fromDecompressed = async (
    info: Omit<ContainerInfo, "streamSize" | "linear">,
    compression: Exclude<Compression, "none">,
  ): Promise<OpenedVmState> => {
    const d = await decompressToTemp(path, info.streamOffset, compression, opts);
    const src = FileByteSource.open(d.path);
    if (d.partial) base.warnings.push(d.partial);
    const container: ContainerInfo = {
      ...info,
      streamSize: src.size,
      linear: false,
      ...(d.partial ? { partial: true } : {}),
    };
    return {
      source: src,
      file,
      container,
      toFileOffset: () => undefined,
      close: () => (src.close(), d.dispose(), file.close()),
    };
  };
  switch (kind) {
    case "stream": {
      const container: ContainerInfo = {
        ...base,
        kind: "stream",
        compression: "none",
        streamOffset: 0,
        streamSize: file.size,
        linear: true,
      };
      return { source: file, file, container, toFileOffset: linear(file, 0), close: () => file.close() };
    }
    case "libvirt-save":
    case "libvirt-part": {
      const p = parseLibvirtHeader(file);
      const warnings = base.warnings;
      if (kind === "libvirt-part")
        warnings.push(
          `the image starts with "LibvirtQemudPart": libvirt never finished writing this save (it writes "LibvirtQemudSave" last), so the stream is likely cut short and libvirt will refuse to restore it`,
        );
      const info = {
        ...base,
        warnings,
        kind: "libvirt-save" as const,
        compression: p.compression,
        streamOffset: p.streamOffset,
        wasRunning: p.header.wasRunning !== 0,
        xml: p.xml,
        ...(p.cookie !== undefined ? { cookie: p.cookie } : {}),
        libvirt: p.header,
      };
      if (file.size === p.streamOffset)
        throw new ContainerError(
          "truncated",
          `the libvirt save image ends right after its XML area at ${hex(p.streamOffset)}: there is no QEMU stream`,
          p.streamOffset,
        );
      expectCompressed(file, p.streamOffset, p.compression);
      if (p.compression === "none") {
        const source = new SliceSource(file, p.streamOffset, file.size - p.streamOffset);
        const container: ContainerInfo = { ...info, streamSize: source.size, linear: true };
        return { source, file, container, toFileOffset: linear(source, p.streamOffset), close: () => file.close() };
      }
      return fromDecompressed(info, p.compression);
    }
    case "gzip":
    case "xz":
    case "zstd":
    case "bzip2":
    case "lzop": {
      const compression = COMPRESSED_KINDS[kind];
      return fromDecompressed({ ...base, kind, compression, streamOffset: 0 }, compression);
    }
    case "qcow2-snapshot": {
      const h = parseQcow2Header(file);
      const snapshots = readSnapshotTable(file, h);
      const snap = pickSnapshot(snapshots, opts.snapshot);
      const source = new Qcow2VmStateSource(file, h, snap);
      const first = source.size ? source.fileOffset(0) : "zero";
      const head4 = source.read(0, 4);
      if (!MAGIC.qevm.every((x, i) => head4[i] === x)) {
        throw new ContainerError(
          "not-qemu-stream",
          `the VM state of snapshot ${snap.id} ${JSON.stringify(snap.tag)} does not start with "QEVM" (found ${toHex(head4, " ")}${first === "zero" ? ", an unallocated cluster" : ` at file offset ${hex(first)}`})`,
          first === "zero" ? snap.entryOffset : first,
        );
      }
      const container: ContainerInfo = {
        ...base,
        warnings: checkQcow2Usable(h),
        kind: "qcow2-snapshot",
        compression: "none",
        streamOffset: typeof first === "number" ? first : 0,
        streamSize: source.size,
        linear: false,
        snapshot: snap,
        snapshots,
      };
      const toFileOffset = (s: number) => {
        if (s < 0 || s >= source.size) return undefined;
        const f = source.fileOffset(s);
        return f === "zero" ? undefined : f;
      };
      return { source, file, container, toFileOffset, close: () => file.close() };
    }
    default:
      throw new ContainerError(
        "bad-magic",
        `not a QEMU migration stream: magic at 0x0 is ${toHex(head.subarray(0, 4), " ")}, expected 51 45 56 4d ("QEVM"), nor a file that carries one (libvirt save image, gzip/xz/zstd/bzip2/lzop stream, qcow2 with internal snapshots): it looks like ${describeUnknown(file.read(0, 512))}`,
        0,
      );
  }
}

/** The snapshot table of a qcow2 image (empty list when it has none). */
export function listSnapshots(path: string): SnapshotInfo[] {
  const file = openFile(path);
  try {
    if (detectKind(file.read(0, 16)) !== "qcow2-snapshot")
      throw new ContainerError(
        "not-qcow2",
        `${path} is not a qcow2 image: it looks like ${describeUnknown(file.read(0, 512))}`,
        0,
      );
    return readSnapshotTable(file, parseQcow2Header(file));
  } finally {
    file.close();
  }
}

/** Writes the bare stream of an opened container to `out` (temp file + rename). */
export function exportStream(opened: OpenedVmState, out: string): number {
  const src = opened.source;
  const tmp = `${out}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o644);
  try {
    const buf = new Uint8Array(4 * 1024 * 1024);
    for (let p = 0; p < src.size;) {
      const n = Math.min(buf.length, src.size - p);
      const got = src.readInto ? src.readInto(p, buf.subarray(0, n)) : (buf.set(src.read(p, n)), n);
      if (got <= 0) throw new ContainerError("truncated", `could not read the stream at ${hex(p)}`);
      let off = 0;
      while (off < got) off += fs.writeSync(fd, buf, off, got - off);
      p += got;
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.renameSync(tmp, out);
  return src.size;
}

/**
 * Opens any file as a bare stream without looking at its content (the editor's fallback for a
 * file that is none of the known containers: the decoder then reports the bad magic with a
 * partial view, and `why` says what the file looked like).
 */
export function openAsBareStream(path: string, why?: string): OpenedVmState {
  const file = openFile(path);
  const container: ContainerInfo = {
    kind: "stream",
    compression: "none",
    streamOffset: 0,
    streamSize: file.size,
    fileSize: file.size,
    linear: true,
    warnings: why ? [why] : [],
  };
  return {
    source: file,
    file,
    container,
    toFileOffset: (s) => (s >= 0 && s <= file.size ? s : undefined),
    close: () => file.close(),
  };
}

/** Whether opening `path` will decompress (so a UI shows progress): cheap, reads 32 bytes. */
export function needsDecompression(path: string): boolean {
  let fd: number | undefined;
  try {
    // O_NONBLOCK: a FIFO must not block the caller (the editor asks on the extension host's thread)
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    if (!fs.fstatSync(fd).isFile()) return false;
    const b = new Uint8Array(32);
    const n = fs.readSync(fd, b, 0, 32, 0);
    const kind = detectKind(b.subarray(0, n));
    if (kind === "gzip" || kind === "xz" || kind === "zstd" || kind === "bzip2" || kind === "lzop") return true;
    // the `compressed` field (either byte order: zero is zero)
    if (kind === "libvirt-save" || kind === "libvirt-part")
      return n >= 32 && new DataView(b.buffer).getUint32(28) !== 0;
    return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
