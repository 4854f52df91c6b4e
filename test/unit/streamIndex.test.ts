// StreamIndex (src/editor/streamIndex.ts) in plain Node: the queries the editor's webview makes
// (children in chunks, node at offset, reveal, filter, details, helpers), and sharing a
// decoded tree with the edit model without changing it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { MemoryByteSource } from "../../src/io/memorySource";
import { encodeStream } from "../../src/format/encode";
import { decodeStream } from "../../src/format/decode";
import { StreamModel } from "../../src/model/streamModel";
import { formatValue, StreamIndex } from "../../src/editor/streamIndex";
import { CHILD_CHUNK } from "../../src/shared/protocol";
import type { VNode } from "../../src/format/types";
import { fixture, materialize, walk } from "./helpers";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function indexOf(name: string): { bytes: Uint8Array; idx: StreamIndex } {
  const bytes = fixture(name);
  return { bytes, idx: new StreamIndex(new MemoryByteSource(bytes)) };
}

const q35 = indexOf("q35-devices.vmstate");
const dbus = indexOf("dbus-vmstate-3helpers.vmstate");

test("docInfo summarises the stream", () => {
  const info = q35.idx.docInfo("q35.vmstate", "file:///q35.vmstate");
  assert.equal(info.size, q35.bytes.length);
  assert.equal(info.machineType, "pc-q35-7.2");
  assert.equal(info.summary.errors, 0);
  assert.equal(info.pendingEdits, 0);
  assert.equal(info.roots.length, q35.idx.decoded.root.children!.length);
  assert.ok(info.nodeCount > info.roots.length);
  assert.equal(q35.idx.docInfo("a", "b", 3).pendingEdits, 3);
});

test("children of every top-level node lie inside it and come in chunks", () => {
  for (const r of q35.idx.docInfo("a", "b").roots) {
    if (!r.hasChildren) continue;
    const c = q35.idx.children(r.id);
    assert.equal(c.offset, 0);
    assert.ok(c.nodes.length <= CHILD_CHUNK);
    for (const k of c.nodes) assert.ok(k.start >= r.start && k.end <= r.end, `${k.id} outside ${r.id}`);
  }
  assert.throws(() => q35.idx.children("no/such/node"), /unknown node/);
});

test("nodeAt finds the deepest owner, expanding RAM page runs on the way", () => {
  const ram = q35.idx.decoded.root
    .children!.filter((n) => n.name === "ram")
    .sort((a, b) => b.span.end - b.span.start - (a.span.end - a.span.start))[0]!;
  const mid = Math.floor((ram.span.start + ram.span.end) / 2);
  const t = q35.idx.nodeAt(mid)!;
  assert.ok(t.node.start <= mid && mid < t.node.end);
  assert.equal(t.path[0], ram.id);
  assert.equal(t.path[t.path.length - 1], t.node.id);
  // the lazily produced level comes with the chunk holding the path
  const lazyIds = Object.keys(t.children);
  assert.ok(lazyIds.length >= 1);
  for (const id of lazyIds) assert.ok(t.children[id]!.nodes.some((n) => t.path.includes(n.id)));
  assert.equal(q35.idx.nodeAt(-1), null);
  assert.equal(q35.idx.nodeAt(q35.bytes.length), null);
});

test("page-run children are dropped beyond the cache and re-made by id", () => {
  const runs: VNode[] = [];
  walk(q35.idx.decoded.root, (n) => {
    if (n.lazy) runs.push(n);
  });
  assert.ok(runs.length > 7, `only ${runs.length} page runs`);
  const first = q35.idx.children(runs[0]!.id, 0, 1).nodes[0]!;
  for (const r of runs.slice(1, 9)) q35.idx.children(r.id, 0, 1);
  // the first run was dropped; its page is still found by id
  const again = q35.idx.details(first.id);
  assert.ok(again, "re-made on demand");
  assert.equal(again.node.start, first.start);
  // and the shared tree is not touched: lazy nodes keep no children
  for (const r of runs) assert.equal(r.children, undefined);
});

