// Structural edits: helper blobs, Ids, fields; undo restores the bytes; saving is exact.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { dumpStateJson } from "../../src/format/dump";
import { FileByteSource } from "../../src/io/fileSource";
import { MemoryByteSource } from "../../src/io/memorySource";
import { writeChunksAtomically } from "../../src/io/writeChunks";
import { editFromJson, editToJson, editWarnings, EditError, parseValue, type Edit } from "../../src/model/edits";
import { StreamModel } from "../../src/model/streamModel";
import { resolveFieldPath } from "../../src/cli/commands";
import { decodeBytes, FIXTURES, materialize } from "./helpers";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const fill = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function modelOf(file: string) {
  const bytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES, file)));
  return { bytes, model: new StreamModel(new MemoryByteSource(bytes)) };
}

function saved(m: StreamModel): Uint8Array {
  return materialize(m.saveChunks(), m.base);
}

const WITH_HELPERS = ["dbus-vmstate-3helpers.vmstate", "gen/dbus-vmstate-1mib.vmstate"];

for (const file of WITH_HELPERS) {
  test(`${file}: replace longer, shrink, add, remove, rename; each shows at once and undo restores the bytes`, () => {
    const { bytes, model } = modelOf(file);
    const before = model.decoded.helpers.map((h) => ({ id: h.id, sha: sha(bytes.subarray(h.blob.start, h.blob.end)) }));
    const [first, second, third] = model.decoded.helpers;
    const steps: Edit[] = [
      { type: "helper-set", index: 1, id: second!.id, bytes: fill(second!.size + 20_000, 1) },
      { type: "helper-set", index: 0, id: first!.id, bytes: fill(3, 2) },
      { type: "helper-add", id: "added-helper", bytes: fill(777, 3) },
      { type: "helper-remove", index: 2, id: third!.id },
      { type: "helper-rename", index: 0, id: first!.id, newId: "renamed-ü" },
    ];
    for (const e of steps) {
      const prev = model.decoded;
      model.apply(e);
      const d = model.decoded;
      assert.deepEqual(
        d.diagnostics.filter((x) => x.severity === "error"),
        [],
        `after ${e.type}`,
      );
      assert.notDeepEqual(
        d.helpers.map((h) => [h.id, h.size]),
        prev.helpers.map((h) => [h.id, h.size]),
      );
    }
    const d = model.decoded;
    const out = saved(model);
    const got = d.helpers.map((h) => ({ id: h.id, sha: sha(out.subarray(h.blob.start, h.blob.end)) }));
    const want = [
      { id: "renamed-ü", sha: sha(fill(3, 2)) },
      { id: second!.id, sha: sha(fill(second!.size + 20_000, 1)) },
      ...before.slice(3),
      { id: "added-helper", sha: sha(fill(777, 3)) },
    ];
    assert.deepEqual(got, want);
    // the saved file decodes to the same thing, and its vmdesc describes the new data size
    const again = decodeBytes(out);
    assert.deepEqual(
      again.helpers.map((h) => h.id),
      want.map((w) => w.id),
    );
    const dev = again.vmdesc!.devices.find((x) => x.name === "dbus-vmstate/dbus-vmstate")!;
    const dataNode = again.root
      .children!.find((n) => n.name === "dbus-vmstate/dbus-vmstate")!
      .children!.find((c) => c.name === "data")!;
    assert.equal(dev.fields!.find((f) => f.name === "data")!.size, dataNode.span.end - dataNode.span.start);
    // only the dbus-vmstate section and the vmdesc changed: every other section's bytes are equal
    const orig = decodeBytes(bytes);
    for (const s of orig.sections.filter((x) => x.name !== "dbus-vmstate/dbus-vmstate")) {
      const t = again.sections.find((x) => x.nodeId === s.nodeId)!;
      assert.equal(sha(out.subarray(t.offset, t.end)), sha(bytes.subarray(s.offset, s.end)), s.name);
    }
    // undo, step by step, back to the identical original
    for (let k = steps.length - 1; k >= 0; k--) model.setEdits(steps.slice(0, k));
    assert.ok(Buffer.from(saved(model)).equals(Buffer.from(bytes)));
    // redo all at once from the edit list (as a backup restore does)
    model.setEdits(steps.map((e) => editFromJson(JSON.parse(JSON.stringify(editToJson(e))))));
    assert.ok(Buffer.from(saved(model)).equals(Buffer.from(out)));
  });
}

