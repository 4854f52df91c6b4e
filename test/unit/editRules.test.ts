// The edit rules of src/model/edits.ts on real streams: what can be edited (editInfo) is exactly
// what applyEdit accepts, checkEdit finds what an edit changes once and hands it on, and the
// inverse of an edit takes the stream back (undo across a save). QEMU's helper limits are one
// definition shared by the decoder, the model and the bus rules.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { DBUS_VMSTATE_ID_MAX, DBUS_VMSTATE_SIZE_LIMIT } from "../../src/format/dbusVmstate";
import type { DecodedStream, VNode } from "../../src/format/types";
import { MemoryByteSource } from "../../src/io/memorySource";
import {
  applyEdit,
  checkEdit,
  editInfo,
  editTarget,
  editWarnings,
  EditError,
  inverseOf,
  type Edit,
} from "../../src/model/edits";
import { StreamModel } from "../../src/model/streamModel";
import { checkId, DBUS_VMSTATE_SIZE_LIMIT as BUS_SIZE_LIMIT } from "../../src/bus/rules";
import { fixture, materialize, walk } from "./helpers";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const fill = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** A fixture; `name@N`: its first N bytes (a stream cut off mid-section, as a crashed save leaves it). */
function modelOf(file: string) {
  const [name, cut] = file.split("@") as [string, string | undefined];
  const whole = name.endsWith(".gz") ? new Uint8Array(gunzipSync(fixture(name))) : fixture(name);
  const bytes = cut ? whole.subarray(0, Number(cut)) : whole;
  return { bytes, model: new StreamModel(new MemoryByteSource(bytes)) };
}

const saved = (m: StreamModel) => materialize(m.saveChunks(), m.base);

function nodes(d: DecodedStream): VNode[] {
  const out: VNode[] = [];
  walk(d.root, (n) => {
    if (n !== d.root) out.push(n);
  });
  return out;
}

/** Every node with its ancestors below the root (outermost first). */
function withAncestors(d: DecodedStream): [VNode, VNode[]][] {
  const out: [VNode, VNode[]][] = [];
  const visit = (n: VNode, up: VNode[]) => {
    for (const c of n.children ?? []) {
      out.push([c, up]);
      visit(c, [...up, c]);
    }
  };
  visit(d.root, []);
  return out;
}

/** Whether applyEdit's checks accept an edit of this type on `n` (editTarget, without applying it). */
function accepts(d: DecodedStream, type: "field-set" | "bytes-set", n: VNode): boolean {
  const e: Edit =
    type === "field-set"
      ? { type, nodeId: n.id, value: "0" }
      : { type, nodeId: n.id, bytes: new Uint8Array(n.span.end - n.span.start) };
  try {
    editTarget(d, e);
    return true;
  } catch (err) {
    assert.ok(err instanceof EditError, `${n.id}: ${String(err)}`);
    return false;
  }
}

test("editInfo on single nodes: integers with their range, bools, same-length bytes; never the framing", () => {
  const d = { helpers: [] } as unknown as DecodedStream;
  const node = (p: Partial<VNode>): VNode => ({
    id: "s/f",
    kind: "field",
    name: "f",
    span: { start: 0, end: 4 },
    ...p,
  });
  assert.deepEqual(editInfo(d, node({ enc: "i8" })), { kind: "integer", enc: "i8", min: "-128", max: "127" });
  assert.deepEqual(editInfo(d, node({ enc: "bool" })), { kind: "bool" });
  assert.deepEqual(editInfo(d, node({})), { kind: "bytes", length: 4 });
  assert.equal(editInfo(d, node({ id: "s/$header/len", enc: "u32" })), undefined);
  assert.equal(editInfo(d, node({ enc: "cstr8" })), undefined);
  assert.equal(editInfo(d, node({ enc: "u32", children: [node({})] })), undefined);
  assert.equal(editInfo(d, node({ kind: "helper" })), undefined);
  assert.equal(editInfo(d, node({ lazy: "pages" })), undefined);
  assert.equal(editInfo(d, node({ enc: "u32", incomplete: true })), undefined);
  assert.equal(editInfo(d, node({ kind: "padding" })), undefined);
  assert.equal(editInfo(d, node({ span: { start: 4, end: 4 } })), undefined);
});

