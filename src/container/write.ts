// Writing an edited stream back into the container it came from, and libvirt's "Edit Domain XML"
// (virsh save-image-edit). Always to a temp file next to the target, fsync, rename: nothing is
// written over the target unless the whole write worked.
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import * as zlib from "node:zlib";
import type { Chunk } from "../format/encode";
import type { ByteSource } from "../format/types";
import { writeChunksAtomically } from "../io/writeChunks";
import { parseLibvirtHeader, rewriteLibvirtData } from "./libvirt";
import type { OpenedVmState } from "./open";
import { ContainerError, type Compression } from "./types";

/** Compressions we can write (pure JS): gzip through node:zlib. */
export const WRITABLE_COMPRESSION: readonly Compression[] = ["none", "gzip"];

export type WriteMode = "same" | "raw";

/** What writeEdited would produce, so a UI can ask first ("xz cannot be written: save raw?"). */
export function writePlan(
  opened: Pick<OpenedVmState, "container">,
  mode: WriteMode = "same",
): { compression: Compression; canKeep: boolean; note?: string } {
  const c = opened.container;
  if (c.kind === "qcow2-snapshot")
    return { compression: "none", canKeep: false, note: "qcow2 snapshots are read-only here: use Export Stream" };
  const canKeep = WRITABLE_COMPRESSION.includes(c.compression);
  if (mode === "raw" || !canKeep) {
    const note = canKeep
      ? undefined
      : `this project cannot write ${c.compression} (no pure-JS ${c.compression} compressor); it can write the image uncompressed, which libvirt restores whatever qemu.conf says`;
    return { compression: "none", canKeep, ...(note ? { note } : {}) };
  }
  return { compression: c.compression, canKeep };
}

/** Stream-space chunks (over opened.source) shifted onto the file, with the container's head copied. */
function linearChunks(opened: OpenedVmState, chunks: Chunk[]): Chunk[] {
  const off = opened.container.streamOffset;
  const out: Chunk[] = off ? [{ copy: { start: 0, end: off } }] : [];
  for (const c of chunks) out.push("bytes" in c ? c : { copy: { start: c.copy.start + off, end: c.copy.end + off } });
  return out;
}

function* chunkBytes(src: ByteSource, chunks: Chunk[], onProgress?: (done: number) => void): Generator<Uint8Array> {
  const BLOCK = 1024 * 1024;
  let done = 0;
  for (const c of chunks) {
    if ("bytes" in c) {
      done += c.bytes.length;
      yield c.bytes;
      continue;
    }
    for (let p = c.copy.start; p < c.copy.end; p += BLOCK) {
      const b = src.read(p, Math.min(BLOCK, c.copy.end - p));
      if (!b.length) throw new ContainerError("truncated", `could not read the stream at 0x${p.toString(16)}`);
      done += b.length;
      // may throw (the user cancelled): the write fails, its temp file is removed
      onProgress?.(done);
      yield b.slice();
    }
  }
}

function tempNextTo(target: string): string {
  const dir = path.dirname(path.resolve(target));
  return path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

async function writeAtomically(
  target: string,
  head: Uint8Array,
  body: Iterable<Uint8Array>,
  compression: Compression,
): Promise<void> {
  const tmp = tempNextTo(target);
  const ws = fs.createWriteStream(tmp, { flags: "wx", mode: 0o644 });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.on("error", reject);
      ws.write(head);
      const src = Readable.from(body, { objectMode: false });
      src.on("error", reject);
      // mtime 0 and OS 3 like libvirt's gzip pipe; level 6 is gzip -c's default
      const piped = compression === "gzip" ? src.pipe(zlib.createGzip({ level: 6 })) : src;
      piped.on("error", reject);
      piped.pipe(ws);
      ws.on("finish", resolve);
    });
    const fd = fs.openSync(tmp, "r+");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    try {
      fs.chmodSync(tmp, fs.statSync(target).mode & 0o7777);
    } catch {
      /* new file */
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    ws.destroy();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes the edited stream (chunks over opened.source, from StreamModel.saveChunks()) inside the
 * opened container to `target`: a raw libvirt image keeps header, XML, cookie and padding byte for
 * byte; a gzip one is recompressed; others need mode "raw" (the libvirt header then says raw).
 * `onProgress` gets the stream bytes done; when it throws, the target is left untouched.
 */
export async function writeEdited(
  opened: OpenedVmState,
  chunks: Chunk[],
  target: string,
  mode: WriteMode = "same",
  onProgress?: (done: number) => void,
): Promise<Compression> {
  const c = opened.container;
  const plan = writePlan(opened, mode);
  if (c.kind === "qcow2-snapshot") throw new ContainerError("read-only", plan.note!);
  if (c.partial)
    throw new ContainerError(
      "partial",
      "the compressed stream was corrupt or cut short and only part of it was read; writing it back would write a truncated image",
    );
  if (mode === "same" && !plan.canKeep)
    throw new ContainerError("cannot-compress", `cannot write ${c.compression} again: ${plan.note}`);
  if (c.compression === "none") {
    const off = opened.container.streamOffset;
    writeChunksAtomically(
      target,
      opened.file,
      linearChunks(opened, chunks),
      onProgress && ((w) => onProgress(Math.max(0, w - off))),
    );
    return "none";
  }
  let head: Uint8Array = new Uint8Array(0);
  if (c.kind === "libvirt-save") {
    const p = parseLibvirtHeader(opened.file);
    head =
      plan.compression === c.compression
        ? opened.file.read(0, c.streamOffset).slice()
        : rewriteLibvirtData(opened.file, p, p.xml, { compressed: 0 });
  }
  await writeAtomically(target, head, chunkBytes(opened.source, chunks, onProgress), plan.compression);
  return plan.compression;
}

/** "Edit Domain XML": virsh save-image-edit / save-image-define. The stream is copied unchanged. */
export function writeDomainXml(opened: OpenedVmState, newXml: string, target: string): void {
  if (opened.container.kind !== "libvirt-save")
    throw new ContainerError("not-libvirt", "only libvirt save images carry a domain XML");
  const p = parseLibvirtHeader(opened.file);
  const data = rewriteLibvirtData(opened.file, p, newXml);
  writeChunksAtomically(target, opened.file, [
    { bytes: data },
    { copy: { start: p.streamOffset, end: opened.file.size } },
  ]);
}
