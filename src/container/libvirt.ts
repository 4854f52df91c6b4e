// libvirt's save image ("virsh save", managedsave, external memory snapshots): a 92-byte header,
// the domain XML and the migration cookie (NUL-terminated) in a data area of data_len bytes,
// then the QEMU stream, raw or through a compressor. Layout from libvirt's
// src/qemu/qemu_saveimage.h (virQEMUSaveHeader) and what libvirt 9.0 wrote (docs/CONTAINERS.md).
import type { ByteSource } from "../format/types";
import { ContainerError, hex, type Compression, type LibvirtHeader } from "./types";

export const LIBVIRT_HEADER_SIZE = 92;
/** QEMU_SAVE_VERSION */
const MAX_VERSION = 2;
/** Our own cap on the XML + cookie we read into memory (libvirt's own XML limit is 10 MB). */
export const MAX_XML_BYTES = 64 * 1024 * 1024;

/**
 * The `compressed` field (libvirt's virQEMUSaveFormat, QEMU_SAVE_FORMAT_*) to our names. 5 (zstd)
 * is from libvirt releases after 9.0 (which refuses zstd); 6 (sparse) is QEMU's mapped-ram file
 * layout, which is not a sequential stream: named, but not opened.
 */
export const LIBVIRT_COMPRESSION: Record<number, Compression> = {
  0: "none",
  1: "gzip",
  2: "bzip2",
  3: "xz",
  4: "lzop",
  5: "zstd",
};
const QEMU_SAVE_FORMAT_SPARSE = 6;

export interface LibvirtParsed {
  header: LibvirtHeader;
  xml: string;
  cookie?: string;
  streamOffset: number;
  compression: Compression;
}

function u32(b: Uint8Array, at: number, le: boolean): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, le);
}

/** Finds the NUL that ends a string starting at `start` (file offset), within [start, limit). */
function findNul(src: ByteSource, start: number, limit: number): number {
  for (let p = start; p < limit; p += 65536) {
    const b = src.read(p, Math.min(65536, limit - p));
    const i = b.indexOf(0);
    if (i >= 0) return p + i;
    if (b.length === 0) break;
  }
  return -1;
}

const utf8 = new TextDecoder("utf-8");

export function parseLibvirtHeader(src: ByteSource): LibvirtParsed {
  if (src.size < LIBVIRT_HEADER_SIZE) {
    throw new ContainerError(
      "truncated",
      `libvirt save image header needs ${LIBVIRT_HEADER_SIZE} bytes, the file has ${src.size}`,
      0,
    );
  }
  const h = src.read(0, LIBVIRT_HEADER_SIZE).slice();
  const magic = new TextDecoder("latin1").decode(h.subarray(0, 16)) as LibvirtHeader["magic"];
  // host byte order: libvirt byte-swaps when the version only makes sense swapped
  let le = true;
  let version = u32(h, 16, true);
  if (version < 1 || version > MAX_VERSION) {
    const be = u32(h, 16, false);
    if (be >= 1 && be <= MAX_VERSION) {
      le = false;
      version = be;
    } else
      throw new ContainerError(
        "bad-header",
        `libvirt save image version ${version} at 0x10 is not one libvirt writes (1..${MAX_VERSION})`,
        0x10,
      );
  }
  const dataLen = u32(h, 20, le);
  const wasRunning = u32(h, 24, le);
  const compressed = u32(h, 28, le);
  const cookieOffset = version >= 2 ? u32(h, 32, le) : 0;
  const compression = LIBVIRT_COMPRESSION[compressed];
  if (compressed === QEMU_SAVE_FORMAT_SPARSE)
    throw new ContainerError(
      "unsupported",
      "libvirt save image format 6 (sparse: QEMU's mapped-ram file layout, pages at fixed file offsets) is not supported yet",
      0x1c,
    );
  if (compression === undefined)
    throw new ContainerError(
      "bad-header",
      `libvirt save image compression ${compressed} at 0x1c is unknown (0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop, 5 zstd)`,
      0x1c,
    );
  const streamOffset = LIBVIRT_HEADER_SIZE + dataLen;
  if (streamOffset > src.size) {
    throw new ContainerError(
      "truncated",
      `libvirt save image data_len ${dataLen} (at 0x14) runs past the end of the file: the XML area would end at ${hex(streamOffset)}, the file has ${src.size} bytes`,
      0x14,
    );
  }
  if (dataLen > MAX_XML_BYTES)
    throw new ContainerError(
      "too-large",
      `libvirt save image data_len ${dataLen} (at 0x14) is over the ${MAX_XML_BYTES}-byte limit for the XML area`,
      0x14,
    );
  const xmlEnd = findNul(src, LIBVIRT_HEADER_SIZE, streamOffset);
  if (xmlEnd < 0)
    throw new ContainerError(
      "bad-header",
      `the domain XML at ${hex(LIBVIRT_HEADER_SIZE)} has no terminating NUL within data_len (${dataLen} bytes)`,
      LIBVIRT_HEADER_SIZE,
    );
  const xml = utf8.decode(src.read(LIBVIRT_HEADER_SIZE, xmlEnd - LIBVIRT_HEADER_SIZE));
  let cookie: string | undefined;
  let cookieSpan: LibvirtHeader["cookieSpan"];
  let contentEnd = xmlEnd + 1;
  if (cookieOffset) {
    const cs = LIBVIRT_HEADER_SIZE + cookieOffset;
    if (cookieOffset >= dataLen || cs < xmlEnd + 1)
      throw new ContainerError(
        "bad-header",
        `libvirt cookieOffset ${cookieOffset} (at 0x20) is outside the data area after the XML (data_len ${dataLen}, XML ends at ${hex(xmlEnd)})`,
        0x20,
      );
    const ce = findNul(src, cs, streamOffset);
    if (ce < 0)
      throw new ContainerError("bad-header", `the cookie at ${hex(cs)} has no terminating NUL within data_len`, cs);
    cookie = utf8.decode(src.read(cs, ce - cs));
    cookieSpan = { start: cs, end: ce };
    contentEnd = ce + 1;
  }
  return {
    header: {
      magic,
      littleEndian: le,
      version,
      dataLen,
      wasRunning,
      compressed,
      cookieOffset,
      xmlSpan: { start: LIBVIRT_HEADER_SIZE, end: xmlEnd },
      ...(cookieSpan ? { cookieSpan } : {}),
      padding: streamOffset - contentEnd,
    },
    xml,
    ...(cookie !== undefined ? { cookie } : {}),
    streamOffset,
    compression,
  };
}

