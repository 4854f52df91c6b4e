// The one place `vmstate diff` and the editor's compare view open a file that holds a migration
// stream. Today: a bare stream, read through a paged reader. Containers (libvirt save images,
// compressed images, qcow2 internal snapshots) plug in here: they return the stream's bytes as a
// ByteSource and a label saying where in the container it was found.
import type { ByteSource } from "../format/types";
import { FileByteSource } from "./fileSource";

export interface OpenedVmState {
  /** The migration stream's bytes. */
  src: ByteSource;
  /** How to name it in results (the path, plus what was unwrapped). */
  label: string;
  close(): void;
}

export class OpenError extends Error {}

export function openVmStateFile(path: string): OpenedVmState {
  let f: FileByteSource;
  try {
    f = FileByteSource.open(path);
  } catch (e) {
    throw new OpenError(`cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { src: f, label: path, close: () => f.close() };
}
