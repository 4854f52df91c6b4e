// Synthetic streams for every diagnostic the decoder gives, and the analyzer's known failures.
import assert from "node:assert/strict";
import { test } from "node:test";
import { codes, checkSpans, decodeBytes } from "./helpers";
import { dbusData, dbusStream, StreamBuilder, vmdescDevice } from "./streamBuilder";

const bytes = (n: number, v = 0x41) => new Uint8Array(n).fill(v);

function diag(d: ReturnType<typeof decodeBytes>, code: string) {
  const x = d.diagnostics.find((y) => y.code === code);
  assert.ok(x, `expected diagnostic ${code}, got ${codes(d).join(", ")}`);
  return x;
}

test("dbus-vmstate: well-formed entries, padding and helper facts", () => {
  const data = dbusData(
    [
      { id: "idA", blob: bytes(10) },
      { id: "idB", blob: bytes(3) },
    ],
    { padTo: 64 },
  );
  const d = decodeBytes(dbusStream(data));
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
  assert.deepEqual(
    d.helpers.map((h) => [h.id, h.size]),
    [
      ["idA", 10],
      ["idB", 3],
    ],
  );
  assert.deepEqual(checkSpans(d.root), []);
});

test("dbus-vmstate: count larger than the entries present (QEMU's skipped helper)", () => {
  const data = dbusData([{ id: "idA", blob: bytes(10) }], { count: 4, padTo: 128 });
  const d = decodeBytes(dbusStream(data));
  const x = diag(d, "dbus-count-mismatch");
  assert.equal(x.severity, "error");
  assert.match(x.message, /declares 4 helpers but only 1/);
  assert.equal(d.helpers.length, 1);
});

test("dbus-vmstate: empty Id, Id over 255 bytes, non-UTF-8 Id, duplicates, empty and oversized blobs", () => {
  const data = dbusData([
    { id: "", blob: bytes(1) },
    { id: "x".repeat(256), blob: bytes(1) },
    { id: Uint8Array.of(0xff, 0xfe), blob: bytes(1) },
    { id: "dup", blob: bytes(1) },
    { id: "dup", blob: bytes(2) },
    { id: "empty", blob: new Uint8Array(0) },
    { id: "big", blob: bytes(1024 * 1024 + 1) },
  ]);
  const d = decodeBytes(dbusStream(data));
  for (const c of [
    "dbus-id-empty",
    "dbus-id-too-long",
    "dbus-id-not-utf8",
    "dbus-id-duplicate",
    "dbus-blob-empty",
    "dbus-blob-too-large",
  ])
    diag(d, c);
  assert.equal(d.helpers.length, 7);
  assert.equal(diag(d, "dbus-id-duplicate").nodeId, d.helpers[4]!.nodeId);
});

test("dbus-vmstate: exactly 1 MiB is accepted", () => {
  const d = decodeBytes(dbusStream(dbusData([{ id: "max", blob: bytes(1024 * 1024) }])));
  assert.ok(!codes(d).includes("dbus-blob-too-large"));
});

test("dbus-vmstate: non-zero bytes in the padding", () => {
  const data = dbusData([{ id: "a", blob: bytes(2) }], { padTo: 40 });
  data[35] = 7;
  const d = decodeBytes(dbusStream(data));
  assert.equal(diag(d, "dbus-padding-nonzero").span.start > 0, true);
});

test("dbus-vmstate: entry length running past the buffer gives a partial tree", () => {
  const data = dbusData([{ id: "a", blob: bytes(2) }]);
  data[4 + 4 + 1 + 3] = 0xff; // blob size 0x000000ff > what remains
  const d = decodeBytes(dbusStream(data));
  assert.ok(codes(d).includes("truncated"));
  assert.deepEqual(checkSpans(d.root), []);
});

test("dbus-vmstate without a vmdesc uses the built-in layout", () => {
  const data = dbusData([{ id: "solo", blob: bytes(5) }], { padTo: 32 });
  const d = decodeBytes(dbusStream(data, { vmdesc: false }));
  assert.deepEqual(
    d.helpers.map((h) => h.id),
    ["solo"],
  );
});

