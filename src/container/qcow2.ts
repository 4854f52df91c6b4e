// Internal snapshots of a qcow2 disk (savevm, internal `virsh snapshot-create`): the snapshot
// table and the VM state each snapshot keeps "after the end of the disk". Facts from QEMU's
// docs/interop/qcow2.txt and block/qcow2*.c: the VM state of a snapshot lives at guest offset
// qcow2_vm_state_offset() = disk size rounded up to an L1 entry's span, in the address space of the
// snapshot's own L1 table, so it is read cluster by cluster through L1 -> L2 -> host cluster.
// It is never found by scanning for "QEVM".
import type { ByteSource } from "../format/types";
import { ContainerError, hex, type SnapshotInfo } from "./types";

/** QCOW_MAX_SNAPSHOTS, QCOW_MAX_SNAPSHOTS_SIZE, QCOW_MAX_SNAPSHOT_EXTRA_DATA (block/qcow2.h) */
const MAX_SNAPSHOTS = 65536;
const MAX_SNAPSHOTS_SIZE = 1024 * 65536;
const MAX_SNAPSHOT_EXTRA_DATA = 1024;
/** L1E_OFFSET_MASK, L2E_OFFSET_MASK */
const OFFSET_MASK = 0x00fffffffffffe00n;
const QCOW_OFLAG_COMPRESSED = 1n << 62n;
const QCOW_OFLAG_ZERO = 1n;
/** incompatible feature bits */
const INCOMPAT_DIRTY = 1n;
const INCOMPAT_CORRUPT = 2n;
const INCOMPAT_DATA_FILE = 4n;
const INCOMPAT_EXTL2 = 16n;

export interface Qcow2Header {
  version: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatible: bigint;
  backingFile: boolean;
}

function safeNumber(v: bigint, what: string, at: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ContainerError("qcow2-corrupt", `qcow2 ${what} ${v} at ${hex(at)} is out of range`, at);
  return Number(v);
}

export function parseQcow2Header(src: ByteSource): Qcow2Header {
  if (src.size < 72) throw new ContainerError("truncated", `qcow2 header needs 72 bytes, the file has ${src.size}`, 0);
  const b = src.read(0, 104).slice();
  const dv = new DataView(b.buffer);
  const version = dv.getUint32(4);
  if (version !== 2 && version !== 3)
    throw new ContainerError("unsupported", `qcow2 version ${version} at 0x4 (only 2 and 3 exist)`, 4);
  const clusterBits = dv.getUint32(20);
  // MIN_CLUSTER_BITS 9, MAX_CLUSTER_BITS 21
  if (clusterBits < 9 || clusterBits > 21)
    throw new ContainerError("qcow2-corrupt", `qcow2 cluster_bits ${clusterBits} at 0x14 (QEMU accepts 9..21)`, 0x14);
  const incompatible = version >= 3 && b.length >= 80 ? dv.getBigUint64(72) : 0n;
  return {
    version,
    clusterBits,
    size: safeNumber(dv.getBigUint64(24), "size", 0x18),
    cryptMethod: dv.getUint32(32),
    l1Size: dv.getUint32(36),
    l1TableOffset: safeNumber(dv.getBigUint64(40), "l1_table_offset", 0x28),
    nbSnapshots: dv.getUint32(60),
    snapshotsOffset: safeNumber(dv.getBigUint64(64), "snapshots_offset", 0x40),
    incompatible,
    backingFile: dv.getBigUint64(8) !== 0n,
  };
}