/**
 * The header and data area for a new domain XML, as `virsh save-image-define` writes it
 * (libvirt virQEMUSaveDataWrite): same data_len and stream offset, the XML and cookie each
 * NUL-terminated, cookieOffset moved, zero padding up to data_len. Throws when it does not fit.
 */
export function rewriteLibvirtData(
  src: ByteSource,
  parsed: LibvirtParsed,
  newXml: string,
  opts: { compressed?: number; wasRunning?: number } = {},
): Uint8Array {
  const h = parsed.header;
  const enc = new TextEncoder();
  const xml = enc.encode(newXml);
  if (xml.includes(0)) throw new ContainerError("bad-xml", "the domain XML must not contain NUL characters");
  // libvirt parses it on restore and refuses anything else; catch the obvious slip before writing
  if (!/^\s*(<\?xml[^>]*>\s*)?<domain[\s>]/.test(newXml) || !/<\/domain>\s*$/.test(newXml)) {
    throw new ContainerError(
      "bad-xml",
      "the new domain XML must be one <domain>...</domain> element (libvirt would refuse to restore the image)",
    );
  }
  const cookie = parsed.cookie !== undefined ? enc.encode(parsed.cookie) : undefined;
  const need = xml.length + 1 + (cookie ? cookie.length + 1 : 0);
  if (need > h.dataLen) {
    throw new ContainerError(
      "xml-too-large",
      `the new XML needs ${need} bytes with the cookie, the image has room for ${h.dataLen} (data_len); libvirt refuses this too ("new xml too large to fit in file")`,
    );
  }
  const out = new Uint8Array(LIBVIRT_HEADER_SIZE + h.dataLen);
  out.set(src.read(0, LIBVIRT_HEADER_SIZE));
  const dv = new DataView(out.buffer);
  if (opts.compressed !== undefined) dv.setUint32(28, opts.compressed, h.littleEndian);
  if (opts.wasRunning !== undefined) dv.setUint32(24, opts.wasRunning, h.littleEndian);
  out.set(xml, LIBVIRT_HEADER_SIZE);
  if (cookie) {
    dv.setUint32(32, xml.length + 1, h.littleEndian);
    out.set(cookie, LIBVIRT_HEADER_SIZE + xml.length + 1);
  }
  return out;
}