test("not a stream, obsolete version 2, unknown version, tiny file", () => {
  assert.equal(diag(decodeBytes(new TextEncoder().encode("hello world, not qemu")), "bad-magic").span.start, 0);
  assert.match(
    diag(decodeBytes(new StreamBuilder().u32(0x5145564d).u32(2).build()), "obsolete-version").message,
    /obsolete/,
  );
  diag(decodeBytes(new StreamBuilder().u32(0x5145564d).u32(9).build()), "bad-version");
  diag(decodeBytes(Uint8Array.of(0x51, 0x45)), "not-a-stream");
  diag(decodeBytes(new Uint8Array(0)), "not-a-stream");
});

test("a stream cut after the header has no EOF", () => {
  const d = decodeBytes(new StreamBuilder().header().configuration().build());
  diag(d, "no-eof");
});

test("unknown record type: diagnostic with its offset, resync to the next section", () => {
  const b = new StreamBuilder().header().configuration();
  const at = b.length;
  b.u8(0x42).bytes(bytes(7, 0x99)).fullHeader(1, "dbus-vmstate/dbus-vmstate", 0, 0);
  const data = dbusData([{ id: "r", blob: bytes(3) }]);
  b.u32(data.length).bytes(data).footer(1).eof();
  const d = decodeBytes(b.build());
  const x = diag(d, "unknown-record");
  assert.equal(x.span.start, at);
  assert.match(x.message, new RegExp(`0x${at.toString(16)}`));
  assert.deepEqual(
    d.helpers.map((h) => h.id),
    ["r"],
  );
});

test("footer naming another section, stray footer, PART for a section never started", () => {
  const data = dbusData([{ id: "f", blob: bytes(3) }]);
  let b = new StreamBuilder()
    .header()
    .configuration()
    .fullHeader(1, "dbus-vmstate/dbus-vmstate", 0, 0)
    .u32(data.length)
    .bytes(data)
    .footer(9)
    .eof();
  diag(decodeBytes(b.build()), "footer-mismatch");
  b = new StreamBuilder().header().configuration().footer(3).eof();
  diag(decodeBytes(b.build()), "stray-footer");
  b = new StreamBuilder().header().configuration().u8(0x02).u32(77).u64(0x10).footer(77).eof();
  diag(decodeBytes(b.build()), "unknown-section-id");
});

test("commands: every sub-command, bad lengths, unknown commands, PACKAGED as a nested stream", () => {
  const data = dbusData([{ id: "in-package", blob: bytes(4) }]);
  const inner = new StreamBuilder()
    .fullHeader(1, "dbus-vmstate/dbus-vmstate", 0, 0)
    .u32(data.length)
    .bytes(data)
    .footer(1)
    .eof()
    .build();
  const b = new StreamBuilder()
    .header()
    .configuration()
    .u8(8)
    .u16(1)
    .u16(0) // OPEN_RETURN_PATH
    .u8(8)
    .u16(2)
    .u16(4)
    .u32(1234) // PING
    .u8(8)
    .u16(3)
    .u16(16)
    .u64(0x1000)
    .u64(0x1000) // POSTCOPY_ADVISE
    .u8(8)
    .u16(11)
    .u16(0) // SWITCHOVER_START
    .u8(8)
    .u16(10)
    .u16(4)
    .counted("abc") // RECV_BITMAP
    .u8(8)
    .u16(2)
    .u16(0) // PING with a bad length
    .u8(8)
    .u16(40)
    .u16(0) // unknown
    .u8(8)
    .u16(7)
    .u16(4)
    .u32(inner.length)
    .bytes(inner) // PACKAGED
    .eof();
  const d = decodeBytes(b.build());
  diag(d, "command-length");
  diag(d, "command-unknown");
  assert.deepEqual(
    d.helpers.map((h) => h.id),
    ["in-package"],
  );
  const names = d.root.children!.filter((n) => n.kind === "command").map((n) => n.name);
  assert.deepEqual(names, [
    "MIG_CMD_OPEN_RETURN_PATH",
    "MIG_CMD_PING",
    "MIG_CMD_POSTCOPY_ADVISE",
    "MIG_CMD_SWITCHOVER_START",
    "MIG_CMD_RECV_BITMAP",
    "MIG_CMD_PING",
    "MIG_CMD_unknown (40)",
    "MIG_CMD_PACKAGED",
  ]);
  assert.deepEqual(checkSpans(d.root), []);
});

