// The one place the editor's decoding worker opens what a document shows. Today: a local file
// (paged positioned reads, memory flat whatever its size) or bytes the extension host already
// read (virtual file systems). Containers (libvirt save images, compressed streams, qcow2
// snapshots) plug in here: swap this for the container opener, which returns the byte source of
// the bare migration stream.
import type { ByteSource } from "../format/types";
import { FileByteSource } from "./fileSource";
import { MemoryByteSource } from "./memorySource";

export type DocumentSource = ByteSource & { close?(): void };

export type DocumentLocation = { path: string } | { bytes: Uint8Array };

export function openDocumentSource(where: DocumentLocation): DocumentSource {
  return "path" in where ? FileByteSource.open(where.path) : new MemoryByteSource(where.bytes);
}
