// The decoding worker of one open document (a node:worker_threads thread, bundled as
// dist/docWorker.js). Everything that reads or decodes the stream runs here, so the extension
// host's event loop only forwards requests: opening an 810 MB stream, editing, undoing, saving
// never block it. Long operations report progress and stop when the host sets the shared cancel
// flag (checked on every read of the source, so a decode stops within one read).
import { parentPort } from "node:worker_threads";
import { decodeStream } from "../../format/decode";
import type { ByteSource, DecodedStream } from "../../format/types";
import { ContainerError, writeDomainXml, writeEdited } from "../../container";
import { openDocumentSource, type OpenedDocument } from "../../io/openDocumentSource";
import { writeChunksAtomically } from "../../io/writeChunks";
import type { Edit } from "../../model/edits";
import { StreamModel } from "../../model/streamModel";
import { StreamIndex } from "../streamIndex";
import type { FromWorker, ToWorker, WorkerRequests } from "./messages";

class Cancelled extends Error {
  constructor() {
    super("cancelled");
  }
}

const port = parentPort!;
let cancel = new Int32Array(new SharedArrayBuffer(4));
/** The open input: the bare stream and what carried it (libvirt image, compressed file, qcow2 snapshot). */
let doc: OpenedDocument | undefined;
let model: StreamModel | undefined;
let index: StreamIndex | undefined;
const edits = new Map<number, Edit>();
const PROGRESS_STEP = 32 * 1024 * 1024;

function post(m: FromWorker): void {
  port.postMessage(m);
}

/** The source as the decoder sees it while opening: progress by the furthest byte read, and cancel. */
function watched(src: ByteSource): ByteSource {
  let next = PROGRESS_STEP;
  const check = (offset: number, length: number) => {
    if (Atomics.load(cancel, 0)) throw new Cancelled();
    const end = offset + length;
    if (end >= next) {
      next = end + PROGRESS_STEP;
      post({ progress: { op: "decode", done: Math.min(end, src.size), total: src.size } });
    }
  };
  const w: ByteSource = {
    size: src.size,
    read: (o, n) => {
      check(o, n);
      return src.read(o, n);
    },
  };
  if (src.readInto) {
    const ri = src.readInto.bind(src);
    w.readInto = (o, t) => {
      check(o, t.length);
      return ri(o, t);
    };
  }
  return w;
}

function need(): { model: StreamModel; index: StreamIndex } {
  if (!model || !index) throw new Error("the document is not open");
  return { model, index };
}

/**
 * The index of the model's current state, re-indexing only the records an edit changed. It shows
 * the container node first, and file offsets while the stream is unedited (edits move them).
 */
function reindex(fresh = false): void {
  const m = model!;
  const o = doc?.opened;
  const view = o && { info: o.container, toFileOffset: (s: number) => (m.edits.length ? undefined : o.toFileOffset(s)) };
  index = new StreamIndex(m.source, m.decoded, m.decodeMs, view, fresh ? undefined : index);
}

function closeInput(): void {
  doc?.close();
  doc = undefined;
  model = undefined;
  index = undefined;
  edits.clear();
}

/** Progress of a save (bytes of the stream written) that stops when the host cancels. */
function saveProgress(total: number): (done: number) => void {
  let next = PROGRESS_STEP;
  return (done) => {
    if (Atomics.load(cancel, 0)) throw new Cancelled();
    if (done >= next) {
      next = done + PROGRESS_STEP;
      post({ progress: { op: "save", done, total } });
    }
  };
}

function copyOf(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}

type Handlers = { [K in keyof WorkerRequests]: (p: WorkerRequests[K]["params"]) => WorkerRequests[K]["result"] | Promise<WorkerRequests[K]["result"]> };

