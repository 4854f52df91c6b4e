// multifd channels (migration/multifd.c): every channel other than the main one starts with a
// MultiFDInit_t { be32 magic 0x11223344, be32 version 1, u8 uuid[16], u8 id, ... } (64 bytes)
// and then carries MultiFD packets with the RAM pages. They are not migration streams.
import type { ByteSource } from "./types";

export const MULTIFD_MAGIC = 0x11223344;
export const MULTIFD_VERSION = 1;
const MULTIFD_INIT_SIZE = 64;
const MULTIFD_INIT_ID_OFFSET = 24;

/** The channel id if `src` starts like a multifd channel, else undefined. */
export function probeMultifdChannel(src: ByteSource): { id: number } | undefined {
  if (src.size < MULTIFD_INIT_SIZE) return undefined;
  const b = src.read(0, MULTIFD_INIT_SIZE);
  const be32 = (i: number) => ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
  if (be32(0) !== MULTIFD_MAGIC || be32(4) !== MULTIFD_VERSION) return undefined;
  return { id: b[MULTIFD_INIT_ID_OFFSET]! };
}
