// The one place `vmstate diff` and the editor's compare view open a file that holds a migration
// stream. Today: a bare stream, read through a paged reader. Containers (libvirt save images,
// compressed images, qcow2 internal snapshots) plug in here: they return the stream's bytes as a
// ByteSource and a label saying where in the container it was found (src/container's
// openVmState(path, { snapshot }) after the merge: it is async, so this is too).
import type { ByteSource } from "../format/types";
import { FileByteSource } from "./fileSource";

export interface OpenedVmState {
  /** The migration stream's bytes. */
  src: ByteSource;
  /** How to name it in results (the path, plus what was unwrapped). */
  label: string;
  /**
   * Set when the stream is the file itself: another thread may then open the path for the same
   * bytes (vmstate diff decodes and compares in two threads). Unset for a stream unwrapped from a
   * container: everything then runs on one thread rather than unwrapping it twice.
   */
  path?: string;
  close(): void;
}

export class OpenError extends Error {}

export async function openVmStateFile(path: string): Promise<OpenedVmState> {
  let f: FileByteSource;
  try {
    f = FileByteSource.open(path);
  } catch (e) {
    throw new OpenError(`cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { src: f, label: path, path, close: () => f.close() };
}