/** The snapshot table (qcow2_read_snapshots), every offset and length checked against the file. */
export function readSnapshotTable(src: ByteSource, h: Qcow2Header): SnapshotInfo[] {
  if (h.nbSnapshots === 0) return [];
  if (h.nbSnapshots > MAX_SNAPSHOTS)
    throw new ContainerError(
      "qcow2-corrupt",
      `qcow2 nb_snapshots ${h.nbSnapshots} at 0x3c is over QEMU's limit ${MAX_SNAPSHOTS}`,
      0x3c,
    );
  const cluster = 2 ** h.clusterBits;
  if (h.snapshotsOffset % cluster !== 0 || h.snapshotsOffset === 0)
    throw new ContainerError(
      "qcow2-corrupt",
      `qcow2 snapshots_offset ${hex(h.snapshotsOffset)} at 0x40 is not a cluster-aligned offset`,
      0x40,
    );
  const out: SnapshotInfo[] = [];
  let p = h.snapshotsOffset;
  const utf8 = new TextDecoder("utf-8");
  for (let i = 0; i < h.nbSnapshots; i++) {
    if (p - h.snapshotsOffset > MAX_SNAPSHOTS_SIZE)
      throw new ContainerError(
        "qcow2-corrupt",
        `qcow2 snapshot table at ${hex(h.snapshotsOffset)} is over QEMU's ${MAX_SNAPSHOTS_SIZE}-byte limit`,
        h.snapshotsOffset,
      );
    if (p + 40 > src.size)
      throw new ContainerError(
        "qcow2-corrupt",
        `qcow2 snapshot ${i + 1} of ${h.nbSnapshots} at ${hex(p)} lies past the end of the file (${src.size} bytes)`,
        p,
      );
    const e = src.read(p, 40).slice();
    const dv = new DataView(e.buffer);
    const l1TableOffset = safeNumber(dv.getBigUint64(0), "snapshot l1_table_offset", p);
    const l1Size = dv.getUint32(8);
    const idSize = dv.getUint16(12);
    const nameSize = dv.getUint16(14);
    const dateSec = dv.getUint32(16);
    const dateNsec = dv.getUint32(20);
    const vmClock = dv.getBigUint64(24);
    let vmStateSize = dv.getUint32(32);
    const extraSize = dv.getUint32(36);
    if (extraSize > MAX_SNAPSHOT_EXTRA_DATA)
      throw new ContainerError(
        "qcow2-corrupt",
        `qcow2 snapshot ${i + 1} at ${hex(p)}: extra_data_size ${extraSize} is over QEMU's limit ${MAX_SNAPSHOT_EXTRA_DATA}`,
        p + 36,
      );
    const entryLen = 40 + extraSize + idSize + nameSize;
    if (p + entryLen > src.size)
      throw new ContainerError(
        "qcow2-corrupt",
        `qcow2 snapshot ${i + 1} at ${hex(p)} (${entryLen} bytes) runs past the end of the file`,
        p,
      );
    const rest = src.read(p + 40, extraSize + idSize + nameSize).slice();
    const xdv = new DataView(rest.buffer);
    let diskSize = h.size;
    let icount: string | undefined;
    if (extraSize >= 8) vmStateSize = safeNumber(xdv.getBigUint64(0), "vm_state_size_large", p + 40);
    if (extraSize >= 16) diskSize = safeNumber(xdv.getBigUint64(8), "disk_size", p + 48);
    if (extraSize >= 24) {
      const ic = xdv.getBigUint64(16);
      if (ic !== 0xffffffffffffffffn) icount = ic.toString();
    }
    const id = utf8.decode(rest.subarray(extraSize, extraSize + idSize));
    const tag = utf8.decode(rest.subarray(extraSize + idSize, extraSize + idSize + nameSize));
    const date = new Date(dateSec * 1000 + Math.floor(dateNsec / 1e6)).toISOString();
    out.push({
      id,
      tag,
      vmStateSize,
      date,
      vmClockNs: vmClock.toString(),
      diskSize,
      l1TableOffset,
      l1Size,
      entryOffset: p,
      ...(icount !== undefined ? { icount } : {}),
    });
    p += entryLen;
    p = Math.ceil(p / 8) * 8;
  }
  return out;
}

/**
 * The VM state of one snapshot as a ByteSource in stream space: each cluster is looked up in the
 * snapshot's L1 and L2 tables. Unallocated and zero clusters read as zeros (as QEMU reads them);
 * compressed clusters, tables outside the file or misaligned are errors with the file offset.
 * Memory: a few cached L2 tables.
 */
export class Qcow2VmStateSource implements ByteSource {
  readonly size: number;
  private readonly cluster: number;
  private readonly l2Entries: number;
  /** guest offset of the VM state: qcow2_vm_state_offset() */
  readonly vmStateOffset: number;
  private l2Cache = new Map<number, BigUint64Array>();
  private l1?: BigUint64Array;
  private l1First = 0;

