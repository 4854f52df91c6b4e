// The editor's decoding worker thread (src/editor/worker): the same queries, edits, undo and
// saves as before, answered off the calling thread; open and save stop on cancel and leave the
// file untouched; the event loop of the caller stays free while the worker decodes.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { CancelledError, DocClient } from "../../src/editor/worker/docClient";
import { FIXTURES, ROOT } from "./helpers";

const WORKER = path.join(ROOT, "dist/docWorker.js");

function tmpCopy(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-worker-"));
  const file = path.join(dir, path.basename(name));
  fs.copyFileSync(path.join(FIXTURES, name), file);
  return file;
}

test("open, query, edit, undo, redo and save through the worker", async () => {
  const file = tmpCopy("dbus-vmstate-3helpers.vmstate");
  const original = fs.readFileSync(file);
  const c = new DocClient(WORKER);
  const progress: number[] = [];
  c.onProgress = (p) => progress.push(p.done / p.total);
  try {
    const r = await c.request("open", { where: { path: file }, edits: [] });
    assert.equal(r.size, original.length);
    assert.equal(progress[progress.length - 1], 1, "decode progress ends at 100%");
    const info = await c.request("docInfo", { fileName: "x", uri: "file:///x", pendingEdits: 0 });
    assert.equal(info.helpers.length, 3);
    const helpers = await c.request("helpers", {});
    const blob = await c.request("helperBlob", { index: 1 });
    assert.equal(blob.length, helpers[1]!.size);
    const edit = { type: "helper-set" as const, index: 1, id: helpers[1]!.id, bytes: new Uint8Array(helpers[1]!.size + 100).fill(9) };
    const a = await c.request("apply", { id: 1, edit });
    assert.ok(a.size >= original.length);
    assert.equal(a.inverse?.type, "helper-set");
    assert.equal((await c.request("helperBlob", { index: 1 })).length, helpers[1]!.size + 100);
    assert.equal((await c.request("setEdits", { ids: [] })).size, original.length, "undo");
    assert.deepEqual(Buffer.from(await c.request("read", { offset: 0, length: original.length })), original);
    assert.equal((await c.request("setEdits", { ids: [1] })).size, a.size, "redo");
    const out = path.join(path.dirname(file), "saved.vmstate");
    c.resetCancel();
    const s = await c.request("save", { target: out });
    assert.equal(s.written, a.size);
    assert.deepEqual(Buffer.from(await c.request("readAll", {})), fs.readFileSync(out));
    await assert.rejects(c.request("setEdits", { ids: [99] }), /unknown edit/);
  } finally {
    c.dispose();
  }
});

test("a cancelled open and a cancelled save stop, and the file is left as it was", async () => {
  const file = tmpCopy("q35-devices.vmstate");
  const original = fs.readFileSync(file);
  const c = new DocClient(WORKER);
  try {
    c.resetCancel();
    const opening = c.request("open", { where: { path: file }, edits: [] });
    c.cancel();
    await assert.rejects(opening, CancelledError);
    c.resetCancel();
    await c.request("open", { where: { path: file }, edits: [] });
    c.cancel();
    await assert.rejects(c.request("save", { target: file }), CancelledError);
    assert.deepEqual(fs.readFileSync(file), original, "the original is untouched");
    assert.deepEqual(fs.readdirSync(path.dirname(file)), [path.basename(file)], "no temp file left behind");
  } finally {
    c.dispose();
  }
});

test("the caller's event loop keeps running while the worker decodes", async () => {
  const file = tmpCopy("q35-devices.vmstate");
  const c = new DocClient(WORKER);
  try {
    let ticks = 0;
    let worst = 0;
    let last = performance.now();
    const t = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last - 5);
      last = now;
      ticks++;
    }, 5);
    for (let i = 0; i < 5; i++) await c.request("open", { where: { path: file }, edits: [] });
    clearInterval(t);
    assert.ok(ticks > 0, "the timer never ran");
    assert.ok(worst < 200, `the event loop stalled for ${worst.toFixed(0)} ms`);
  } finally {
    c.dispose();
  }
});