test("RAM: unknown flags, a page continuing no block, XBZRLE, MULTIFD_FLUSH and HOOK", () => {
  let b = new StreamBuilder()
    .header()
    .configuration()
    .startHeader(2, "ram")
    .u64(0x1000 | 0x04)
    .counted("pc.ram")
    .u64(0x1000)
    .u64(0x10)
    .footer(2)
    .u8(0x02)
    .u32(2)
    .u64(0x0 | 0x400 | 0x1)
    .footer(2)
    .eof();
  diag(decodeBytes(b.build()), "ram-bad-flags");
  b = new StreamBuilder()
    .header()
    .configuration()
    .startHeader(2, "ram")
    .u64(0x0 | 0x22)
    .u8(0)
    .u64(0x10)
    .footer(2)
    .eof();
  diag(decodeBytes(b.build()), "ram-no-block");
  b = new StreamBuilder()
    .header()
    .configuration()
    .startHeader(2, "ram")
    .u64(0x2000 | 0x04)
    .counted("pc.ram")
    .u64(0x2000)
    .u64(0x200)
    .u64(0x0 | 0x40)
    .counted("pc.ram")
    .u8(1)
    .u16(3)
    .bytes([1, 2, 3])
    .u64(0x1000 | 0x28)
    .bytes(bytes(4096))
    .u64(0x80)
    .u64(0x10)
    .footer(2)
    .eof();
  const d = decodeBytes(b.build());
  diag(d, "ram-hook");
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity === "error"),
    [],
  );
  assert.deepEqual(checkSpans(d.root), []);
});

test("RAM block larger than the setup total", () => {
  const b = new StreamBuilder()
    .header()
    .configuration()
    .startHeader(2, "ram")
    .u64(0x1000 | 0x04)
    .counted("pc.ram")
    .u64(0x2000)
    .u64(0x10)
    .footer(2)
    .eof();
  diag(decodeBytes(b.build()), "ram-block-sizes");
});

test("names of 128 bytes and more (the analyzer reads the length signed)", () => {
  const long = "n".repeat(200);
  const data = dbusData([{ id: "x", blob: bytes(1) }]);
  const b = new StreamBuilder()
    .header()
    .configuration()
    .fullHeader(5, long, 0, 1)
    .u32(7)
    .footer(5)
    .fullHeader(1, "dbus-vmstate/dbus-vmstate", 0, 0)
    .u32(data.length)
    .bytes(data)
    .footer(1)
    .eof()
    .vmdesc({
      page_size: 4096,
      devices: [
        { name: long, instance_id: 0, vmsd_name: "long", version: 1, fields: [{ name: "v", type: "uint32", size: 4 }] },
        {
          name: "dbus-vmstate/dbus-vmstate",
          instance_id: 0,
          vmsd_name: "dbus-vmstate",
          version: 0,
          fields: [
            { name: "data_size", type: "uint32", size: 4 },
            { name: "data", type: "buffer", size: data.length },
          ],
        },
      ],
    });
  const d = decodeBytes(b.build());
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
  assert.equal(d.sections[0]!.name, long);
});

test("a vmdesc whose length has a 0x7b byte is found exactly (the analyzer's heuristic fails)", () => {
  const data = dbusData([{ id: "x", blob: bytes(1) }]);
  const desc = {
    page_size: 4096,
    devices: [
      {
        name: "dbus-vmstate/dbus-vmstate",
        instance_id: 0,
        vmsd_name: "dbus-vmstate",
        version: 0,
        fields: [
          { name: "data_size", type: "uint32", size: 4 },
          { name: "data", type: "buffer", size: data.length },
        ],
      },
    ],
    pad: "",
  };
  const base = JSON.stringify(desc).length;
  desc.pad = "p".repeat(0x17b - base);
  const b = new StreamBuilder()
    .bytes(dbusStream(data, { vmdesc: false }))
    .vmdesc(desc)
    .build();
  assert.equal(JSON.stringify(desc).length, 0x17b);
  const d = decodeBytes(b);
  assert.ok(d.vmdesc, "vmdesc not found");
  assert.equal(d.vmdesc!.devices.length, 1);
  assert.deepEqual(
    d.helpers.map((h) => h.id),
    ["x"],
  );
});

