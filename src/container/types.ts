// What a file that carries a QEMU migration stream is, and the one error type of src/container.
import type { ByteSource, ScanCursor } from "../format/types";

export type ContainerKind = "stream" | "libvirt-save" | "gzip" | "xz" | "zstd" | "bzip2" | "lzop" | "qcow2-snapshot";
export type Compression = "none" | "gzip" | "bzip2" | "xz" | "lzop" | "zstd";

/** libvirt's save image header (src/qemu/qemu_saveimage.h, virQEMUSaveHeader) as read. */
export interface LibvirtHeader {
  magic: "LibvirtQemudSave" | "LibvirtQemudPart";
  littleEndian: boolean;
  version: number;
  dataLen: number;
  wasRunning: number;
  /** the `compressed` field: 0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop (QEMU_SAVE_FORMAT_*) */
  compressed: number;
  cookieOffset: number;
  /** file offsets of the XML and cookie text (each NUL-terminated inside the data area) */
  xmlSpan: { start: number; end: number };
  cookieSpan?: { start: number; end: number };
  /** zero bytes after the cookie up to 92 + data_len */
  padding: number;
}

/** One entry of a qcow2 snapshot table (docs/interop/qcow2.txt "Snapshots"). */
export interface SnapshotInfo {
  id: string;
  tag: string;
  vmStateSize: number;
  /** ISO 8601 from date_sec/date_nsec */
  date: string;
  vmClockNs: string;
  diskSize: number;
  l1TableOffset: number;
  l1Size: number;
  /** file offset of this entry in the snapshot table */
  entryOffset: number;
  icount?: string;
}

export interface ContainerInfo {
  kind: ContainerKind;
  compression: Compression;
  /**
   * File offset where the stream (or, compressed, the compressor's data) starts. For a qcow2
   * snapshot: the file offset of the stream's first byte (later clusters may be elsewhere).
   */
  streamOffset: number;
  /** Size of the bare QEMU stream. */
  streamSize: number;
  fileSize: number;
  /** true when stream offsets map linearly to file offsets (file = stream + streamOffset) */
  linear: boolean;
  wasRunning?: boolean;
  xml?: string;
  cookie?: string;
  libvirt?: LibvirtHeader;
  snapshot?: SnapshotInfo;
  snapshots?: SnapshotInfo[];
  /** said to the user (an unfinished save, a cut-short compressed stream...) */
  warnings: string[];
  /** the compressed data was corrupt or cut short and only what decompressed is shown (keepPartial) */
  partial?: boolean;
}

export class ContainerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** file offset the problem is at, when there is one */
    readonly offset?: number,
  ) {
    super(message);
    this.name = "ContainerError";
  }
}

export { hex } from "../format/bytes";

/** Bytes [start, start+size) of another source, as a source of their own (stream space). */
export class SliceSource implements ByteSource {
  constructor(
    private readonly base: ByteSource,
    readonly start: number,
    readonly size: number,
  ) {}
  read(offset: number, length: number): Uint8Array {
    const s = Math.max(0, Math.min(offset, this.size));
    const n = Math.max(0, Math.min(length, this.size - s));
    return this.base.read(this.start + s, n);
  }
  readInto(offset: number, target: Uint8Array): number {
    const s = Math.max(0, Math.min(offset, this.size));
    const n = Math.max(0, Math.min(target.length, this.size - s));
    if (this.base.readInto) return this.base.readInto(this.start + s, target.subarray(0, n));
    const b = this.base.read(this.start + s, n);
    target.set(b);
    return b.length;
  }
  /** The base's read-ahead (a libvirt save image's stream is most of a file), in stream space. */
  scan(start: number): ScanCursor | undefined {
    const c = this.base.scan?.(this.start + Math.max(0, Math.min(start, this.size)));
    if (!c) return undefined;
    return {
      window: (pos, n) => {
        const v = c.window(this.start + pos, n);
        return v.subarray(0, Math.max(0, Math.min(v.length, this.size - pos)));
      },
      close: () => c.close(),
    };
  }
}
