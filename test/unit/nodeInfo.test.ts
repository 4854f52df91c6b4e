// Each node kind's `info` (format/types.ts NodeInfoMap, docs/DECODER.md) as the decoder really
// makes it, on every real stream in test/fixtures: the types promise these fields, the consumers
// (dump, diff, cli, editor) read them without coercion, so a producer that drifts must fail here.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { expandNode, isKind, type NodeKind, type VNode } from "../../src/format";
import { MemoryByteSource } from "../../src/io/memorySource";
import { decodeBytes, fixture, fixture10, FIXTURES, FIXTURES10, walk } from "./helpers";

type FieldType = "number" | "string" | "boolean";
/** Per kind: required fields, optional fields (with their JS types). One entry per variant. */
const SHAPES: Partial<
  Record<NodeKind, { required: Record<string, FieldType>; optional?: Record<string, FieldType> }[]>
> = {
  section: [
    {
      required: {
        sectionId: "number",
        instanceId: "number",
        versionId: "number",
        sectionKind: "string",
        handler: "string",
      },
    },
  ],
  subsection: [{ required: { version: "number" } }],
  array: [{ required: { length: "number" } }],
  field: [
    { required: { raw: "number" } },
    { required: { elements: "number", elementSize: "number", firstIndex: "number" } },
  ],
  helper: [{ required: { helperId: "string", size: "number", blobStart: "number", blobEnd: "number" } }],
  command: [{ required: { cmd: "number", len: "number", command: "string" } }],
  "ram-setup": [{ required: { totalBytes: "number" } }],
  "ram-block": [{ required: { block: "string", pages: "number" } }],
  "page-run": [
    {
      required: { block: "string", pageKind: "string", count: "number", firstAddr: "number", lastAddr: "number" },
      optional: { mapped: "boolean", firstPage: "number", bitmapOffset: "number" },
    },
    {
      required: { device: "string", blockKind: "string", count: "number", firstSector: "number", lastSector: "number" },
    },
  ],
  page: [{ required: { block: "string", addr: "number", pageKind: "string" }, optional: { mapped: "boolean" } }],
};
/** Kinds whose nodes always carry info (not ram-block: the entries of the setup record's block list have none). */
const ALWAYS = new Set<NodeKind>([
  "section",
  "subsection",
  "array",
  "helper",
  "command",
  "ram-setup",
  "page-run",
  "page",
]);

function problem(n: VNode): string | undefined {
  const info = n.info;
  if (!info) return ALWAYS.has(n.kind) ? `${n.id} (${n.kind}) has no info` : undefined;
  const shapes = SHAPES[n.kind];
  if (!shapes) return `${n.id}: kind ${n.kind} carries info ${JSON.stringify(info)}`;
  const fits = shapes.some(
    ({ required, optional = {} }) =>
      Object.entries(required).every(([k, t]) => typeof info[k] === t) &&
      Object.entries(info).every(([k, v]) => (required[k] ?? optional[k]) === typeof v),
  );
  return fits ? undefined : `${n.id} (${n.kind}): info ${JSON.stringify(info)} fits none of ${JSON.stringify(shapes)}`;
}

const streams: { name: string; bytes: () => Uint8Array }[] = [
  ...fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".vmstate"))
    .map((f) => ({ name: f, bytes: () => fixture(f) })),
  ...fs
    .readdirSync(path.join(FIXTURES, "gen"))
    .filter((f) => f.endsWith(".vmstate"))
    .map((f) => ({ name: `gen/${f}`, bytes: () => fixture(`gen/${f}`) })),
  ...fs
    .readdirSync(FIXTURES10)
    .filter((f) => f.endsWith(".vmstate.gz"))
    .map((f) => ({ name: `qemu-10.2/${f}`, bytes: () => fixture10(f.slice(0, -3)) })),
];

test("every node's info has its kind's fields and types, on every real stream (and expanded page runs)", () => {
  assert.ok(streams.length >= 20, `${streams.length} streams`);
  const seen = new Set<string>();
  for (const s of streams) {
    const bytes = s.bytes();
    const d = decodeBytes(bytes);
    const src = new MemoryByteSource(bytes);
    const problems: string[] = [];
    let expanded = 0;
    walk(d.root, (n) => {
      const p = problem(n);
      if (p) problems.push(p);
      if (n.info) seen.add(n.kind === "page-run" ? `page-run/${n.type === "block" ? "block" : "ram"}` : n.kind);
      // the first few lazy runs of each stream: their pages' info
      if (n.lazy && expanded++ < 5) {
        for (const k of expandNode(src, n, d.pageSize)) {
          const q = problem(k);
          if (q) problems.push(q);
          seen.add(k.kind);
        }
      }
    });
    assert.deepEqual(problems.slice(0, 5), [], s.name);
  }
  // the fixtures cover every kind that carries decoder info (field: non-canonical bools and raw
  // array runs only appear in crafted streams, see hostile.test.ts and diagnostics.test.ts)
  assert.deepEqual([...seen].sort(), [
    "array",
    "command",
    "helper",
    "page",
    "page-run/block",
    "page-run/ram",
    "ram-block",
    "ram-setup",
    "section",
    "subsection",
  ]);
});

test("isKind narrows a node to one kind", () => {
  const d = decodeBytes(fixture("q35-devices.vmstate"));
  const sections = d.root.children!.filter((n) => isKind(n, "section"));
  assert.ok(sections.length > 10);
  for (const n of sections) if (isKind(n, "section")) assert.equal(typeof n.info!.versionId, "number");
  assert.equal(isKind(d.root, "section"), false);
  assert.equal(isKind(undefined, "section"), false);
});