test("vmdesc that is not JSON: warning, and the sections are still found from their footers", () => {
  const data = dbusData([{ id: "x", blob: bytes(1) }]);
  const s = dbusStream(data, { vmdesc: false });
  const b = new StreamBuilder().bytes(s).u8(6).u32(5).bytes("{oops").build();
  const d = decodeBytes(b);
  assert.ok(codes(d).includes("vmdesc-invalid"));
  assert.deepEqual(
    d.helpers.map((h) => h.id),
    ["x"],
  );
});

test("trailing garbage after the vmdesc, and zero padding (accepted)", () => {
  const s = dbusStream(dbusData([{ id: "x", blob: bytes(1) }]));
  const padded = new Uint8Array(s.length + 512);
  padded.set(s);
  let d = decodeBytes(padded);
  assert.ok(d.vmdesc, "vmdesc with trailing zero padding");
  assert.ok(!codes(d).includes("trailing-data"));
  d = decodeBytes(
    new StreamBuilder()
      .bytes(dbusStream(dbusData([{ id: "x", blob: bytes(1) }]), { vmdesc: false }))
      .bytes("junk")
      .build(),
  );
  diag(d, "trailing-data");
});

// One device "dev" (section 3) with the payload and the vmdesc given: most streams below are this.
const dev = (fields: unknown[], extra: Record<string, unknown> = {}) => ({
  page_size: 4096,
  devices: [{ name: "dev", instance_id: 0, vmsd_name: "dev", version: 1, fields, ...extra }],
});
function devStream(payload: number[] | Uint8Array, desc: unknown): Uint8Array {
  return new StreamBuilder()
    .header()
    .configuration()
    .fullHeader(3, "dev", 0, 1)
    .bytes(payload)
    .footer(3)
    .eof()
    .vmdesc(desc)
    .build();
}
/** The payload u32 1 of the streams whose vmdesc is what matters. */
const U32_1 = [0, 0, 0, 1];

test("vmdesc describing a subsection that is not in the stream", () => {
  const d = decodeBytes(
    devStream(
      U32_1,
      dev([{ name: "v", type: "uint32", size: 4 }], {
        subsections: [{ vmsd_name: "dev/extra", version: 1, fields: [{ name: "w", type: "uint8", size: 1 }] }],
      }),
    ),
  );
  diag(d, "subsection-missing");
  assert.deepEqual(checkSpans(d.root), []);
});

test("unknown configuration subsection without a vmdesc", () => {
  const b = new StreamBuilder().header().configuration().u8(5).counted("configuration/new-thing").u32(1).u32(42).eof();
  diag(decodeBytes(b.build()), "config-unknown-subsection");
});

