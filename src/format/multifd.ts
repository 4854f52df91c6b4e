// multifd channels (migration/multifd.h, multifd.c, multifd-nocomp.c). Every channel other than
// the main one starts with a MultiFDInit_t { be32 magic 0x11223344, be32 version 1, u8 uuid[16],
// u8 id, ... } (64 bytes) and then carries MultiFD packets; they are not migration streams.
//
// A RAM packet (MultiFDPacket_t, packed, big-endian):
//   be32 magic, be32 version, be32 flags (SYNC = 1, compression in bits 1..5, DEVICE_STATE = 64)
//   be32 pages_alloc, be32 normal_pages, be32 next_packet_size, be64 packet_num,
//   be32 zero_pages, be32 unused, be64 unused[3], char ramblock[256],
//   be64 offset[page_count]  (normal pages first, then zero pages; offsets within the block)
// where page_count is the channel's fixed multifd_ram_page_count() (512 KiB / page size): the
// packet is always that long, also when pages_alloc is 0 (a SYNC packet). Without compression the
// normal pages' bytes follow the packet, normal_pages * page_size. packet_num is global across
// channels: it orders the packets of all channels.
// A device-state packet (flag DEVICE_STATE): the header, char idstr[256], be32 instance_id,
// be32 next_packet_size, then next_packet_size bytes.
import { hex } from "./bytes";
import type { ByteSource } from "./types";

export const MULTIFD_MAGIC = 0x11223344;
export const MULTIFD_VERSION = 1;
export const MULTIFD_FLAG_SYNC = 1 << 0;
export const MULTIFD_FLAG_COMPRESSION_MASK = 0x1f << 1;
export const MULTIFD_FLAG_DEVICE_STATE = 32 << 1;
/** MULTIFD_PACKET_SIZE: the RAM a packet covers at most. */
export const MULTIFD_PACKET_SIZE = 512 * 1024;
const MULTIFD_INIT_SIZE = 64;
const MULTIFD_INIT_ID_OFFSET = 24;
/** sizeof(MultiFDPacket_t) without the offset array. */
const PACKET_FIXED = 320;
const RAMBLOCK_OFFSET = 64;
const RAMBLOCK_LEN = 256;
/** sizeof(MultiFDPacketDeviceState_t). */
const DEVICE_STATE_PACKET = 12 + 256 + 4 + 4;

/** The channel id if `src` starts like a multifd channel, else undefined. */
export function probeMultifdChannel(src: ByteSource): { id: number } | undefined {
  if (src.size < MULTIFD_INIT_SIZE) return undefined;
  const b = src.read(0, MULTIFD_INIT_SIZE);
  if (be32(b, 0) !== MULTIFD_MAGIC || be32(b, 4) !== MULTIFD_VERSION) return undefined;
  return { id: b[MULTIFD_INIT_ID_OFFSET]! };
}

export interface MultifdPacket {
  packetNum: number;
  offset: number;
  block: string;
  /** Offsets within the block of the normal pages, whose bytes start at `data`. */
  normal: number[];
  zero: number[];
  data: number;
}

export interface MultifdChannel {
  id: number;
  packets: MultifdPacket[];
  normalPages: number;
  zeroPages: number;
  syncs: number;
  deviceStatePackets: number;
  /** Why the channel could not be read to its end (compression, a bad packet, truncation). */
  error?: string;
}

function be32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
}

function be64(b: Uint8Array, i: number): number {
  return be32(b, i) * 0x1_0000_0000 + be32(b, i + 4);
}

/** Reads a captured multifd channel: its packets, page counts and where each page's bytes are. */
export function readMultifdChannel(src: ByteSource, pageSize: number): MultifdChannel | undefined {
  const init = probeMultifdChannel(src);
  if (!init) return undefined;
  const ch: MultifdChannel = {
    id: init.id,
    packets: [],
    normalPages: 0,
    zeroPages: 0,
    syncs: 0,
    deviceStatePackets: 0,
  };
  const pageCount = MULTIFD_PACKET_SIZE / pageSize;
  let p = MULTIFD_INIT_SIZE;
  while (p < src.size) {
    const h = src.read(p, Math.min(PACKET_FIXED, src.size - p));
    if (h.length < 12 || be32(h, 0) !== MULTIFD_MAGIC || be32(h, 4) !== MULTIFD_VERSION) {
      ch.error = `no MultiFD packet at ${hex(p)}`;
      return ch;
    }
    const flags = be32(h, 8);
    if (flags & MULTIFD_FLAG_DEVICE_STATE) {
      const d = src.read(p, DEVICE_STATE_PACKET);
      if (d.length < DEVICE_STATE_PACKET) break;
      p += DEVICE_STATE_PACKET + be32(d, DEVICE_STATE_PACKET - 4);
      ch.deviceStatePackets++;
      continue;
    }
    if (h.length < PACKET_FIXED) break;
    if (flags & MULTIFD_FLAG_COMPRESSION_MASK) {
      ch.error = `packet at ${hex(p)} is compressed (flags ${hex(flags)}): its pages are not decoded`;
      return ch;
    }
    const alloc = be32(h, 12);
    const normal = be32(h, 16);
    const zero = be32(h, 32);
    if (alloc > pageCount || normal + zero > pageCount) {
      ch.error = `packet at ${hex(p)} claims ${normal} + ${zero} pages of ${alloc}, more than a packet holds (${pageCount})`;
      return ch;
    }
    const len = PACKET_FIXED + 8 * pageCount;
    if (p + len + normal * pageSize > src.size) break;
    if (flags & MULTIFD_FLAG_SYNC) ch.syncs++;
    if (normal + zero > 0) {
      const offs = src.read(p + PACKET_FIXED, 8 * (normal + zero));
      const list: number[] = [];
      for (let i = 0; i < normal + zero; i++) list.push(be64(offs, 8 * i));
      const name = h.subarray(RAMBLOCK_OFFSET, RAMBLOCK_OFFSET + RAMBLOCK_LEN);
      const nul = name.indexOf(0);
      ch.packets.push({
        packetNum: be64(h, 24),
        offset: p,
        block: new TextDecoder().decode(name.subarray(0, nul < 0 ? RAMBLOCK_LEN : nul)),
        normal: list.slice(0, normal),
        zero: list.slice(normal),
        data: p + len,
      });
      ch.normalPages += normal;
      ch.zeroPages += zero;
    }
    p += len + normal * pageSize;
  }
  if (p < src.size) ch.error = `the capture ends inside the packet at ${hex(p)}`;
  return ch;
}
