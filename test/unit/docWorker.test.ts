// The editor's decoding worker thread (src/editor/worker): the same queries, edits, undo and
// saves as before, answered off the calling thread; open and save stop on cancel and leave the
// file untouched; the event loop of the caller stays free while the worker decodes.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { CancelledError, DocClient, WorkerError } from "../../src/editor/worker/docClient";
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
    const edit = {
      type: "helper-set" as const,
      index: 1,
      id: helpers[1]!.id,
      bytes: new Uint8Array(helpers[1]!.size + 100).fill(9),
    };
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

// Event-loop utilization (the share of time the caller's loop spent running code rather than
// waiting for events), not wall-clock lag: a loaded machine can deschedule this process for
// hundreds of ms while its loop is idle, but only decoding on this thread makes the loop busy.
test("the caller's event loop keeps running while the worker decodes", async () => {
  const file = tmpCopy("q35-devices.vmstate");
  const c = new DocClient(WORKER);
  try {
    let ticks = 0;
    const t = setInterval(() => ticks++, 5);
    const before = performance.eventLoopUtilization();
    for (let i = 0; i < 5; i++) await c.request("open", { where: { path: file }, edits: [] });
    const elu = performance.eventLoopUtilization(before);
    clearInterval(t);
    assert.ok(ticks > 0, "the timer never ran");
    assert.ok(
      elu.utilization < 0.5,
      `the caller's event loop was busy ${(elu.utilization * 100).toFixed(0)}% of ${(elu.active + elu.idle).toFixed(0)} ms`,
    );
  } finally {
    c.dispose();
  }
});

// The worker opens local files through the container opener (src/io/openDocumentSource ->
// src/container): the editor keeps the container node, the snapshot picker, file offsets and
// saving back into the container now that decoding left the extension host's thread.
test("the worker opens containers: libvirt gzip image (decompressed, saved back as gzip), qcow2 snapshots, Export Stream, Edit Domain XML", async () => {
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, "containers/q35-gzip.save.meta.json"), "utf8")) as {
    qemu_stream_size: number;
    qemu_stream_sha256: string;
    qemu_stream_offset_in_file: number;
  };
  const file = tmpCopy("containers/q35-gzip.save");
  const original = fs.readFileSync(file);
  const c = new DocClient(WORKER);
  const ops = new Set<string>();
  c.onProgress = (p) => ops.add(p.op);
  try {
    c.resetCancel();
    const r = await c.request("open", { where: { path: file }, edits: [] });
    assert.equal(r.container?.kind, "libvirt-save");
    assert.equal(r.container?.compression, "gzip");
    assert.equal(r.size, meta.qemu_stream_size);
    assert.ok(ops.has("decompress") && ops.has("decode"), `progress ops: ${[...ops].join(", ")}`);
    assert.equal(sha(await c.request("readAll", {})), meta.qemu_stream_sha256, "the stream libvirt wrote");
    const info = await c.request("docInfo", { fileName: "x", uri: "file:///x", pendingEdits: 0 });
    assert.equal(info.roots[0]?.name, "libvirt save image", "the container node comes first");
    // Export Stream: the bare stream
    const bare = path.join(path.dirname(file), "bare.vmstate");
    await c.request("save", { target: bare });
    assert.equal(sha(fs.readFileSync(bare)), meta.qemu_stream_sha256);
    // saved back into the image: recompressed as gzip, the header, XML and cookie kept byte for byte
    await c.request("save", { target: file, container: "same" });
    const saved = fs.readFileSync(file);
    assert.deepEqual(
      saved.subarray(0, meta.qemu_stream_offset_in_file),
      original.subarray(0, meta.qemu_stream_offset_in_file),
    );
    assert.deepEqual(
      [...saved.subarray(meta.qemu_stream_offset_in_file, meta.qemu_stream_offset_in_file + 2)],
      [0x1f, 0x8b],
    );
    const again = await c.request("open", { where: { path: file }, edits: [] });
    assert.equal(again.container?.compression, "gzip");
    assert.equal(sha(await c.request("readAll", {})), meta.qemu_stream_sha256, "the same stream after the round trip");

    // qcow2: two snapshots carry VM state, so the host must ask which; then it is read-only
    const q = tmpCopy("containers/snapshots.qcow2");
    await assert.rejects(
      c.request("open", { where: { path: q }, edits: [] }),
      (e: unknown) => e instanceof WorkerError && e.code === "snapshot-ambiguous",
    );
    const qs = await c.request("open", { where: { path: q, snapshot: "early" }, edits: [] });
    assert.equal(qs.container?.kind, "qcow2-snapshot");
    assert.equal(qs.container?.snapshot?.tag, "early");
    const qBefore = fs.readFileSync(q);
    await assert.rejects(c.request("save", { target: q, container: "same" }), /read-only/);
    assert.deepEqual(fs.readFileSync(q), qBefore, "the qcow2 image is not written");

    // Edit Domain XML on a raw image: the stream is copied unchanged
    const raw = tmpCopy("containers/q35-dbus-vmstate-raw.save");
    const o = await c.request("open", { where: { path: raw }, edits: [] });
    const stream = await c.request("readAll", {});
    const xml = o.container!.xml!.replace("</domain>", "<!-- edited by a test --></domain>");
    await c.request("writeDomainXml", { xml, target: raw });
    const o2 = await c.request("open", { where: { path: raw }, edits: [] });
    assert.equal(o2.container?.xml, xml);
    assert.deepEqual(await c.request("readAll", {}), stream);
  } finally {
    c.dispose();
  }
});