test("hostile lengths never allocate or hang: a huge vmdesc array, a huge machine name", () => {
  const cases: [string, Uint8Array, (d: ReturnType<typeof decodeBytes>) => void][] = [
    [
      "a uint8 array of 2,000,000,000",
      devStream(U32_1, dev([{ name: "a", type: "uint8", size: 1, array_len: 2_000_000_000 }])),
      (d) => assert.ok(d.diagnostics.some((x) => x.severity === "error")),
    ],
    [
      "a machine name of 0xfffffff0 bytes",
      new StreamBuilder().header().u8(7).u32(0xfffffff0).bytes("abc").build(),
      (d) => assert.ok(d.diagnostics.some((x) => x.severity === "error")),
    ],
    [
      "5,000,000 empty buffers",
      devStream(U32_1, dev([{ name: "a", type: "buffer", size: 0, array_len: 5_000_000 }])),
      (d) => {
        // 5,000,000 empty elements are one raw run (vmsd.ts MAX_ARRAY_NODES), not millions of nodes
        const arr = d.root.children!.find((n) => n.kind === "section")!.children!.find((n) => n.kind === "array")!;
        assert.equal(arr.children!.length, 1);
        assert.equal(arr.children![0]!.info!.elements, 5_000_000);
      },
    ],
    [
      "5,000,000 empty structs",
      devStream(
        U32_1,
        dev([{ name: "a", type: "struct", size: 0, array_len: 5_000_000, struct: { vmsd_name: "e", fields: [] } }]),
      ),
      // a struct array cannot be grouped: the node budget stops it
      (d) => assert.ok(codes(d).includes("too-many-nodes"), codes(d).join()),
    ],
  ];
  for (const [, bytes, check] of cases) check(decodeBytes(bytes));
});

test("legacy block migration section before RAM", () => {
  const b = new StreamBuilder()
    .header()
    .configuration()
    .startHeader(1, "block", 0, 1)
    .u64((0n << 9n) | 0x01n)
    .counted("drive0")
    .bytes(new Uint8Array(1 << 20).fill(3))
    .u64((2048n << 9n) | 0x09n)
    .counted("drive0")
    .u64((50n << 9n) | 0x04n)
    .u64(0x02)
    .footer(1)
    .eof();
  const d = decodeBytes(b.build());
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
  const sec = d.root.children!.find((n) => n.name === "block")!;
  assert.deepEqual(
    sec.children!.filter((c) => c.kind === "page-run").map((c) => c.info!.blockKind),
    ["data", "zero"],
  );
});

test("the remaining diagnostics, each from a stream built to trigger it", () => {
  const cases: [string, Uint8Array][] = [
    ["vmdesc-bad-size", devStream([1, 2, 3, 4], dev([{ name: "v", type: "buffer", size: -4 }]))],
    ["vmdesc-bad-array", devStream([1, 2, 3, 4], dev([{ name: "v", type: "uint8", size: 1, array_len: -2 }]))],
    [
      "vmdesc-no-fields",
      devStream([1, 2, 3, 4], { page_size: 4096, devices: [{ name: "dev", instance_id: 0, size: 4 }] }),
    ],
    [
      "vmdesc-page-size",
      devStream([1, 2, 3, 4], { ...dev([{ name: "v", type: "uint32", size: 4 }]), page_size: 1000 }),
    ],
    [
      "subsection-name-mismatch",
      devStream(
        [...new StreamBuilder().u32(1).u8(5).counted("dev/other").u32(1).u8(9).build()],
        dev([{ name: "v", type: "uint32", size: 4 }], {
          subsections: [{ vmsd_name: "dev/sub", version: 1, fields: [{ name: "w", type: "uint8", size: 1 }] }],
        }),
      ),
    ],
    [
      "missing-footer",
      new StreamBuilder()
        .header()
        .configuration()
        .fullHeader(3, "dev", 0, 1)
        .u32(1)
        .footer(3)
        .fullHeader(4, "dev", 1, 1)
        .u32(2)
        .u8(0x55)
        .eof()
        .vmdesc({
          page_size: 4096,
          devices: [
            vmdescDevice("dev", [{ name: "v", type: "uint32", size: 4 }]),
            vmdescDevice("dev", [{ name: "v", type: "uint32", size: 4 }], { instance: 1 }),
          ],
        })
        .build(),
    ],
    ["config-bad-length", new StreamBuilder().header().u8(7).u32(100_000).bytes("x".repeat(50)).eof().build()],
    [
      "dbus-short",
      new StreamBuilder()
        .header()
        .configuration()
        .fullHeader(1, "dbus-vmstate/dbus-vmstate", 0, 0)
        .u32(2)
        .u16(0)
        .footer(1)
        .eof()
        .build(),
    ],
    [
      "block-bad-flags",
      new StreamBuilder().header().configuration().startHeader(1, "block", 0, 1).u64(0x40).footer(1).eof().build(),
    ],
    [
      "s390-bad-flags",
      new StreamBuilder()
        .header()
        .configuration()
        .startHeader(1, "s390-storage_attributes", 0, 0)
        .u64(0x100)
        .footer(1)
        .eof()
        .build(),
    ],
    [
      "s390-error",
      new StreamBuilder()
        .header()
        .configuration()
        .startHeader(1, "s390-storage_attributes", 0, 0)
        .u64(0x06)
        .footer(1)
        .eof()
        .build(),
    ],
    [
      "ram-bad-xbzrle",
      new StreamBuilder()
        .header()
        .configuration()
        .startHeader(2, "ram")
        .u64(0x1000 | 0x04)
        .counted("pc.ram")
        .u64(0x1000)
        .u64(0x40)
        .counted("pc.ram")
        .u8(2)
        .u16(1)
        .u8(0)
        .u64(0x10)
        .footer(2)
        .eof()
        .build(),
    ],
    [
      "ram-bad-compressed",
      new StreamBuilder()
        .header()
        .configuration()
        .startHeader(2, "ram")
        .u64(0x1000 | 0x04)
        .counted("pc.ram")
        .u64(0x1000)
        .u64(0x100)
        .counted("pc.ram")
        .u32(90_000)
        .footer(2)
        .eof()
        .build(),
    ],
    [
      "postcopy-advise",
      new StreamBuilder().header().configuration().u8(8).u16(3).u16(16).u64(0x1000).u64(0x1000).eof().build(),
    ],
    [
      "packaged-trailing",
      new StreamBuilder().header().configuration().u8(8).u16(7).u16(4).u32(3).bytes([0, 0x42, 0x42]).eof().build(),
    ],
  ];
  for (const [code, bytes] of cases) {
    const d = decodeBytes(bytes);
    assert.ok(codes(d).includes(code), `${code}: got ${codes(d).join(", ")}`);
    assert.deepEqual(checkSpans(d.root), [], code);
  }
});

