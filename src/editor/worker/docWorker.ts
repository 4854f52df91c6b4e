// The decoding worker of one open document (a node:worker_threads thread, bundled as
// dist/docWorker.js). Everything that reads or decodes the stream runs here, so the extension
// host's event loop only forwards requests: opening an 810 MB stream, editing, undoing, saving
// never block it. Long operations report progress and stop when the host sets the shared cancel
// flag (checked on every read of the source, so a decode stops within one read).
import { parentPort } from "node:worker_threads";
import { decodeStream } from "../../format/decode";
import type { ByteSource, DecodedStream, VNode } from "../../format/types";
import type { NodeDto } from "../../shared/protocol";
import { ContainerError, writeDomainXml, writeEdited } from "../../container";
import { openDocumentSource, type OpenedDocument } from "../../io/openDocumentSource";
import { writeChunksAtomically } from "../../io/writeChunks";
import type { Edit } from "../../model/edits";
import { StreamModel } from "../../model/streamModel";
import { StreamIndex, treeRow } from "../streamIndex";
import type { FromWorker, RefreshRequest, ToWorker, WorkerRefresh, WorkerRequests } from "./messages";

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

/**
 * The top-level records decoded so far, as tree rows (the last record of `root` may still be in
 * progress and is left out): sent with the progress so the tree fills in while a big stream
 * decodes. The full index (severities, diagnostics) replaces them when decoding ends.
 */
function grown(root: VNode | undefined, from: number): NodeDto[] {
  const top = root?.children ?? [];
  const out: NodeDto[] = [];
  for (let i = from; i < top.length - 1; i++) out.push(treeRow(top[i]!));
  return out;
}

