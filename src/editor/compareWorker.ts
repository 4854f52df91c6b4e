// The comparison worker (a worker_threads Worker, bundled as dist/compareWorker.js): opens both
// files, decodes them, compares them and then answers the compare view's requests, so a big
// comparison never blocks the extension host's thread. The host relays the webview's messages.
import { parentPort, workerData } from "node:worker_threads";
import { createHash } from "node:crypto";
import { inflateSync } from "node:zlib";
import { compareStreams, unreadableReason } from "../diff/compare";
import { CompareIndex } from "../diff/compareIndex";
import type { RamSliceJob } from "../diff/ram";
import { decodeStream } from "../format";
import { exactCopy } from "../format/bytes";
import type { ByteSource } from "../format/types";
import { HelperWorker, helperWorkerScript } from "../io/decodeInWorker";
import { openVmStateFile, type OpenedVmState } from "../container/openForCompare";
import type { CompareNotifications, CompareRequests, CompareWebviewRequests } from "../shared/compareProtocol";
import { MessageEndpoint, type WireMessage } from "../shared/protocol";

export interface CompareWorkerData {
  a: string;
  b: string;
}

main();

function main(): void {
  const port = parentPort!;
  const data = workerData as CompareWorkerData;
  const rpc = new MessageEndpoint<CompareRequests, CompareWebviewRequests, Record<string, never>, CompareNotifications>(
    (m: WireMessage) => port.postMessage(m),
  );
  port.on("message", (m) => void rpc.receive(m));

  const opened: OpenedVmState[] = [];
  const progress = (fraction: number, message: string) => rpc.notify("cmp/progress", { fraction, message });
  const ready: Promise<CompareIndex> = new Promise((resolve, reject) => {
    // let the first messages through before the long synchronous work
    setImmediate(async () => {
      let helper: HelperWorker | undefined;
      try {
        const t0 = performance.now();
        progress(0, "decoding");
        const a = await openVmStateFile(data.a);
        opened.push(a);
        const b = await openVmStateFile(data.b);
        opened.push(b);
        // a second worker decodes A while this one decodes B, then compares half of the RAM
        const pa = a.path;
        const pb = b.path;
        const script = helperWorkerScript(__dirname);
        helper = script && pa !== undefined && pb !== undefined ? new HelperWorker(script) : undefined;
        const pendingA = helper ? helper.decode(pa!).catch(() => undefined) : Promise.resolve(undefined);
        // progress while decoding (synchronous here, but a posted message leaves at once): the
        // bytes this thread's decoder has read; the helper decodes A at the same pace
        // no read-ahead thread (io/readAhead.ts) in the editor: the other core runs the workbench
        // (and here often the helper decoding A); see docWorker.ts
        const db = decodeStream(
          counting(b.src, (f) => progress(helper ? f / 2 : f / 4, "decoding")),
          { readAhead: false },
        );
        const da =
          (await pendingA) ??
          decodeStream(
            counting(a.src, (f) => progress(0.25 + f / 4, "decoding")),
            { readAhead: false },
          );
        for (const [o, d] of [
          [a, da],
          [b, db],
        ] as const) {
          const why = unreadableReason(d);
          if (why) throw new Error(`${o.label}: ${why}`);
        }
        progress(0.5, "comparing");
        const sa = { file: a.label, src: a.src, decoded: da };
        const sb = { file: b.label, src: b.src, decoded: db };
        const result = await compareStreams(sa, sb, {
          sha256: (x) => createHash("sha256").update(x).digest("hex"),
          inflate: (x) => new Uint8Array(inflateSync(x)),
          onProgress: (f, m) => progress(0.5 + f / 2, m),
          ...(helper ? { ramRemote: (job: RamSliceJob) => helper!.ramSlice(pa!, pb!, job) } : {}),
        });
        resolve(new CompareIndex(result, sa, sb, performance.now() - t0));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      } finally {
        helper?.close();
      }
    });
  });
  // the host learns the outcome without waiting for the view to ask (its progress ends on it)
  ready.then(
    () => rpc.notify("cmp/done", {}),
    (e: Error) => rpc.notify("cmp/done", { error: e.message }),
  );

  rpc.handle("cmp/ready", async () => (await ready).info());
  rpc.handle("tree/children", async ({ id, offset, limit, onlyDiffs }) =>
    (await ready).children(id, offset, limit, onlyDiffs),
  );
  rpc.handle("tree/reveal", async ({ id }) => (await ready).reveal(id));
  rpc.handle("cmp/details", async ({ id }) => (await ready).details(id));
  rpc.handle("cmp/readRange", async ({ side, offset, length }) => exactCopy((await ready).read(side, offset, length)));

  port.on("close", () => {
    for (const o of opened) o.close();
  });
}

/** The source, reporting the fraction of its bytes read so far (in 1% steps). */
function counting(src: ByteSource, report: (fraction: number) => void): ByteSource {
  let read = 0;
  let shown = 0;
  const add = (n: number) => {
    read += n;
    const f = Math.min(1, read / Math.max(1, src.size));
    if (f - shown >= 0.01) {
      shown = f;
      report(f);
    }
  };
  const out: ByteSource = {
    size: src.size,
    read: (offset, length) => {
      const r = src.read(offset, length);
      add(r.length);
      return r;
    },
  };
  const readInto = src.readInto?.bind(src);
  if (readInto) {
    out.readInto = (offset, target) => {
      const n = readInto(offset, target);
      add(n);
      return n;
    };
  }
  return out;
}
