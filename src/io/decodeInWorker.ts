// A helper thread for comparisons: it decodes one file while the calling thread decodes the
// other, then compares half of a big RAM block while the caller compares the other half. It runs
// dist/diffWorker.js (src/io/diffWorkerMain.ts). Decoded trees come back by structured clone
// (plain objects, Uint8Arrays and bigints); each thread opens the files itself for the bytes.
import * as fs from "node:fs";
import * as path from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { inflateSync } from "node:zlib";
import { runRamSlice, type RamSliceJob, type RamSliceResult } from "../diff/ram";
import { decodeStream } from "../format/decode";
import type { DecodedStream } from "../format/types";
import { FileByteSource } from "./fileSource";

const KEY = "vmstateHelperWorker";

type Request = { op: "decode"; file: string } | { op: "ram"; a: string; b: string; job: RamSliceJob };
type Reply = { ok: true; decoded?: DecodedStream; ram?: [number, RamSliceResult][] } | { ok: false; error: string };

/** The paths are bare stream files (OpenedVmState.path), opened as they are. */
function serve(m: Request): Reply {
  if (m.op === "decode") {
    const f = FileByteSource.open(m.file);
    try {
      // the caller decodes the other file meanwhile: no read-ahead thread on top (decode.ts)
      return { ok: true, decoded: decodeStream(f, { readAhead: false }) };
    } finally {
      f.close();
    }
  }
  const a = FileByteSource.open(m.a);
  try {
    const b = FileByteSource.open(m.b);
    try {
      return { ok: true, ram: runRamSlice(m.job, a, b, (x) => new Uint8Array(inflateSync(x))) };
    } finally {
      b.close();
    }
  } finally {
    a.close();
  }
}

/** In the worker HelperWorker starts: answer its requests and return true. Else false. */
export function serveDecodeWorker(): boolean {
  if (isMainThread || !(workerData as Record<string, unknown> | null)?.[KEY]) return false;
  parentPort!.on("message", (m: Request) => {
    let reply: Reply;
    try {
      reply = serve(m);
    } catch (e) {
      reply = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    parentPort!.postMessage(reply);
  });
  return true;
}

/** dist/diffWorker.js next to the calling bundle (`dir`: its __dirname), when it is there. */
export function helperWorkerScript(dir: string): string | undefined {
  const f = path.join(dir, "diffWorker.js");
  return fs.existsSync(f) ? f : undefined;
}

/** The caller's side: one request at a time. */
export class HelperWorker {
  private readonly w: Worker;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** Why the worker is gone: a request made after that fails at once (it would wait for ever). */
  private gone?: string;

  constructor(bundle: string) {
    this.w = new Worker(bundle, { workerData: { [KEY]: true } });
    this.w.unref();
    // always listened to: an error between requests would otherwise be thrown here, and an exit
    // between requests would leave the next request waiting for a reply that never comes
    this.w.on("error", (e) => {
      this.gone ??= `helper worker failed: ${e.message}`;
    });
    this.w.on("exit", (code) => {
      this.gone ??= `helper worker exited with ${code}`;
    });
  }

  private call(m: Request): Promise<Reply & { ok: true }> {
    const run = () =>
      new Promise<Reply & { ok: true }>((resolve, reject) => {
        if (this.gone !== undefined) {
          reject(new Error(this.gone));
          return;
        }
        const onMessage = (r: Reply) => {
          cleanup();
          if (r.ok) resolve(r);
          else reject(new Error(r.error));
        };
        const onError = (e: Error) => {
          cleanup();
          reject(e);
        };
        const onExit = (code: number) => {
          cleanup();
          reject(new Error(`helper worker exited with ${code}`));
        };
        // a reply that cannot be read never arrives as a message
        const onMessageError = (e: Error) => {
          cleanup();
          reject(new Error(`the helper worker's reply could not be read: ${e.message}`));
        };
        const cleanup = () => {
          this.w.off("message", onMessage);
          this.w.off("messageerror", onMessageError);
          this.w.off("error", onError);
          this.w.off("exit", onExit);
        };
        this.w.on("message", onMessage);
        this.w.on("messageerror", onMessageError);
        this.w.on("error", onError);
        this.w.on("exit", onExit);
        this.w.postMessage(m);
      });
    // post at once when no request is pending: the caller goes on with long synchronous work (its
    // half of the RAM) right after, and a post deferred to a promise callback would only leave
    // after that work, so the two halves would run one after the other instead of at once
    const p = this.pending === 0 ? run() : this.queue.then(run, run);
    this.pending++;
    const done = () => {
      this.pending--;
    };
    p.then(done, done);
    this.queue = p.catch(() => {});
    return p;
  }

  async decode(file: string): Promise<DecodedStream> {
    const r = await this.call({ op: "decode", file });
    return r.decoded!;
  }

  async ramSlice(a: string, b: string, job: RamSliceJob): Promise<[number, RamSliceResult][]> {
    const r = await this.call({ op: "ram", a, b, job });
    return r.ram!;
  }

  close(): void {
    this.gone ??= "helper worker closed";
    void this.w.terminate();
  }
}