  constructor(
    private readonly file: ByteSource,
    h: Qcow2Header,
    readonly snapshot: SnapshotInfo,
  ) {
    if (h.cryptMethod !== 0)
      throw new ContainerError(
        "unsupported",
        `qcow2 image is encrypted (crypt_method ${h.cryptMethod}); its VM state cannot be read`,
        0x20,
      );
    if (h.incompatible & INCOMPAT_DATA_FILE)
      throw new ContainerError(
        "unsupported",
        "qcow2 image uses an external data file; open it with its data file (not supported yet)",
        0x48,
      );
    if (h.incompatible & INCOMPAT_EXTL2)
      throw new ContainerError(
        "unsupported",
        "qcow2 image uses extended L2 entries (subclusters); not supported yet",
        0x48,
      );
    this.cluster = 2 ** h.clusterBits;
    this.l2Entries = this.cluster / 8;
    this.size = snapshot.vmStateSize;
    // qcow2_vm_state_offset(): l1_vm_state_index (size_to_l1: the disk size rounded up to what one
    // L1 entry covers) << (cluster_bits + l2_bits). Not the disk size rounded to a cluster: a
    // 7.75 MiB disk with 4 KiB clusters keeps its VM state at 8 MiB.
    const l1Span = this.cluster * this.l2Entries;
    this.vmStateOffset = Math.ceil(snapshot.diskSize / l1Span) * l1Span;
    const firstL1 = Math.floor(this.vmStateOffset / (this.cluster * this.l2Entries));
    const lastL1 = this.size
      ? Math.floor((this.vmStateOffset + this.size - 1) / (this.cluster * this.l2Entries))
      : firstL1;
    const s = snapshot;
    if (s.l1TableOffset % this.cluster !== 0)
      throw new ContainerError(
        "qcow2-corrupt",
        `snapshot ${s.id} (${JSON.stringify(s.tag)}): L1 table offset ${hex(s.l1TableOffset)} is not cluster-aligned`,
        s.entryOffset,
      );
    if (lastL1 >= s.l1Size && this.size)
      throw new ContainerError(
        "qcow2-corrupt",
        `snapshot ${s.id} (${JSON.stringify(s.tag)}): its L1 table has ${s.l1Size} entries, the VM state needs entry ${lastL1}`,
        s.entryOffset + 8,
      );
    if (s.l1TableOffset + s.l1Size * 8 > file.size)
      throw new ContainerError(
        "qcow2-corrupt",
        `snapshot ${s.id} (${JSON.stringify(s.tag)}): L1 table at ${hex(s.l1TableOffset)} (${s.l1Size} entries) lies past the end of the file (${file.size} bytes)`,
        s.entryOffset,
      );
    // only the L1 entries that cover the VM state (a handful), not the whole table
    if (this.size) {
      this.l1First = firstL1;
      const n = lastL1 - firstL1 + 1;
      const raw = file.read(s.l1TableOffset + firstL1 * 8, n * 8).slice();
      const dv = new DataView(raw.buffer);
      this.l1 = new BigUint64Array(n);
      for (let i = 0; i < n; i++) this.l1[i] = dv.getBigUint64(i * 8);
    }
  }

  /** Whether the cluster at `off` overlaps this snapshot's L1 table. */
  private overlapsL1(off: number): boolean {
    const s = this.snapshot;
    return off < s.l1TableOffset + s.l1Size * 8 && off + this.cluster > s.l1TableOffset;
  }

  private l2Table(l1Index: number): BigUint64Array | undefined {
    const e = this.l1![l1Index - this.l1First]!;
    const off = Number(e & OFFSET_MASK);
    const at = this.snapshot.l1TableOffset + l1Index * 8;
    if (off === 0) return undefined;
    if (off % this.cluster !== 0)
      throw new ContainerError(
        "qcow2-corrupt",
        `L1 entry ${l1Index} at ${hex(at)} points at ${hex(off)}, which is not cluster-aligned`,
        at,
      );
    if (off + this.cluster > this.file.size)
      throw new ContainerError(
        "qcow2-corrupt",
        `L1 entry ${l1Index} at ${hex(at)} points at an L2 table at ${hex(off)}, past the end of the file (${this.file.size} bytes)`,
        at,
      );
    if (off < this.cluster)
      throw new ContainerError("qcow2-corrupt", `L1 entry ${l1Index} at ${hex(at)} points at the header cluster`, at);
    if (this.overlapsL1(off))
      throw new ContainerError(
        "qcow2-corrupt",
        `L1 entry ${l1Index} at ${hex(at)} points at the snapshot's own L1 table (${hex(this.snapshot.l1TableOffset)}): tables pointing at each other`,
        at,
      );
    const hit = this.l2Cache.get(off);
    if (hit) return hit;
    const raw = this.file.read(off, this.cluster).slice();
    const dv = new DataView(raw.buffer);
    const t = new BigUint64Array(this.l2Entries);
    for (let i = 0; i < this.l2Entries; i++) t[i] = dv.getBigUint64(i * 8);
    if (this.l2Cache.size >= 16) this.l2Cache.delete(this.l2Cache.keys().next().value as number);
    this.l2Cache.set(off, t);
    return t;
  }

