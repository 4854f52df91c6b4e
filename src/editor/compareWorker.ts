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
  const rpc = new MessageEndpoint<CompareRequests, CompareWebviewRequests, Record<string, never>, CompareNotifications>((m: WireMessage) => port.postMessage(m));
  port.on("message", (m) => void rpc.receive(m));

  const opened: OpenedVmState[] = [];
  const ready: Promise<CompareIndex> = new Promise((resolve, reject) => {
    // let the first messages through before the long synchronous work
    setImmediate(async () => {
      try {
        const t0 = performance.now();
        const progress = (fraction: number, message: string) => rpc.notify("cmp/progress", { fraction, message });
        progress(0, "decoding");
        const a = await openVmStateFile(data.a);
        opened.push(a);
        const b = await openVmStateFile(data.b);
        opened.push(b);
        // a second worker decodes A while this one decodes B, then compares half of the RAM
        const pa = a.path;
        const pb = b.path;
        const script = helperWorkerScript(__dirname);
        const helper = script && pa !== undefined && pb !== undefined ? new HelperWorker(script) : undefined;
        const pendingA = helper ? helper.decode(pa!).catch(() => undefined) : Promise.resolve(undefined);
        const db = decodeStream(b.src);
        const da = (await pendingA) ?? decodeStream(a.src);
        for (const [o, d] of [[a, da], [b, db]] as const) {
          const why = unreadableReason(d);
          if (why) {
            helper?.close();
            throw new Error(`${o.label}: ${why}`);
          }
        }
        progress(0.5, "comparing");
        const sa = { file: a.label, src: a.src, decoded: da };
        const sb = { file: b.label, src: b.src, decoded: db };
        const result = await compareStreams(sa, sb, {
          sha256: (x) => createHash("sha256").update(x).digest("hex"),
          inflate: (x) => new Uint8Array(inflateSync(x)),
          onProgress: (f, m) => progress(0.5 + f / 2, m),
          ...(helper ? { ramRemote: (job: RamSliceJob) => helper.ramSlice(pa!, pb!, job) } : {}),
        });
        helper?.close();
        resolve(new CompareIndex(result, sa, sb, performance.now() - t0));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
  ready.catch(() => {});

  rpc.handle("cmp/ready", async () => (await ready).info());
  rpc.handle("tree/children", async ({ id, offset, limit, onlyDiffs }) => (await ready).children(id, offset, limit, onlyDiffs));
  rpc.handle("tree/reveal", async ({ id }) => (await ready).reveal(id));
  rpc.handle("cmp/details", async ({ id }) => (await ready).details(id));
  rpc.handle("cmp/readRange", async ({ side, offset, length }) => exactCopy((await ready).read(side, offset, length)));

  port.on("close", () => {
    for (const o of opened) o.close();
  });
}
