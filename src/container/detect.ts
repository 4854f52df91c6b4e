// Detection by content: what the first bytes of a file say it is. Never by file name.
import type { ContainerKind } from "./types";
import { toHex } from "../format/bytes";

export type Detected = ContainerKind | "libvirt-part";

const te = new TextDecoder("latin1");

function startsWith(b: Uint8Array, sig: number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  return sig.every((x, i) => b[at + i] === x);
}

export const MAGIC = {
  qevm: [0x51, 0x45, 0x56, 0x4d],
  gzip: [0x1f, 0x8b],
  xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  zstd: [0x28, 0xb5, 0x2f, 0xfd],
  lzop: [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a],
  qcow2: [0x51, 0x46, 0x49, 0xfb],
};

function isBzip2(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3]! >= 0x31 && b[3]! <= 0x39;
}

/** The container kind whose signature `head` (the first >= 16 bytes) carries, or undefined. */
export function detectKind(head: Uint8Array): Detected | undefined {
  if (startsWith(head, MAGIC.qevm)) return "stream";
  const s16 = te.decode(head.subarray(0, 16));
  if (s16 === "LibvirtQemudSave") return "libvirt-save";
  if (s16 === "LibvirtQemudPart") return "libvirt-part";
  if (startsWith(head, MAGIC.gzip)) return "gzip";
  if (startsWith(head, MAGIC.xz)) return "xz";
  if (startsWith(head, MAGIC.zstd)) return "zstd";
  if (isBzip2(head)) return "bzip2";
  if (startsWith(head, MAGIC.lzop)) return "lzop";
  if (startsWith(head, MAGIC.qcow2)) return "qcow2-snapshot";
  return undefined;
}

/** Names what a file that is none of ours looks like, for the error message. */
export function describeUnknown(head: Uint8Array): string {
  const known: [number[], string, number?][] = [
    [[0x7f, 0x45, 0x4c, 0x46], "an ELF binary"],
    [[0x51, 0x46, 0x49], "a QEMU qcow image"],
    [[0x4b, 0x44, 0x4d, 0x56], "a VMDK disk image"],
    [[0x50, 0x4b, 0x03, 0x04], "a zip archive"],
    [[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], "a 7-Zip archive"],
    [[0x04, 0x22, 0x4d, 0x18], "LZ4 frame data (not a format libvirt or QEMU writes)"],
    [[0x63, 0x6f, 0x6e, 0x65, 0x63, 0x74, 0x69, 0x78], "a VHD disk image"],
    [[0x75, 0x73, 0x74, 0x61, 0x72], "a tar archive", 257],
    [[0x43, 0x44, 0x30, 0x30, 0x31], "an ISO 9660 image", 0x8001],
    [[0x4c, 0x69, 0x62, 0x76, 0x69, 0x72, 0x74], "a libvirt file of an unknown kind"],
  ];
  for (const [sig, what, at] of known) if (startsWith(head, sig, at ?? 0)) return what;
  if (
    startsWith(head, [0x3c, 0x3c, 0x3c, 0x20], 0) ||
    te.decode(head.subarray(0, 64)).includes("<<< Oracle VM VirtualBox Disk Image")
  )
    return "a VirtualBox VDI image";
  if (head.length === 0) return "an empty file";
  if (head.every((x) => x === 0)) return `${head.length} zero bytes`;
  const text = te.decode(head.subarray(0, 32));
  if (/^[\t\r\n\x20-\x7e]+$/.test(text)) return `text starting ${JSON.stringify(text)}`;
  return `bytes ${toHex(head.subarray(0, 8), " ")}`;
}

export const COMPRESSION_MAGIC_NAME: Record<string, string> = {
  gzip: "1f 8b",
  bzip2: '"BZh"',
  xz: "fd 37 7a 58 5a 00",
  lzop: "89 4c 5a 4f 00 0d 0a 1a 0a",
  zstd: "28 b5 2f fd",
};