test("a cancelled open of a compressed image stops and leaves no decompressed temp file; closing removes it", async () => {
  const mine = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`vmstate-${process.pid}-`));
  const before = mine();
  const file = tmpCopy("containers/q35-gzip.save");
  const c = new DocClient(WORKER);
  try {
    c.resetCancel();
    const opening = c.request("open", { where: { path: file }, edits: [] });
    c.cancel();
    await assert.rejects(opening, CancelledError);
    assert.deepEqual(mine(), before, "no temp folder left by the cancelled open");
    c.resetCancel();
    await c.request("open", { where: { path: file }, edits: [] });
    assert.equal(mine().length, before.length + 1, "the decompressed stream is in a temp folder while open");
    await c.request("close", {});
    assert.deepEqual(mine(), before, "closing removes it");
  } finally {
    c.dispose();
  }
});

test("an edit's refresh names what changed and carries what the reporting view must redraw", async () => {
  const file = tmpCopy("dbus-vmstate-3helpers.vmstate");
  const c = new DocClient(WORKER);
  try {
    await c.request("open", { where: { path: file }, edits: [] });
    const info0 = await c.request("docInfo", { fileName: "x", uri: "file:///x", pendingEdits: 0 });
    const helpers = await c.request("helpers", {});
    const h = helpers[1]!;
    const sec = info0.roots.find((r) => r.id === info0.dbusSectionId)!;
    const first = info0.roots.find((r) => r.kind === "section")!;
    // a view with the helper section and the first section expanded, the helper selected, hex at the blob
    const view = {
      expanded: [sec.id, first.id],
      selectedId: h.nodeId,
      hexTop: Math.floor(sec.start / 16) * 16,
      hexBytes: 4096,
    };
    const ask = (pendingEdits: number) => ({ fileName: "x", uri: "file:///x", pendingEdits, view });
    // same length: only the helper section (and the vmdesc, if it describes it) changes
    const same = { type: "helper-set" as const, index: 1, id: h.id, bytes: new Uint8Array(h.size).fill(7) };
    const a = await c.request("apply", { id: 1, edit: same, refresh: ask(1) });
    const r = a.refreshed!.refresh;
    assert.equal(a.refreshed!.info.pendingEdits, 1);
    assert.ok(r.changedRoots.includes(sec.id), `changed: ${r.changedRoots}`);
    assert.ok(!r.changedRoots.includes(first.id), "an untouched record is kept");
    assert.ok(r.changedBytes && r.changedBytes.start >= sec.start && r.changedBytes.end <= a.size);
    assert.deepEqual(Object.keys(r.children), [sec.id], "children of the expanded changed record only");
    assert.deepEqual(r.children[sec.id], await c.request("children", { id: sec.id }));
    assert.equal(r.selected?.node.id, h.nodeId);
    assert.deepEqual(r.details, await c.request("details", { id: h.nodeId }));
    // the bytes sent are the new stream's bytes over whole 64 KiB pages
    assert.ok(r.bytes && r.bytes.offset % 65536 === 0);
    assert.deepEqual(
      Buffer.from(r.bytes.data),
      Buffer.from(await c.request("read", { offset: r.bytes.offset, length: r.bytes.data.length })),
    );
    // a new helper makes the stream longer: every later record moves, and is listed
    const add = { type: "helper-add" as const, id: "new-helper", bytes: new Uint8Array(20000).fill(8) };
    const b = await c.request("apply", { id: 2, edit: add, refresh: ask(2) });
    const rb = b.refreshed!.refresh;
    assert.ok(b.size > a.size, `${b.size} vs ${a.size}`);
    const after = b.refreshed!.info.roots.filter((x) => x.start > sec.start && x.id !== "$container").map((x) => x.id);
    assert.ok(after.length > 1);
    for (const id of after) assert.ok(rb.changedRoots.includes(id), `${id} moved`);
    assert.ok(!rb.changedRoots.includes(first.id));
    assert.equal(rb.changedBytes!.end, b.size);
    // undo both: the refresh comes with setEdits too, back to the file's bytes
    const u = await c.request("setEdits", { ids: [], refresh: ask(0) });
    assert.equal(u.refreshed!.info.pendingEdits, 0);
    assert.deepEqual(u.refreshed!.info.roots, info0.roots);
    assert.ok(u.refreshed!.refresh.changedRoots.includes(sec.id));
    // without a view: DocInfo and what changed, nothing view-specific
    const n = await c.request("setEdits", { ids: [1], refresh: { fileName: "x", uri: "file:///x", pendingEdits: 1 } });
    assert.deepEqual(n.refreshed!.refresh.children, {});
    assert.equal(n.refreshed!.refresh.selected, undefined);
  } finally {
    c.dispose();
  }
});
