// Every real QEMU 7.2 stream in test/fixtures: dump, helpers, RAM, rewrite.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { encodeStream } from "../../src/format";
import { dumpStateJson } from "../../src/format/dump";
import { MemoryByteSource } from "../../src/io/memorySource";
import { runCli } from "../../src/cli/commands";
import { checkSpans, decodeBytes, fixture, FIXTURES, materialize, walk } from "./helpers";

const STREAMS = [
  "dbus-vmstate-3helpers",
  "dbus-vmstate-nohelpers",
  "pc-devices",
  "q35-cap-compress",
  "q35-devices",
  "q35-no-footer",
  "q35-no-vmdesc",
];

function capture() {
  let out = "";
  let err = "";
  return {
    io: { stdout: (s: string) => (out += s), stderr: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

for (const name of STREAMS) {
  const file = path.join(FIXTURES, `${name}.vmstate`);
  test(`${name}: decodes without errors, spans nest`, () => {
    const d = decodeBytes(fixture(`${name}.vmstate`));
    assert.deepEqual(
      d.diagnostics.filter((x) => x.severity === "error"),
      [],
    );
    assert.deepEqual(checkSpans(d.root), []);
    assert.equal(d.root.children!.at(-1)!.span.end, d.size);
    // facts the fixture maker's independent probe recorded
    const f = JSON.parse(fs.readFileSync(`${file}.meta.json`, "utf8")).features;
    assert.equal(d.machineType, f.configuration_section.machine_name);
    assert.deepEqual(
      d.ramBlocks.map((b) => ({ idstr: b.name, used_length: b.usedLength })),
      f.first_section.ram_blocks,
    );
    let footers = 0;
    walk(d.root, (n) => void (n.kind === "footer" && footers++));
    assert.equal(footers > 0, f.section_footers);
    if (f.vmdesc) assert.equal(d.vmdescSpan?.start, f.vmdesc.offset);
    else assert.equal(d.vmdesc, undefined);
  });

  test(`${name}: rewrite is byte-identical and every valued leaf is really re-encoded`, () => {
    const bytes = fixture(`${name}.vmstate`);
    const d = decodeBytes(bytes);
    const src = new MemoryByteSource(bytes);
    assert.ok(Buffer.from(materialize(encodeStream(d.root), src)).equals(Buffer.from(bytes)));
    // poison every byte a valued leaf stands for: the encoder must not have copied them
    const poisoned = bytes.slice();
    let leaves = 0;
    walk(d.root, (n) => {
      if (n.enc && !n.incomplete && !(n.children && n.children.length)) {
        poisoned.fill(0xa5, n.span.start, n.span.end);
        leaves++;
      }
    });
    assert.ok(leaves > 100, `only ${leaves} valued leaves`);
    const again = materialize(encodeStream(d.root), new MemoryByteSource(poisoned));
    assert.ok(Buffer.from(again).equals(Buffer.from(bytes)), "re-encoding from values differs");
  });

  const gz = `${file}.analyzer-state.json.gz`;
  if (fs.existsSync(gz)) {
    test(`${name}: dump equals QEMU's analyze-migration.py -d state`, () => {
      const bytes = fixture(`${name}.vmstate`);
      const d = decodeBytes(bytes);
      const ours = dumpStateJson(new MemoryByteSource(bytes), d);
      // the stored output was captured without print()'s final newline
      assert.equal(ours, gunzipSync(fs.readFileSync(gz)).toString("utf8").replace(/\n?$/, "\n"));
    });
  }

  const helpersJson = `${file}.helpers.json`;
  if (fs.existsSync(helpersJson)) {
    test(`${name}: helper blobs equal what the helpers served`, () => {
      const bytes = fixture(`${name}.vmstate`);
      const d = decodeBytes(bytes);
      const expected = JSON.parse(fs.readFileSync(helpersJson, "utf8")).helpers as {
        id: string;
        payload_len: number;
        payload_sha256: string;
      }[];
      assert.equal(d.helpers.length, expected.length);
      for (const e of expected) {
        const h = d.helpers.find((x) => x.id === e.id);
        assert.ok(h, `helper ${e.id} missing`);
        assert.equal(h.size, e.payload_len);
        assert.equal(
          createHash("sha256").update(bytes.subarray(h.blob.start, h.blob.end)).digest("hex"),
          e.payload_sha256,
        );
      }
    });
  }

  const analyzer = JSON.parse(fs.readFileSync(`${file}.analyzer.json`, "utf8"));
  if (analyzer.ram_blocks) {
    test(`${name}: vmstate ram --extract equals the analyzer's -x`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ramx-"));
      try {
        const c = capture();
        assert.equal(await runCli(["ram", file, "--extract", dir], c.io), 0, c.err());
        const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
          block: string;
          file: string;
          size: number;
          sha256: string;
        }[];
        assert.deepEqual(manifest.map((m) => m.block).sort(), Object.keys(analyzer.ram_blocks).sort());
        for (const m of manifest) {
          const a = analyzer.ram_blocks[m.block];
          assert.equal(m.size, a.size, m.block);
          const data = fs.readFileSync(path.join(dir, m.file));
          assert.equal(createHash("sha256").update(data).digest("hex"), a.sha256, m.block);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

test("q35-devices: the known guest pattern is at guest-physical 0x200000 in pc.ram", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ramx-"));
  try {
    const c = capture();
    assert.equal(await runCli(["ram", path.join(FIXTURES, "q35-devices.vmstate"), "--extract", dir], c.io), 0);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
      block: string;
      file: string;
    }[];
    const ram = fs.readFileSync(path.join(dir, manifest.find((m) => m.block === "pc.ram")!.file));
    const pattern = fs.readFileSync(path.join(FIXTURES, "q35-devices.guest-pattern-64k.bin"));
    assert.ok(ram.subarray(0x200000, 0x200000 + pattern.length).equals(pattern));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("q35-no-vmdesc: sections are found from their footers without a vmdesc", () => {
  const d = decodeBytes(fixture("q35-no-vmdesc.vmstate"));
  assert.equal(d.vmdesc, undefined);
  const names = d.sections.map((s) => s.name);
  assert.ok(names.includes("globalstate"));
  assert.ok(d.diagnostics.some((x) => x.code === "opaque-section" && /footer/.test(x.message)));
});

test("q35-no-footer: no footers, vmdesc drives every section", () => {
  const d = decodeBytes(fixture("q35-no-footer.vmstate"));
  assert.ok(!d.diagnostics.some((x) => x.code === "opaque-section"));
  let footers = 0;
  walk(d.root, (n) => {
    if (n.kind === "footer") footers++;
  });
  assert.equal(footers, 0);
});

test("q35-cap-compress: compressed pages are recognised as such", () => {
  const d = decodeBytes(fixture("q35-cap-compress.vmstate"));
  let compressed = 0;
  walk(d.root, (n) => {
    if (n.kind === "page-run" && n.info?.pageKind === "compressed") compressed += n.info.count ?? 0;
  });
  assert.equal(compressed, 48);
});
