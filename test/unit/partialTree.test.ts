// decodeStream's onRoot: the editor's worker shows the top-level records decoded so far while a
// big stream decodes (the tree fills in). The root's children grow record by record, every record
// but the last is complete when a later read happens, and the end state is the decoded tree.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeStream, type ByteSource, type VNode } from "../../src/format";
import { MemoryByteSource } from "../../src/io/memorySource";
import { fixture } from "./helpers";

test("the root's children fill in while the stream decodes, and end as the decoded tree", () => {
  const bytes = fixture("q35-devices.vmstate");
  const mem = new MemoryByteSource(bytes);
  let root: VNode | undefined;
  const seen: { count: number; at: number; ends: number[] }[] = [];
  const src: ByteSource = {
    size: mem.size,
    read: (o, n) => {
      const top = root?.children ?? [];
      // what the worker sends: every record but the last (which may still be in progress)
      seen.push({ count: top.length, at: o, ends: top.slice(0, -1).map((x) => x.span.end) });
      return mem.read(o, n);
    },
  };
  const d = decodeStream(src, { onRoot: (r) => (root = r) });
  assert.equal(root, d.root, "onRoot gets the root of the result");
  const counts = seen.map((s) => s.count);
  assert.ok(
    counts.every((c, i) => i === 0 || c >= counts[i - 1]!),
    "the list only grows",
  );
  assert.ok(new Set(counts).size > 10, `grew in steps: ${[...new Set(counts)].join(",")}`);
  const final = new Map(d.root.children!.map((n) => [n.id, n.span.end]));
  // a record reported as complete already has its final end (none is still growing)
  for (const s of seen) {
    const top = d.root.children!.slice(0, s.ends.length);
    s.ends.forEach((end, i) =>
      assert.equal(end, final.get(top[i]!.id), `record ${top[i]!.id} reported at 0x${s.at.toString(16)}`),
    );
  }
});
