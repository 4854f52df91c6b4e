// The compare view's worker (dist/compareWorker.js) as the extension host runs it: it reports
// progress, then exactly one cmp/done (with the error when the comparison cannot be made) without
// being asked, and answers cmp/ready either way, so neither the host nor the view waits forever.
import assert from "node:assert/strict";
import * as path from "node:path";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import type { WireMessage } from "../../src/shared/protocol";
import { FIXTURES, ROOT } from "./helpers";

const WORKER = path.join(ROOT, "dist/compareWorker.js");
const D = path.join(FIXTURES, "diff");

interface Run {
  progress: number[];
  done: { error?: string }[];
  ready: { ok: boolean; result?: { counts: { ramPages: number; fields: number } }; error?: string };
  exit?: number;
}

/** Start the worker, ask cmp/ready at once (as the view does), collect what it says until that reply. */
function run(a: string, b: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: { a, b } });
    const r: Partial<Run> = { progress: [], done: [] };
    w.on("message", (m: WireMessage) => {
      if (m.kind === "notify" && m.method === "cmp/progress")
        r.progress!.push((m.params as { fraction: number }).fraction);
      else if (m.kind === "notify" && m.method === "cmp/done") r.done!.push(m.params as { error?: string });
      else if (m.kind === "reply" && m.seq === 1) {
        r.ready = m as unknown as Run["ready"];
        // give a second cmp/done (there must be none) the time to arrive
        setTimeout(() => void w.terminate().then(() => resolve(r as Run)), 200);
      }
    });
    w.on("error", reject);
    w.on("exit", (code) => {
      if (!r.ready) reject(new Error(`the worker exited (${code}) without answering cmp/ready`));
    });
    w.postMessage({ kind: "request", seq: 1, method: "cmp/ready", params: {} });
  });
}

test("compare worker: progress, one cmp/done, then the answer (paused-2 vs pattern: 4 RAM pages)", async () => {
  const r = await run(path.join(D, "paused-2.vmstate"), path.join(D, "pattern.vmstate"));
  assert.ok(r.ready.ok, r.ready.error);
  assert.equal(r.ready.result!.counts.ramPages, 4);
  assert.deepEqual(r.done, [{}]);
  assert.ok(r.progress.length >= 2, `progress ${r.progress.join(" ")}`);
  for (let i = 1; i < r.progress.length; i++) assert.ok(r.progress[i]! >= 0 && r.progress[i]! <= 1);
});

test("compare worker: an input that is not a stream ends in cmp/done with the reason, and cmp/ready fails with it", async () => {
  const r = await run(path.join(D, "paused-1.vmstate"), path.join(D, "pairs.json"));
  assert.equal(r.ready.ok, false);
  assert.match(r.ready.error!, /pairs\.json: not a QEMU migration stream/);
  assert.equal(r.done.length, 1);
  assert.equal(r.done[0]!.error, r.ready.error);
});

test("compare worker: a missing file ends in cmp/done with the reason", async () => {
  const r = await run(path.join(D, "paused-1.vmstate"), path.join(D, "no-such-file.vmstate"));
  assert.equal(r.ready.ok, false);
  assert.match(r.done[0]!.error!, /no-such-file/);
});

test("helper worker: a request after the worker died fails at once instead of waiting for a reply", async () => {
  const { HelperWorker } = await import("../../src/io/decodeInWorker");
  const h = new HelperWorker(path.join(ROOT, "dist/diffWorker.js"));
  const d = await h.decode(path.join(D, "paused-1.vmstate"));
  assert.ok(d.sections.length > 10);
  // the worker goes away between two requests (as a crash would), not through close()
  const w = (h as unknown as { w: Worker }).w;
  await new Promise((r) => {
    w.once("exit", r);
    void w.terminate();
  });
  const late = await Promise.race([
    h.decode(path.join(D, "paused-2.vmstate")).then(
      () => "answered",
      (e: Error) => e.message,
    ),
    new Promise((r) => setTimeout(() => r("no answer after 10 s"), 10000)),
  ]);
  assert.match(String(late), /helper worker exited/);
  h.close();
});