const handlers: Handlers = {
  async open({ where, edits: restored }) {
    closeInput();
    // decompression (async, in this thread) stops when the host's cancel flag is set
    const ac = new AbortController();
    const poll = setInterval(() => {
      if (Atomics.load(cancel, 0)) ac.abort();
    }, 50);
    let d: OpenedDocument;
    try {
      d = await openDocumentSource(where, {
        signal: ac.signal,
        onProgress: (p) => post({ progress: { op: "decompress", done: p.read, total: p.total } }),
      });
    } catch (e) {
      if (e instanceof ContainerError && e.code === "cancelled") throw new Cancelled();
      throw e;
    } finally {
      clearInterval(poll);
    }
    const src = d.source;
    const t0 = performance.now();
    let decoded: DecodedStream;
    try {
      decoded = decodeStream(watched(src));
    } catch (e) {
      d.close();
      throw e;
    }
    doc = d;
    const decodeMs = performance.now() - t0;
    post({ progress: { op: "decode", done: src.size, total: src.size } });
    model = new StreamModel(src, { decoded, decodeMs });
    let restoreError: string | undefined;
    if (restored.length) {
      for (const r of restored) edits.set(r.id, r.edit);
      try {
        model.setEdits(restored.map((r) => r.edit));
      } catch (e) {
        restoreError = e instanceof Error ? e.message : String(e);
      }
    }
    reindex(true);
    return { size: src.size, decodeMs, ...(restoreError ? { restoreError } : {}), ...(d.opened ? { container: d.opened.container } : {}) };
  },
  docInfo: ({ fileName, uri, pendingEdits }) => need().index.docInfo(fileName, uri, pendingEdits),
  children: ({ id, offset, limit }) => need().index.children(id, offset, limit),
  nodeAt: ({ offset }) => need().index.nodeAt(offset),
  reveal: ({ id }) => need().index.reveal(id),
  filter: ({ query, limit }) => need().index.filter(query, limit),
  details: ({ id }) => need().index.details(id),
  read: ({ offset, length }) => copyOf(need().index.read(offset, length)),
  helpers: () => need().index.helpers(),
  helperBlob: ({ index: i }) => copyOf(need().index.helperBlob(i)),
  apply({ id, edit, confirmed }) {
    const t0 = performance.now();
    const m = need().model;
    // what the edit changes is found once; warnings come back unapplied until the user confirms
    const checked = m.check(edit);
    if (checked.warnings.length && !confirmed) return { warnings: checked.warnings, ms: performance.now() - t0, size: m.source.size };
    m.apply(checked);
    edits.set(id, edit);
    reindex();
    return { ...(checked.inverse ? { inverse: checked.inverse } : {}), ms: performance.now() - t0, size: m.source.size };
  },
  setEdits({ ids }) {
    const t0 = performance.now();
    const m = need().model;
    // the edit objects the model already holds, so shared prefixes are recognised and kept
    const list = ids.map((id) => {
      const e = edits.get(id);
      if (!e) throw new Error(`unknown edit #${id}`);
      return e;
    });
    m.setEdits(list);
    reindex();
    return { ms: performance.now() - t0, size: m.source.size };
  },
  async save({ target, container: mode }) {
    const m = need().model;
    const chunks = m.saveChunks();
    const total = chunks.reduce((n, c) => n + ("bytes" in c ? c.bytes.length : c.copy.end - c.copy.start), 0);
    const o = doc?.opened;
    if (mode && o && o.container.kind !== "stream") {
      // inside the container: header, XML and cookie kept, the stream recompressed where we can
      await writeEdited(o, chunks, target, mode, saveProgress(total));
      return { written: total };
    }
    return { written: writeChunksAtomically(target, doc!.source, chunks, saveProgress(total)) };
  },
  writeDomainXml({ xml, target }) {
    const o = doc?.opened;
    if (!o) throw new Error("the document is not open");
    writeDomainXml(o, xml, target);
    return {};
  },
  close() {
    closeInput();
    return {};
  },
  readAll: () => {
    const m = need().model;
    return copyOf(m.source.read(0, m.source.size));
  },
};

let queue: Promise<void> = Promise.resolve();

port.on("message", (m: ToWorker) => {
  if ("init" in m) {
    cancel = new Int32Array(m.init.cancel);
    return;
  }
  // one request at a time, in order (open and save may wait for decompression or compression)
  queue = queue.then(async () => {
    try {
      const fn = handlers[m.method] as (p: unknown) => unknown;
      const result = await fn(m.params);
      const transfer = result instanceof Uint8Array ? [result.buffer as ArrayBuffer] : [];
      port.postMessage({ seq: m.seq, ok: true, result } satisfies FromWorker, transfer);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      post({ seq: m.seq, ok: false, error: e instanceof Error ? e.message : String(e), ...(e instanceof Cancelled ? { cancelled: true } : {}), ...(typeof code === "string" ? { code } : {}) });
    }
  });
});
