// The one place the editor's decoding worker opens what a document shows: a local file goes
// through the container opener (src/container: a bare stream, a libvirt save image raw or
// compressed, a gzip/xz/zstd/bzip2/lzop stream, a qcow2 internal snapshot), which gives the bare
// migration stream as a paged ByteSource (memory flat whatever its size) with what carried it;
// bytes the extension host already read (virtual file systems) are shown as a bare stream.
import type { ByteSource } from "../format/types";
import { ContainerError, openAsBareStream, openVmState, type OpenedVmState, type OpenOptions } from "../container";
import { MemoryByteSource } from "./memorySource";

export type DocumentSource = ByteSource & { close?(): void };

/** `snapshot`: the qcow2 snapshot (id or tag) to show; without it a qcow2 with several asks (snapshot-ambiguous). */
export type DocumentLocation = { path: string; snapshot?: string } | { bytes: Uint8Array };

export interface OpenedDocument {
  /** the bare QEMU stream */
  source: DocumentSource;
  /** what carried it (local files only) */
  opened?: OpenedVmState;
  close(): void;
}

/**
 * Opens a document's input. Decompression reports progress and stops on `signal`
 * (ContainerError "cancelled"); a file that is none of the known containers is opened as a bare
 * stream anyway, so the decoder reports the bad magic with a partial view and the container node
 * says what the file looked like. Regular files only (FileByteSource.open refuses FIFOs, devices).
 */
export async function openDocumentSource(
  where: DocumentLocation,
  opts: Pick<OpenOptions, "signal" | "onProgress"> = {},
): Promise<OpenedDocument> {
  if (!("path" in where)) {
    const source = new MemoryByteSource(where.bytes);
    return { source, close: () => undefined };
  }
  let opened: OpenedVmState;
  try {
    opened = await openVmState(where.path, {
      ...opts,
      ...(where.snapshot !== undefined ? { snapshot: where.snapshot } : {}),
      keepPartial: true,
    });
  } catch (e) {
    if (!(e instanceof ContainerError) || e.code !== "bad-magic") throw e;
    opened = openAsBareStream(where.path, e.message);
  }
  return { source: opened.source, opened, close: () => opened.close() };
}