for (const file of [
  "q35-devices.vmstate",
  "dbus-vmstate-3helpers.vmstate",
  "qemu-10.2/q35-devices.vmstate.gz",
  "q35-devices.vmstate@900000",
]) {
  test(`${file}: what editInfo offers is exactly what applyEdit accepts, node by node`, () => {
    const d = modelOf(file).model.decoded;
    const counts = { integer: 0, bool: 0, bytes: 0, none: 0 };
    for (const [n, up] of withAncestors(d)) {
      const info = editInfo(d, n, up);
      counts[info?.kind ?? "none"]++;
      assert.equal(
        accepts(d, "field-set", n),
        info?.kind === "integer" || info?.kind === "bool",
        `field-set of ${n.id} (${n.kind} ${n.enc ?? "-"})`,
      );
      assert.equal(
        accepts(d, "bytes-set", n),
        info?.kind === "bytes",
        `bytes-set of ${n.id} (${n.kind} ${n.enc ?? "-"})`,
      );
    }
    // a real stream has all three kinds and plenty that is not editable (framing, helpers, RAM)
    assert.ok(counts.integer > (file.includes("@") ? 0 : 50) && counts.none > 50, JSON.stringify(counts));
    if (!file.includes("@") && (file.startsWith("q35") || file.startsWith("qemu-10.2")))
      assert.ok(counts.bool > 0 && counts.bytes > 0, JSON.stringify(counts));
    // helper entries and their parts are never offered: the helper edits change them
    for (const h of d.helpers)
      walk(
        nodes(d).find((n) => n.id === h.nodeId)!,
        (n) => assert.equal(editInfo(d, n), undefined, n.id),
      );
  });
}

test("a field inside a node that did not decode completely is not editable (the encoder copies such a node as it is)", () => {
  const { bytes, model } = modelOf("q35-devices.vmstate");
  // a bad magic: the header decodes incomplete, the rest is unparsed
  model.apply({ type: "field-set", nodeId: "header/magic", value: "0" });
  const d = model.decoded;
  const header = d.root.children![0]!;
  assert.equal(header.incomplete, true);
  assert.throws(
    () => model.check({ type: "field-set", nodeId: "header/magic", value: "0x5145564d" }),
    /did not decode completely/,
  );
  assert.equal(editInfo(d, header.children![0]!, [header]), undefined);
  // undo still restores it (the edit list is replayed from the file)
  model.setEdits([]);
  assert.equal(sha(saved(model)), sha(bytes));
});

test("checkEdit finds the node once and hands it on: same warnings, inverse and bytes as the separate calls", () => {
  const { bytes, model } = modelOf("q35-devices.vmstate");
  const d = model.decoded;
  const field = withAncestors(d).find(([n, up]) => editInfo(d, n, up)?.kind === "integer" && n.enc === "u32")![0];
  const e: Edit = { type: "field-set", nodeId: field.id, value: "0x1234" };
  const c = checkEdit(d, model.source, e);
  assert.equal(c.target.kind === "node" && c.target.node, field, "the tree's own node object");
  assert.deepEqual(c.warnings, editWarnings(d, e));
  assert.deepEqual(c.inverse, inverseOf(d, model.source, e));
  const direct = materialize(applyEdit(d, e), model.base);
  model.apply(model.check(e));
  assert.equal(sha(saved(model)), sha(direct));
  assert.notEqual(sha(direct), sha(bytes));
  // a bad value is an error before any warning is asked about
  assert.throws(() => checkEdit(d, model.source, { type: "field-set", nodeId: field.id, value: "-1" }), EditError);
  assert.throws(() => checkEdit(d, model.source, { type: "field-set", nodeId: "r9999/none", value: "1" }), /no field/);
});

