// The extension host's side of a document's decoding worker (docWorker.ts): typed requests,
// progress, cancel through a shared flag, and DocIndex, the asynchronous view of the decoded
// stream the editor, its commands and the webview query. No vscode import.
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import type {
  ChildrenChunk,
  DocInfo,
  FilterResult,
  HelperDto,
  NodeDetails,
  NodeDto,
  RevealTarget,
} from "../../shared/protocol";
import type { FromWorker, ToWorker, WorkerMethod, WorkerRequests } from "./messages";

export class CancelledError extends Error {
  constructor(what: string) {
    super(`${what} was cancelled`);
    this.name = "CancelledError";
  }
}

/** A failure in the worker, with the code of a ContainerError (e.g. "snapshot-ambiguous") when it was one. */
export class WorkerError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** `roots`: while decoding, the top-level records decoded since the last report (the tree fills in). */
export type WorkerProgress = { op: "decompress" | "decode" | "save"; done: number; total: number; roots?: NodeDto[] };

export class DocClient {
  private readonly worker: Worker;
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }
  >();
  private readonly cancelFlag = new Int32Array(new SharedArrayBuffer(4));
  private dead?: Error;
  onProgress?: (p: WorkerProgress) => void;

  /** `script`: the bundled worker (dist/docWorker.js, next to dist/extension.js). */
  constructor(script = path.join(__dirname, "docWorker.js")) {
    this.worker = new Worker(script);
    this.worker.postMessage({ init: { cancel: this.cancelFlag.buffer as SharedArrayBuffer } } satisfies ToWorker);
    this.worker.on("message", (m: FromWorker) => {
      if ("progress" in m) {
        this.onProgress?.(m.progress);
        return;
      }
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (m.ok) p.resolve(m.result);
      else
        p.reject(
          m.cancelled
            ? new CancelledError(p.method === "save" ? "Saving" : "Opening")
            : new WorkerError(m.error, m.code),
        );
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on("error", (e) => fail(e instanceof Error ? e : new Error(String(e))));
    this.worker.on("exit", (code) => fail(new Error(`the decoding worker exited (code ${code})`)));
  }

  request<K extends WorkerMethod>(
    method: K,
    params: WorkerRequests[K]["params"],
  ): Promise<WorkerRequests[K]["result"]> {
    if (this.dead) return Promise.reject(this.dead);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, method });
      this.worker.postMessage({ seq, method, params } satisfies ToWorker);
    });
  }

  /** Stops the running decode or save (it rejects with CancelledError). */
  cancel(): void {
    Atomics.store(this.cancelFlag, 0, 1);
  }

  /** Before a cancellable operation starts. */
  resetCancel(): void {
    Atomics.store(this.cancelFlag, 0, 0);
  }

  /** Stops what runs, closes the input (a decompressed temp file is removed), then ends the thread. */
  dispose(): void {
    this.cancel();
    const end = () => void this.worker.terminate();
    const t = setTimeout(end, 5000);
    t.unref?.();
    this.request("close", {}).then(
      () => (clearTimeout(t), end()),
      () => (clearTimeout(t), end()),
    );
  }
}

/** The decoded (edited) stream as the extension host sees it: every query answered by the worker. */
export class DocIndex {
  constructor(
    private readonly client: DocClient,
    readonly size: number,
    readonly decodeMs: number,
  ) {}

  docInfo(fileName: string, uri: string, pendingEdits = 0): Promise<DocInfo> {
    return this.client.request("docInfo", { fileName, uri, pendingEdits });
  }
  children(id: string, offset?: number, limit?: number): Promise<ChildrenChunk> {
    return this.client.request("children", {
      id,
      ...(offset !== undefined ? { offset } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
  }
  nodeAt(offset: number): Promise<RevealTarget | null> {
    return this.client.request("nodeAt", { offset });
  }
  reveal(id: string): Promise<RevealTarget | null> {
    return this.client.request("reveal", { id });
  }
  filter(query: string, limit?: number): Promise<FilterResult> {
    return this.client.request("filter", { query, ...(limit !== undefined ? { limit } : {}) });
  }
  details(id: string): Promise<NodeDetails | null> {
    return this.client.request("details", { id });
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.client.request("read", { offset, length });
  }
  helpers(): Promise<HelperDto[]> {
    return this.client.request("helpers", {});
  }
  helperBlob(index: number): Promise<Uint8Array> {
    return this.client.request("helperBlob", { index });
  }
}