test("an unedited save is byte-identical and written through a temporary file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-save-"));
  try {
    const file = path.join(dir, "copy.vmstate");
    fs.copyFileSync(path.join(FIXTURES, "q35-devices.vmstate"), file);
    const src = FileByteSource.open(file);
    const m = new StreamModel(src);
    writeChunksAtomically(file, src, m.saveChunks());
    src.close();
    assert.ok(fs.readFileSync(file).equals(fs.readFileSync(path.join(FIXTURES, "q35-devices.vmstate"))));
    assert.deepEqual(fs.readdirSync(dir), ["copy.vmstate"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("saving over the file being read (edit, save in place, reopen)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-save-"));
  try {
    const file = path.join(dir, "s.vmstate");
    fs.copyFileSync(path.join(FIXTURES, "dbus-vmstate-3helpers.vmstate"), file);
    const src = FileByteSource.open(file);
    const m = new StreamModel(src);
    m.apply({ type: "helper-set", index: 2, id: "audio", bytes: fill(50_000, 9) });
    writeChunksAtomically(file, src, m.saveChunks());
    src.close();
    const d = decodeBytes(new Uint8Array(fs.readFileSync(file)));
    assert.equal(d.helpers[2]!.size, 50_000);
    assert.deepEqual(
      d.diagnostics.filter((x) => x.severity === "error"),
      [],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("set a field: range checks, the value is written, nothing else changes", () => {
  const { bytes, model } = modelOf("q35-devices.vmstate");
  const cpu = model.decoded.root.children!.find((n) => n.name === "cpu" && n.info?.instanceId === 0)!;
  const reg = resolveFieldPath(cpu, "env.regs[3]")!;
  assert.equal(reg.type, "uint64");
  const flag = resolveFieldPath(
    model.decoded.root.children!.find((n) => n.name === "globalstate")!,
    "runstate",
  )!;
  assert.ok(flag);
  assert.throws(() => model.apply({ type: "field-set", nodeId: reg.id, value: "-1" }), EditError);
  assert.throws(() => model.apply({ type: "field-set", nodeId: reg.id, value: "0x1ffffffffffffffff" }), EditError);
  assert.throws(() => model.apply({ type: "field-set", nodeId: reg.id, value: "twelve" }), EditError);
  assert.equal(model.edits.length, 0);
  model.apply({ type: "field-set", nodeId: reg.id, value: "0xdeadbeefcafe" });
  const out = saved(model);
  assert.equal(out.length, bytes.length);
  const diff: number[] = [];
  for (let i = 0; i < bytes.length; i++) if (out[i] !== bytes[i]) diff.push(i);
  assert.ok(diff.length > 0 && diff.every((i) => i >= reg.span.start && i < reg.span.end));
  assert.equal(
    resolveFieldPath(
      model.decoded.root.children!.find((n) => n.id === cpu.id)!,
      "env.regs[3]",
    )!.value,
    0xdeadbeefcafen,
  );
  // dump reflects it
  assert.match(dumpStateJson(model.source, model.decoded), /"0x0000deadbeefcafe"/);
});

test("parseValue: ranges for every integer width, bools", () => {
  assert.equal(parseValue("u8", "255"), 255);
  assert.throws(() => parseValue("u8", "256"));
  assert.equal(parseValue("i8", "-128"), -128);
  assert.throws(() => parseValue("i16", "32768"));
  assert.equal(parseValue("i32", "-0x80000000"), -0x80000000);
  assert.equal(parseValue("u64", "18446744073709551615"), 18446744073709551615n);
  assert.equal(parseValue("bool", "true"), true);
  assert.throws(() => parseValue("bool", "yes"));
});

test("replace the bytes of a buffer field or opaque payload, same length only", () => {
  const { model } = modelOf("q35-no-vmdesc.vmstate");
  const opaque = model.decoded.root
    .children!.find((n) => n.name === "timer")!
    .children!.find((c) => c.kind === "opaque")!;
  const len = opaque.span.end - opaque.span.start;
  assert.throws(
    () => model.apply({ type: "bytes-set", nodeId: opaque.id, bytes: new Uint8Array(len + 1) }),
    /length must stay the same/,
  );
  model.apply({ type: "bytes-set", nodeId: opaque.id, bytes: new Uint8Array(len).fill(7) });
  const again = model.decoded.root
    .children!.find((n) => n.name === "timer")!
    .children!.find((c) => c.kind === "opaque")!;
  assert.deepEqual([...model.source.read(again.span.start, len)], new Array(len).fill(7));
});

test("warnings before writing what QEMU refuses", () => {
  const { model } = modelOf("dbus-vmstate-3helpers.vmstate");
  const d = model.decoded;
  assert.match(
    editWarnings(d, {
      type: "helper-set",
      index: 0,
      id: "slirp-helper",
      bytes: new Uint8Array(1024 * 1024 + 1),
    }).join(),
    /at most 1048576/,
  );
  assert.deepEqual(
    editWarnings(d, { type: "helper-set", index: 0, id: "slirp-helper", bytes: new Uint8Array(1024 * 1024) }),
    [],
  );
  assert.match(
    editWarnings(d, { type: "helper-set", index: 0, id: "slirp-helper", bytes: new Uint8Array(0) }).join(),
    /empty blob/,
  );
  assert.match(editWarnings(d, { type: "helper-add", id: "audio", bytes: fill(3, 1) }).join(), /unique/);
  assert.match(
    editWarnings(d, { type: "helper-rename", index: 0, id: "slirp-helper", newId: "x".repeat(256) }).join(),
    /at most 255/,
  );
  assert.match(
    editWarnings(d, { type: "helper-rename", index: 0, id: "slirp-helper", newId: "" }).join(),
    /empty helper Id/,
  );
  // a confirmed edit still applies: users test QEMU's error paths
  model.apply({ type: "helper-set", index: 0, id: "slirp-helper", bytes: new Uint8Array(0) });
  assert.ok(model.decoded.diagnostics.some((x) => x.code === "dbus-blob-empty"));
});

test("a stream whose count exceeds its entries: editing writes the true count", () => {
  const { model } = modelOf("gen/dbus-vmstate-odd-ids.vmstate");
  assert.ok(model.decoded.diagnostics.some((x) => x.code === "dbus-count-mismatch"));
  model.apply({ type: "helper-set", index: 2, id: "x", bytes: fill(10, 4) });
  assert.ok(!model.decoded.diagnostics.some((x) => x.code === "dbus-count-mismatch"));
});
