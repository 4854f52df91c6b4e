// Streams generated with real QEMU for layouts the shared fixtures lack (test/fixtures/gen),
// checked against the fixture maker's independent byte probe and what the helpers served.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { encodeStream, type DecodedStream, type VNode } from "../../src/format";
import { dumpStateJson } from "../../src/format/dump";
import { runCli } from "../../src/cli/commands";
import { MemoryByteSource } from "../../src/io/memorySource";
import { checkSpans, decodeBytes, FIXTURES, materialize, walk } from "./helpers";

const GEN = path.join(FIXTURES, "gen");
const ALL = [
  ...fs
    .readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".vmstate"))
    .map((f) => path.join(FIXTURES, f)),
  ...fs
    .readdirSync(GEN)
    .filter((f) => f.endsWith(".vmstate"))
    .map((f) => path.join(GEN, f)),
];

function find(root: VNode, pred: (n: VNode) => boolean): VNode | undefined {
  let hit: VNode | undefined;
  walk(root, (n) => {
    if (!hit && pred(n)) hit = n;
  });
  return hit;
}

function probeMatches(d: DecodedStream, f: Record<string, any>): void {
  const cfg = f.configuration_section;
  const cfgNode = d.root.children!.find((n) => n.kind === "configuration");
  if (!cfg) assert.equal(cfgNode, undefined);
  else {
    assert.equal(cfgNode?.span.start, cfg.offset);
    assert.equal(cfgNode?.span.end, cfg.end_offset);
    assert.equal(d.machineType, cfg.machine_name);
    const subs = cfgNode!.children!.filter((c) => c.kind === "subsection");
    assert.deepEqual(
      subs.map((s) => [s.name, s.span.start]),
      cfg.subsections.map((s: any) => [s.name, s.offset]),
    );
    for (const s of cfg.subsections) {
      if (s.target_page_bits !== undefined)
        assert.equal(find(cfgNode!, (n) => n.name === "target_page_bits")?.value, s.target_page_bits);
      if (s.capabilities) assert.deepEqual(d.capabilities, s.capabilities);
      if (s.uuid_hex) assert.equal(find(cfgNode!, (n) => n.name === "uuid")?.detail?.replace(/-/g, ""), s.uuid_hex);
    }
  }
  const first = f.first_section;
  assert.equal(d.sections[0]?.offset, first.offset);
  assert.equal(d.sections[0]?.name, first.name);
  if (first.ram_blocks) {
    assert.deepEqual(
      d.ramBlocks.map((b) => ({
        idstr: b.name,
        used_length: b.usedLength,
        ...(b.mrAddr !== undefined ? { mr_addr: b.mrAddr } : {}),
      })),
      first.ram_blocks,
    );
  }
  let footers = 0;
  walk(d.root, (n) => void (n.kind === "footer" && footers++));
  if (typeof f.section_footers === "boolean") assert.equal(footers > 0, f.section_footers);
  if (f.vmdesc) assert.equal(d.vmdescSpan?.start, f.vmdesc.offset);
  else assert.equal(d.vmdesc, undefined);
  if (typeof f.eof_offset === "number")
    assert.equal(d.root.children!.find((n) => n.kind === "eof")?.span.start, f.eof_offset);
}

for (const file of ALL) {
  const name = path.relative(FIXTURES, file);
  test(`${name}: agrees with the fixture maker's byte probe; rewrite identical`, () => {
    const bytes = new Uint8Array(fs.readFileSync(file));
    const d = decodeBytes(bytes);
    probeMatches(d, JSON.parse(fs.readFileSync(`${file}.meta.json`, "utf8")).features);
    assert.deepEqual(checkSpans(d.root), []);
    assert.ok(Buffer.from(materialize(encodeStream(d.root), new MemoryByteSource(bytes))).equals(Buffer.from(bytes)));
    const errors = d.diagnostics.filter((x) => x.severity === "error").map((x) => x.code);
    assert.deepEqual(errors, name.includes("odd-ids") ? ["dbus-count-mismatch"] : []);
  });
}