  /** Host file offset of stream offset `pos`, or "zero" for a cluster that reads as zeros. */
  fileOffset(pos: number): number | "zero" {
    const guest = this.vmStateOffset + pos;
    const clusterIndex = Math.floor(guest / this.cluster);
    const l1Index = Math.floor(clusterIndex / this.l2Entries);
    const l2Index = clusterIndex % this.l2Entries;
    const t = this.l2Table(l1Index);
    if (!t) return "zero";
    const e = t[l2Index]!;
    const l2Off = Number(this.l1![l1Index - this.l1First]! & OFFSET_MASK);
    const at = l2Off + l2Index * 8;
    if (e & QCOW_OFLAG_COMPRESSED)
      throw new ContainerError(
        "unsupported",
        `the VM state cluster at stream offset ${hex(pos)} is compressed (L2 entry at ${hex(at)}); QEMU never writes VM state compressed`,
        at,
      );
    const host = Number(e & OFFSET_MASK);
    if (e & QCOW_OFLAG_ZERO || host === 0) return "zero";
    if (host % this.cluster !== 0)
      throw new ContainerError(
        "qcow2-corrupt",
        `L2 entry at ${hex(at)} points at ${hex(host)}, which is not cluster-aligned`,
        at,
      );
    if (host < this.cluster || this.overlapsL1(host) || host === l2Off) {
      throw new ContainerError(
        "qcow2-corrupt",
        `L2 entry at ${hex(at)} points its VM state cluster at ${hex(host)}, which holds ${host < this.cluster ? "the header" : host === l2Off ? "this L2 table itself" : "the L1 table"}: tables pointing at each other`,
        at,
      );
    }
    if (host + this.cluster > this.file.size && host + (guest % this.cluster) >= this.file.size) {
      throw new ContainerError(
        "qcow2-corrupt",
        `L2 entry at ${hex(at)} points at a data cluster at ${hex(host)}, past the end of the file (${this.file.size} bytes)`,
        at,
      );
    }
    return host + (guest % this.cluster);
  }

  readInto(offset: number, target: Uint8Array): number {
    const end = Math.min(this.size, offset + target.length);
    let pos = Math.max(0, offset);
    let done = 0;
    while (pos < end) {
      const inCluster = (this.vmStateOffset + pos) % this.cluster;
      const n = Math.min(this.cluster - inCluster, end - pos);
      const f = this.fileOffset(pos);
      const dst = target.subarray(done, done + n);
      if (f === "zero") dst.fill(0);
      else {
        const b = this.file.read(f, n);
        if (b.length < n)
          throw new ContainerError(
            "qcow2-corrupt",
            `the VM state cluster at file offset ${hex(f)} is cut short by the end of the file`,
            f,
          );
        dst.set(b);
      }
      pos += n;
      done += n;
    }
    return done;
  }

  read(offset: number, length: number): Uint8Array {
    const s = Math.max(0, Math.min(offset, this.size));
    const out = new Uint8Array(Math.max(0, Math.min(length, this.size - s)));
    this.readInto(s, out);
    return out;
  }
}

export function checkQcow2Usable(h: Qcow2Header): string[] {
  const w: string[] = [];
  if (h.incompatible & INCOMPAT_DIRTY)
    w.push(
      "the qcow2 image is marked dirty (QEMU was not shut down cleanly); its refcounts may be stale, the snapshot table is read as it is",
    );
  if (h.incompatible & INCOMPAT_CORRUPT) w.push("the qcow2 image is marked corrupt by QEMU");
  return w;
}

/** Picks a snapshot by id or tag (QEMU's bdrv_snapshot_find: id first, then name). */
export function pickSnapshot(list: SnapshotInfo[], want: string | undefined): SnapshotInfo {
  const withState = list.filter((s) => s.vmStateSize > 0);
  if (want === undefined) {
    if (withState.length === 1) return withState[0]!;
    const tags = list.map((s) => `${s.id} ${JSON.stringify(s.tag)}${s.vmStateSize ? "" : " (disk only)"}`).join(", ");
    if (list.length === 0)
      throw new ContainerError("no-snapshot", "the qcow2 image has no internal snapshots, so no VM state");
    if (withState.length === 0)
      throw new ContainerError("no-snapshot", `none of the qcow2 image's snapshots has VM state (${tags})`);
    throw new ContainerError(
      "snapshot-ambiguous",
      `the qcow2 image has ${withState.length} snapshots with VM state; pick one with --snapshot TAG|ID: ${tags}`,
    );
  }
  const s = list.find((x) => x.id === want) ?? list.find((x) => x.tag === want);
  if (!s)
    throw new ContainerError(
      "snapshot-not-found",
      `no snapshot ${JSON.stringify(want)} in the qcow2 image (there are: ${list.map((x) => `${x.id} ${JSON.stringify(x.tag)}`).join(", ") || "none"})`,
    );
  if (s.vmStateSize === 0)
    throw new ContainerError(
      "no-snapshot",
      `snapshot ${s.id} ${JSON.stringify(s.tag)} has no VM state (a disk-only snapshot)`,
    );
  return s;
}
