// Decode a stream file in a worker thread, so two files decode at once (vmstate diff, the compare
// view). The worker is the calling bundle itself started again: its entry calls serveDecodeWorker()
// first, which answers when workerData asks for a decode. The decoded tree comes back by
// structured clone (plain objects, Uint8Arrays and bigints); the caller opens the file itself for
// the bytes.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { decodeStream } from "../format/decode";
import type { DecodedStream } from "../format/types";
import { openVmStateFile } from "./openVmState";

const KEY = "vmstateDecodeFile";

/** In a worker started by decodeInWorker: decode, post the result, return true. Else false. */
export function serveDecodeWorker(): boolean {
  const file = isMainThread ? undefined : (workerData as Record<string, unknown> | null)?.[KEY];
  if (typeof file !== "string") return false;
  try {
    const o = openVmStateFile(file);
    try {
      parentPort!.postMessage({ ok: true, decoded: decodeStream(o.src) });
    } finally {
      o.close();
    }
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
  return true;
}

let script: string | undefined;

/** The bundle whose entry calls serveDecodeWorker() (the CLI's main sets it). */
export function setDecodeWorkerScript(file: string): void {
  script = file;
}

export function decodeWorkerScript(): string | undefined {
  return script;
}

/** Decode `file` in a worker started from `bundle` (default: the one set above). */
export function decodeInWorker(file: string, bundle = script): Promise<DecodedStream> {
  if (!bundle) return Promise.reject(new Error("no decode worker script"));
  return new Promise((resolve, reject) => {
    const w = new Worker(bundle, { workerData: { [KEY]: file } });
    w.once("message", (m: { ok: boolean; decoded?: DecodedStream; error?: string }) => {
      void w.terminate();
      if (m.ok && m.decoded) resolve(m.decoded);
      else reject(new Error(m.error ?? "decode worker failed"));
    });
    w.once("error", reject);
    w.once("exit", (code) => reject(new Error(`decode worker exited with ${code}`)));
  });
}