test("reveal and details give the path, value and alternates", () => {
  let leaf: VNode | undefined;
  walk(q35.idx.decoded.root, (n) => {
    if (!leaf && n.enc === "u32" && typeof n.value === "number" && !n.id.includes("$")) leaf = n;
  });
  assert.ok(leaf);
  const r = q35.idx.reveal(leaf.id)!;
  assert.equal(r.node.id, leaf.id);
  const d = q35.idx.details(leaf.id)!;
  assert.equal(d.value, String(leaf.value));
  assert.equal(d.valueKind, "u32");
  assert.deepEqual(
    d.path.map((p) => p.id),
    r.path.slice(0, -1),
  );
  assert.deepEqual(d.editable, { kind: "integer", enc: "u32", min: "0", max: "4294967295" });
  assert.equal(q35.idx.details("nope"), null);
  assert.equal(q35.idx.reveal("nope"), null);
});

test("filter finds names and lists their ancestors first", () => {
  const f = q35.idx.filter("timer");
  assert.ok(f.matches > 0);
  for (const row of f.rows.filter((x) => x.match)) assert.match(row.node.name.toLowerCase(), /timer/);
  const seen = new Set<string>();
  for (const row of f.rows) {
    if (row.depth > 0)
      assert.ok(
        [...seen].some((id) => row.node.id.startsWith(id + "/")),
        `${row.node.id} before its parent`,
      );
    seen.add(row.node.id);
  }
  assert.equal(q35.idx.filter("  ").matches, 0);
  const capped = q35.idx.filter("e", 5);
  assert.equal(capped.matches, 5);
  assert.equal(capped.truncated, true);
});

test("helpers: Id, size, sha256, blob and text detection", () => {
  const hs = dbus.idx.helpers();
  assert.deepEqual(hs.map((h) => h.id).sort(), ["audio", "slirp-helper", "tpm-emu"]);
  for (const h of hs) {
    const blob = dbus.idx.helperBlob(h.index);
    assert.equal(blob.length, h.size);
    assert.equal(h.sha256, sha(dbus.bytes.subarray(h.blobStart, h.blobEnd)));
    assert.equal(sha(blob), h.sha256);
    // helper entries are edited through the helper edits only
    assert.equal(dbus.idx.details(h.nodeId)!.editable, undefined);
    assert.equal(dbus.idx.details(h.nodeId)!.helperIndex, h.index);
  }
  assert.equal(hs.find((h) => h.id === "slirp-helper")!.isText, true);
  assert.equal(hs.find((h) => h.id === "tpm-emu")!.isText, false);
  assert.ok(dbus.idx.dbusSection());
  assert.throws(() => dbus.idx.helperBlob(99), /no helper/);
});

test("formatValue renders numbers, bigints, bools and bytes", () => {
  assert.deepEqual(formatValue(255, "u8"), {
    value: "255",
    valueKind: "u8",
    alternates: [{ label: "hex", value: "0xff" }],
  });
  assert.equal(formatValue(-1n, "i64").alternates![0]!.value, "0xffffffffffffffff");
  assert.deepEqual(formatValue(true), { value: "true", valueKind: "bool" });
  const b = formatValue(new TextEncoder().encode("hi"));
  assert.equal(b.value, "6869");
  assert.equal(b.valueKind, "bytes[2]");
  assert.deepEqual(b.alternates, [{ label: "text", value: "hi" }]);
});

test("an index over the edit model's decoded tree leaves it encodable to the same bytes", () => {
  const bytes = fixture("q35-devices.vmstate");
  const model = new StreamModel(new MemoryByteSource(bytes));
  const idx = new StreamIndex(model.source, model.decoded);
  assert.equal(idx.decoded, model.decoded, "no second decode");
  // expand every page run, as scrolling the tree would
  walk(model.decoded.root, (n) => {
    if (n.lazy) idx.children(n.id, 0, 1);
  });
  const chunks = encodeStream(model.decoded.root);
  const fresh = encodeStream(decodeStream(new MemoryByteSource(bytes)).root);
  assert.equal(chunks.length, fresh.length, "expanded page runs are still copied, not re-encoded page by page");
  assert.equal(sha(materialize(chunks, model.source)), sha(bytes));
  // an edit, then an index over the new state: the helper-free stream still decodes cleanly
  const field = idx.filter("irq_count").rows.find((r) => r.match && r.node.type);
  if (field) {
    const d = idx.details(field.node.id);
    if (d?.editable?.kind === "integer") {
      model.apply({ type: "field-set", nodeId: field.node.id, value: "7" });
      const after = new StreamIndex(model.source, model.decoded);
      assert.equal(after.details(field.node.id)!.value, "7");
    }
  }
});