test("spapr/htab and s390 storage attributes decode (iterative sections QEMU's analyzer also knows)", () => {
  const htab = new StreamBuilder()
    .header()
    .configuration()
    .startHeader(1, "spapr/htab", 0, 1)
    .u32(18)
    .footer(1)
    .u8(2)
    .u32(1)
    .u32(0)
    .u32(5)
    .u16(2)
    .u16(1)
    .bytes(new Uint8Array(32))
    .u32(0)
    .u16(0)
    .u16(0)
    .footer(1)
    .eof()
    .build();
  let d = decodeBytes(htab);
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
  const s390 = new StreamBuilder()
    .header()
    .configuration()
    .startHeader(1, "s390-storage_attributes", 0, 0)
    .u64(0x02)
    .u64(4)
    .bytes([1, 2, 3, 4])
    .u64(0x08)
    .u64(0x01)
    .footer(1)
    .eof()
    .build();
  d = decodeBytes(s390);
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
});

test("mapped-ram: header, bitmap and pages at fixed offsets, stream resumes after the pages", () => {
  const pageSize = 4096;
  const used = 4 * pageSize;
  const b = new StreamBuilder()
    .header()
    .configuration()
    .u8(5)
    .counted("configuration/capabilities")
    .u32(1)
    .u32(1)
    .counted("mapped-ram");
  b.startHeader(2, "ram")
    .u64(used | 0x04)
    .counted("pc.ram")
    .u64(used);
  const bitmapOffset = b.length + 28;
  const pagesOffset = Math.ceil((bitmapOffset + 8) / (1 << 20)) * (1 << 20);
  b.u32(1).u64(pageSize).u64(bitmapOffset).u64(pagesOffset).u64(0b0101);
  b.bytes(new Uint8Array(pagesOffset - b.length));
  b.bytes(new Uint8Array(used).fill(0xab));
  b.u64(0x10).footer(2).eof();
  const d = decodeBytes(b.build());
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
  assert.deepEqual(checkSpans(d.root), []);
  assert.deepEqual(d.capabilities, ["mapped-ram"]);
  assert.ok(d.root.children!.some((n) => n.kind === "eof"));
});