test("inverse edits take field, bytes and helper edits back to the original bytes", () => {
  for (const [file, pick] of [
    // (the header's magic and version are editable too, but a bad value leaves nothing else decodable)
    [
      "q35-devices.vmstate",
      (d: DecodedStream) =>
        withAncestors(d)
          .filter(([n, up]) => !n.id.startsWith("header/") && editInfo(d, n, up))
          .slice(0, 400),
    ],
    [
      "qemu-10.2/q35-devices.vmstate.gz",
      (d: DecodedStream) => withAncestors(d).filter(([n, up]) => editInfo(d, n, up)?.kind === "bytes"),
    ],
  ] as const) {
    const { bytes, model } = modelOf(file);
    const d = model.decoded;
    let tried = 0;
    let refused = 0;
    for (const [n, up] of pick(d)) {
      const info = editInfo(d, n, up)!;
      const e: Edit =
        info.kind === "bytes"
          ? { type: "bytes-set", nodeId: n.id, bytes: fill(info.length, tried) }
          : {
              type: "field-set",
              nodeId: n.id,
              value: info.kind === "bool" ? String(!n.value) : n.value === 0 || n.value === 0n ? "1" : "0",
            };
      const m = new StreamModel(model.base, { decoded: d, decodeMs: 0 });
      const c = m.check(e);
      assert.ok(c.inverse, `${n.id}: no inverse`);
      m.apply(c);
      assert.notEqual(sha(saved(m)), sha(bytes), `${n.id}: the edit changed nothing`);
      let inverse;
      try {
        inverse = m.check(c.inverse!);
      } catch (err) {
        // a value the decoder cannot follow (a RAM block's used_length...) leaves the record
        // undecodable: the inverse is refused rather than silently doing nothing; undo in the
        // same session replays the edit list instead
        assert.match(String(err), /did not decode completely/);
        refused++;
        continue;
      }
      m.apply(inverse);
      assert.equal(sha(saved(m)), sha(bytes), `${file} ${n.id}: edit + inverse`);
      tried++;
    }
    assert.ok(tried > 10 && refused < tried, `${file}: ${tried} edits undone, ${refused} refused`);
  }
});

test("inverse helper edits on a real dbus-vmstate stream: set, rename, add exactly; remove re-adds at the end", () => {
  const { bytes, model } = modelOf("dbus-vmstate-3helpers.vmstate");
  const d = model.decoded;
  const blobs = (m: StreamModel) => {
    const out = saved(m);
    return m.decoded.helpers.map((h) => `${h.id}:${sha(out.subarray(h.blob.start, h.blob.end))}`);
  };
  const before = blobs(model);
  const h = d.helpers[1]!;
  const exact: Edit[] = [
    { type: "helper-set", index: 1, id: h.id, bytes: fill(Math.max(1, h.size - 5), 7) },
    { type: "helper-rename", index: 1, id: h.id, newId: "other-id" },
    { type: "helper-add", id: "new-helper", bytes: fill(16, 3) },
  ];
  for (const e of exact) {
    const m = new StreamModel(model.base, { decoded: d, decodeMs: 0 });
    const c = m.check(e);
    m.apply(c);
    assert.notDeepEqual(blobs(m), before, e.type);
    m.apply(c.inverse!);
    assert.deepEqual(blobs(m), before, e.type);
    assert.equal(sha(saved(m)), sha(bytes), `${e.type}: byte-identical after the inverse`);
  }
  const m = new StreamModel(model.base, { decoded: d, decodeMs: 0 });
  const c = m.check({ type: "helper-remove", index: 0, id: d.helpers[0]!.id });
  assert.equal(c.inverse?.type, "helper-add");
  m.apply(c);
  m.apply(c.inverse!);
  assert.deepEqual(blobs(m), [...before.slice(1), before[0]]);
});

test("QEMU's helper limits are defined once: the model warns at the decoder's limits, the bus rules use the same", () => {
  assert.equal(BUS_SIZE_LIMIT, DBUS_VMSTATE_SIZE_LIMIT);
  const idOk = (id: string) => checkId({ uniqueName: ":1.1", id } as never, []).find((r) => r.rule === "id-length")?.ok;
  assert.equal(idOk("x".repeat(DBUS_VMSTATE_ID_MAX)), true);
  assert.equal(idOk("x".repeat(DBUS_VMSTATE_ID_MAX + 1)), false);
  const { model } = modelOf("dbus-vmstate-3helpers.vmstate");
  const d = model.decoded;
  const w = (e: Edit) => editWarnings(d, e).join("; ");
  assert.equal(
    w({ type: "helper-add", id: "x".repeat(DBUS_VMSTATE_ID_MAX), bytes: fill(DBUS_VMSTATE_SIZE_LIMIT, 1) }),
    "",
  );
  assert.match(w({ type: "helper-add", id: "x".repeat(DBUS_VMSTATE_ID_MAX + 1), bytes: fill(1, 1) }), /at most 255/);
  assert.match(
    w({ type: "helper-set", index: 0, id: d.helpers[0]!.id, bytes: fill(DBUS_VMSTATE_SIZE_LIMIT + 1, 1) }),
    /at most 1048576/,
  );
});