/** The source as the decoder sees it while opening: progress by the furthest byte read (with the records decoded so far), and cancel. */
function watched(src: ByteSource, live?: () => VNode | undefined): ByteSource {
  let next = PROGRESS_STEP;
  let sent = 0;
  const check = (offset: number, length: number) => {
    if (Atomics.load(cancel, 0)) throw new Cancelled();
    const end = offset + length;
    if (end >= next) {
      next = end + PROGRESS_STEP;
      const roots = grown(live?.(), sent);
      sent += roots.length;
      post({
        progress: { op: "decode", done: Math.min(end, src.size), total: src.size, ...(roots.length ? { roots } : {}) },
      });
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
  const view = o && {
    info: o.container,
    toFileOffset: (s: number) => (m.edits.length ? undefined : o.toFileOffset(s)),
  };
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

/** Hex pages of the webview (hexView.ts PAGE_SIZE): refreshed bytes cover whole pages. */
const HEX_PAGE = 64 * 1024;
/** At most this many bytes of a refresh's hex window (the visible rows span at most two pages). */
const MAX_REFRESH_BYTES = 4 * HEX_PAGE;

/** The top-level records and size before a change, to tell what changed after it. */
function snapshot(): { top: VNode[]; size: number } {
  const { model: m } = need();
  return { top: m.decoded.root.children ?? [], size: m.source.size };
}

/**
 * The new DocInfo and what the change did to the stream, with what `r.view` needs to redraw in
 * place: unchanged top-level records are the same objects before and after (StreamModel shares
 * them), so every other record (edited, re-decoded, or shifted by a change in length) is listed
 * as changed, with its expanded children, the selection and the hex window's new bytes.
 */
export function refreshAfter(before: { top: VNode[]; size: number }, r: RefreshRequest): WorkerRefresh {
  const { model: m, index: idx } = need();
  const t0 = Date.now();
  const top = m.decoded.root.children ?? [];
  const old = new Map(before.top.map((n) => [n.id, n]));
  const changed: VNode[] = [];
  const oldChanged: VNode[] = [];
  for (const n of top) {
    const o = old.get(n.id);
    if (o !== n) {
      changed.push(n);
      if (o) oldChanged.push(o);
    }
    old.delete(n.id);
  }
  for (const o of old.values()) oldChanged.push(o); // records that went away
  // Sets, not some() per record: an edit that changes a length shifts every later record, so
  // thousands of records can change at once
  const changedIds = new Set(changed.map((n) => n.id));
  const changedRoots = [...changed, ...oldChanged.filter((o) => !changedIds.has(o.id))].map((n) => n.id);
  const rootSet = new Set(changedRoots);
  const size = m.source.size;
  let changedBytes: { start: number; end: number } | undefined;
  // a loop, not Math.min(...spans): a crafted stream can change 100,000s of records at once, more
  // arguments than a call can take
  let start = Infinity;
  let end = -Infinity;
  for (const list of [changed, oldChanged])
    for (const n of list) {
      start = Math.min(start, n.span.start);
      end = Math.max(end, n.span.end);
    }
  if (start !== Infinity) changedBytes = { start, end: size !== before.size ? Math.max(size, before.size) : end };
  // id is a changed root or below one: it, or a prefix of it that ends before a "/", is a root
  const under = (id: string) => {
    if (rootSet.has(id)) return true;
    for (let i = id.indexOf("/"); i >= 0; i = id.indexOf("/", i + 1)) if (rootSet.has(id.slice(0, i))) return true;
    return false;
  };
  const refresh: WorkerRefresh["refresh"] = {
    changedRoots,
    ...(changedBytes ? { changedBytes } : {}),
    children: {},
    marks: { workerStart: t0 },
  };
  const v = r.view;
  if (v) {
    for (const id of v.expanded) {
      if (!under(id)) continue;
      try {
        refresh.children[id] = idx.children(id, 0);
      } catch {
        /* the node went away: the view drops it */
      }
    }
    if (v.selectedId !== undefined && under(v.selectedId)) {
      refresh.selected = idx.reveal(v.selectedId);
      refresh.details = refresh.selected ? idx.details(v.selectedId) : null;
    }
    if (changedBytes && v.hexBytes > 0) {
      const from = Math.max(changedBytes.start, v.hexTop);
      const to = Math.min(changedBytes.end, size, v.hexTop + v.hexBytes);
      if (from < to) {
        const offset = Math.floor(from / HEX_PAGE) * HEX_PAGE;
        const end = Math.min(size, Math.ceil(to / HEX_PAGE) * HEX_PAGE, offset + MAX_REFRESH_BYTES);
        refresh.bytes = { offset, data: copyOf(idx.read(offset, end - offset)) };
      }
    }
  }
  const info = idx.docInfo(r.fileName, r.uri, r.pendingEdits);
  refresh.marks!.workerDone = Date.now();
  return { info, refresh };
}

type Handlers = {
  [K in keyof WorkerRequests]: (
    p: WorkerRequests[K]["params"],
  ) => WorkerRequests[K]["result"] | Promise<WorkerRequests[K]["result"]>;
};

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
      let root: VNode | undefined;
      // no read-ahead thread (io/readAhead.ts): in the editor the other core runs the workbench
      // and the extension host; measured in code-server on the 810 MB stream, opening was no
      // faster with it (decode ~0.19 s either way) and reopening after a save slower (+0.07 s)
      decoded = decodeStream(
        watched(src, () => root),
        { onRoot: (r) => (root = r), readAhead: false },
      );
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
    return {
      size: src.size,
      decodeMs,
      ...(restoreError ? { restoreError } : {}),
      ...(d.opened ? { container: d.opened.container } : {}),
    };
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
  apply({ id, edit, confirmed, refresh }) {
    const t0 = performance.now();
    const m = need().model;
    // what the edit changes is found once; warnings come back unapplied until the user confirms
    const checked = m.check(edit);
    if (checked.warnings.length && !confirmed)
      return { warnings: checked.warnings, ms: performance.now() - t0, size: m.source.size };
    const before = snapshot();
    m.apply(checked);
    edits.set(id, edit);
    reindex();
    const refreshed = refresh && refreshAfter(before, refresh);
    return {
      ...(checked.inverse ? { inverse: checked.inverse } : {}),
      ms: performance.now() - t0,
      size: m.source.size,
      ...(refreshed ? { refreshed } : {}),
    };
  },
  setEdits({ ids, refresh }) {
    const t0 = performance.now();
    const m = need().model;
    const before = snapshot();
    // the edit objects the model already holds, so shared prefixes are recognised and kept
    const list = ids.map((id) => {
      const e = edits.get(id);
      if (!e) throw new Error(`unknown edit #${id}`);
      return e;
    });
    m.setEdits(list);
    reindex();
    const refreshed = refresh && refreshAfter(before, refresh);
    return { ms: performance.now() - t0, size: m.source.size, ...(refreshed ? { refreshed } : {}) };
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
      post({
        seq: m.seq,
        ok: false,
        error: e instanceof Error ? e.message : String(e),
        ...(e instanceof Cancelled ? { cancelled: true } : {}),
        ...(typeof code === "string" ? { code } : {}),
      });
    }
  });
});
