// Edits re-decode only the record they touch (src/model/incremental.ts): on real QEMU streams the
// result must be exactly what a full decode of the edited bytes gives (nodes, ids, spans, values,
// diagnostics, sections, helpers), for field edits, raw byte edits and helper edits that change
// the length; undo and redo reuse states; and the incremental path is really taken.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeStream } from "../../src/format/decode";
import type { DecodedStream, VNode } from "../../src/format/types";
import { MemoryByteSource } from "../../src/io/memorySource";
import { StreamModel } from "../../src/model/streamModel";
import type { Edit } from "../../src/model/edits";
import { StreamIndex } from "../../src/editor/streamIndex";
import { fixture, fixtureNames, materialize, walk } from "./helpers";

function norm(d: DecodedStream): unknown {
  const rep = (_k: string, v: unknown) =>
    typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString("hex")}` : v;
  const j = JSON.parse(JSON.stringify({ ...d, vmdesc: undefined, vmdescText: undefined }, rep)) as {
    diagnostics: unknown[];
  };
  j.diagnostics = j.diagnostics.map((x) => JSON.stringify(x)).sort();
  return j;
}

/** Settable integer leaves of FULL device sections, a few per stream. */
function fieldEdits(d: DecodedStream, max: number): Edit[] {
  const out: Edit[] = [];
  for (const top of d.root.children ?? []) {
    if (top.kind !== "section") continue;
    const info = d.sections.find((s) => s.nodeId === top.id);
    if (info?.kind !== "full") continue;
    let picked: VNode | undefined;
    let raw: VNode | undefined;
    walk(top, (n) => {
      if (n.children?.length || n.id.split("/").some((s) => s.startsWith("$")) || n.incomplete) return;
      if (!picked && (n.enc === "u32" || n.enc === "u16" || n.enc === "u8" || n.enc === "u64")) picked = n;
      if (!raw && !n.enc && n.kind === "field" && n.span.end > n.span.start && n.span.end - n.span.start <= 64) raw = n;
    });
    if (picked) out.push({ type: "field-set", nodeId: picked.id, value: "1" });
    if (raw)
      out.push({ type: "bytes-set", nodeId: raw.id, bytes: new Uint8Array(raw.span.end - raw.span.start).fill(0xa5) });
    if (out.length >= max) break;
  }
  return out;
}

/** The first place two JSON values differ ("" when equal). */
function firstDiff(a: unknown, b: unknown, at = ""): string {
  if (a === b) return "";
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null)
    return `${at}: ${JSON.stringify(a)?.slice(0, 200)} != ${JSON.stringify(b)?.slice(0, 200)}`;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
    if (d) return d;
  }
  return "";
}

function check(m: StreamModel, what: string): void {
  const full = decodeStream(new MemoryByteSource(materialize(m.saveChunks(), m.base)));
  const d = firstDiff(norm(m.decoded), norm(full));
  assert.equal(d, "", `${what}: incremental decode differs from a full decode at ${d}`);
}

let incrementalSteps = 0;
for (const file of fixtureNames().filter((f) => !f.includes("truncated") && !f.includes("corrupt"))) {
  test(`${file}: every field edit, its undo and redo match a full decode`, () => {
    const m = new StreamModel(new MemoryByteSource(fixture(file)));
    const edits = fieldEdits(m.decoded, 6);
    for (const e of edits) {
      try {
        m.apply(e);
      } catch {
        continue; // not settable here (EditError): nothing to compare
      }
      if (m.incremental) incrementalSteps++;
      check(m, `${file} ${e.type} ${"nodeId" in e ? e.nodeId : ""}`);
    }
    const all = m.edits.slice();
    const done = m.decoded;
    m.setEdits(all.slice(0, Math.floor(all.length / 2)));
    check(m, `${file} undo`);
    m.setEdits(all);
    check(m, `${file} redo`);
    // a redo of what was undone takes the undone state back (nothing decoded again)
    if (all.length) assert.equal(m.decoded, done, `${file}: redo reuses the undone state`);
    // a new edit after an undo starts a new branch: the undone states are not reused for it
    if (all.length >= 2) {
      m.setEdits(all.slice(0, -1));
      m.apply(all[all.length - 1]!);
      assert.notEqual(m.decoded, done);
      check(m, `${file} re-applied`);
    }
  });
}

for (const file of ["dbus-vmstate-3helpers.vmstate", "gen/dbus-vmstate-1mib.vmstate"]) {
  test(`${file}: helper edits that change the section's length shift what follows exactly`, () => {
    const m = new StreamModel(new MemoryByteSource(fixture(file)));
    const h = m.decoded.helpers;
    const steps: Edit[] = [
      { type: "helper-set", index: 1, id: h[1]!.id, bytes: new Uint8Array(h[1]!.size + 5000).fill(7) },
      { type: "helper-rename", index: 0, id: h[0]!.id, newId: "a-much-longer-helper-id" },
      { type: "helper-add", id: "new-one", bytes: Uint8Array.of(1, 2, 3) },
      { type: "helper-remove", index: 2, id: h[2]!.id },
    ];
    const n0 = incrementalSteps;
    let idx = new StreamIndex(m.source, m.decoded, 0);
    for (const e of steps) {
      m.apply(e);
      if (m.incremental) incrementalSteps++;
      check(m, `${file} ${e.type}`);
      // the index re-indexes only the changed records: the same answers as a fresh one
      idx = new StreamIndex(m.source, m.decoded, 0, undefined, idx);
      const fresh = new StreamIndex(m.source, m.decoded, 0);
      assert.equal(idx.nodeCount, fresh.nodeCount);
      assert.deepEqual(idx.docInfo("f", "u"), fresh.docInfo("f", "u"));
      for (const h of fresh.helpers()) assert.deepEqual(idx.reveal(h.nodeId), fresh.reveal(h.nodeId));
    }
    assert.equal(incrementalSteps - n0, steps.length, "helper edits took the full-decode path");
  });
}

test("the incremental path is taken (not only the full-decode fallback)", () => {
  assert.ok(incrementalSteps > 20, `only ${incrementalSteps} incremental steps`);
});