for (const file of ALL.filter((f) => f.startsWith(GEN))) {
  const name = path.basename(file, ".vmstate");
  const gz = `${file}.analyzer-state.json.gz`;
  if (fs.existsSync(gz)) {
    test(`gen/${name}: dump equals QEMU's analyzer`, () => {
      const bytes = new Uint8Array(fs.readFileSync(file));
      assert.equal(
        dumpStateJson(new MemoryByteSource(bytes), decodeBytes(bytes)),
        gunzipSync(fs.readFileSync(gz)).toString("utf8").replace(/\n?$/, "\n"),
      );
    });
  }
  const analyzer = JSON.parse(fs.readFileSync(`${file}.analyzer.json`, "utf8"));
  const blocks = analyzer.extract_run?.ram_blocks ?? {};
  if (Object.keys(blocks).length) {
    test(`gen/${name}: RAM extraction equals the analyzer's -x`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ramx-"));
      try {
        const io = { stdout: () => {}, stderr: () => {} };
        assert.equal(await runCli(["ram", file, "--extract", dir], io), name.includes("odd-ids") ? 1 : 0);
        const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
          block: string;
          file: string;
          size: number;
        }[];
        // the maker collected only the analyzer's files at the top of its folder (not "/rom@etc/...")
        for (const b of Object.keys(blocks))
          assert.ok(
            manifest.some((m) => m.block === b),
            b,
          );
        for (const m of manifest.filter((x) => blocks[x.block])) {
          assert.equal(
            createHash("sha256")
              .update(fs.readFileSync(path.join(dir, m.file)))
              .digest("hex"),
            blocks[m.block].sha256,
            m.block,
          );
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
  const helpersFile = `${file}.helpers.json`;
  if (fs.existsSync(helpersFile)) {
    test(`gen/${name}: helper entries equal what QEMU kept of the helpers' Save`, () => {
      const bytes = new Uint8Array(fs.readFileSync(file));
      const d = decodeBytes(bytes);
      const served = (
        JSON.parse(fs.readFileSync(helpersFile, "utf8")).helpers as {
          id: string;
          payload_len: number;
          payload_sha256: string;
          save_fails_on_purpose?: boolean;
        }[]
      ).filter((h) => !h.save_fails_on_purpose && h.payload_len <= 1024 * 1024 && h.payload_len > 0);
      assert.deepEqual(d.helpers.map((h) => h.id).sort(), served.map((h) => h.id).sort());
      for (const h of served) {
        const got = d.helpers.find((x) => x.id === h.id)!;
        assert.equal(got.size, h.payload_len);
        assert.equal(
          createHash("sha256").update(bytes.subarray(got.blob.start, got.blob.end)).digest("hex"),
          h.payload_sha256,
        );
      }
    });
  }
}

test("gen/q35-block-migration: the block section is decoded, its data chunk is the disk's pattern", () => {
  const bytes = new Uint8Array(fs.readFileSync(path.join(GEN, "q35-block-migration.vmstate")));
  const d = decodeBytes(bytes);
  const runs: VNode[] = [];
  walk(d.root, (n) => void (n.kind === "page-run" && n.type === "block" && runs.push(n)));
  const data = runs.find((r) => r.info!.blockKind === "data")!;
  assert.ok(data, "no data chunk");
  const pattern = fs.readFileSync(path.join(GEN, "q35-block-migration.disk-pattern-64k.bin"));
  assert.ok(Buffer.from(bytes.subarray(data.valueSpan!.start, data.valueSpan!.start + pattern.length)).equals(pattern));
  assert.ok(!d.diagnostics.some((x) => x.code === "opaque-section" && /block/.test(x.message)));
});

test("gen/pc-i440fx-2.2: no vmdesc, no footers: the sections are found by a heuristic that says so", () => {
  const d = decodeBytes(new Uint8Array(fs.readFileSync(path.join(GEN, "pc-i440fx-2.2.vmstate"))));
  assert.ok(d.diagnostics.some((x) => x.severity === "warning" && /heuristic/.test(x.message)));
  assert.equal(d.sections.at(-1)!.name, "globalstate");
  assert.ok(
    d.sections.every((s) => /^[\w:./-]+$/.test(s.name)),
    d.sections.map((s) => s.name).join(),
  );
});
