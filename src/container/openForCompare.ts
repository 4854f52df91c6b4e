// The one place `vmstate diff` and the editor's compare view open a file that holds a migration
// stream: through openVmState, so a bare stream, a libvirt save image (raw or compressed), a
// compressed stream and a qcow2 internal snapshot all compare the same way.
import type { ByteSource } from "../format/types";
import { openVmState } from "./open";
import { ContainerError } from "./types";

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

export async function openVmStateFile(path: string, opts: { snapshot?: string } = {}): Promise<OpenedVmState> {
  let o: Awaited<ReturnType<typeof openVmState>>;
  try {
    o = await openVmState(path, opts.snapshot !== undefined ? { snapshot: opts.snapshot } : {});
  } catch (e) {
    if (e instanceof ContainerError)
      throw new OpenError(`${path}: ${e.message}${e.offset !== undefined ? ` (at 0x${e.offset.toString(16)})` : ""}`);
    throw e;
  }
  const c = o.container;
  if (c.kind === "stream") return { src: o.source, label: path, path, close: () => o.close() };
  const what =
    c.kind === "qcow2-snapshot"
      ? `qcow2 snapshot ${c.snapshot?.id} ${JSON.stringify(c.snapshot?.tag)}`
      : c.kind === "libvirt-save"
        ? `libvirt save image${c.compression !== "none" ? `, ${c.compression}` : ""}`
        : `${c.kind}-compressed stream`;
  return { src: o.source, label: `${path} (${what})`, close: () => o.close() };
}
