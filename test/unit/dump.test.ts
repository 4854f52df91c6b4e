// `vmstate dump`'s dict layout where QEMU's streams never go: a name that repeats in one VMState
// (the analyzer's VMSDFieldStruct.read turns the second value into a list, in the first one's
// place). Real streams, where names are unique, are compared with the analyzer's own output in
// fixtures.test.ts and qemu10.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { dumpStateJson } from "../../src/format/dump";
import { MemoryByteSource } from "../../src/io/memorySource";
import { decodeBytes } from "./helpers";
import { StreamBuilder, vmdescDevice } from "./streamBuilder";

test("dump: a repeated field name becomes a list in its first place; arrays of one element are the element", () => {
  const bytes = new StreamBuilder()
    .header()
    .configuration()
    .fullHeader(1, "dev", 0, 1)
    .u8(1) // x
    .u16(2) // y
    .u8(3) // x again, not next to the first
    .bytes([10, 11, 12]) // z[3]
    .u8(13) // w[1]
    .u32(0xfffffffe) // v: int32 -2
    .footer(1)
    .eof()
    .vmdesc({
      page_size: 4096,
      devices: [
        vmdescDevice("dev", [
          { name: "x", type: "uint8", size: 1 },
          { name: "y", type: "uint16", size: 2 },
          { name: "x", type: "uint8", size: 1 },
          { name: "z", type: "uint8", size: 1, array_len: 3 },
          { name: "w", type: "uint8", size: 1, array_len: 1 },
          { name: "v", type: "int32", size: 4 },
        ]),
      ],
    })
    .build();
  const d = decodeBytes(bytes);
  assert.deepEqual(
    d.diagnostics.filter((x) => x.severity !== "info"),
    [],
  );
  const dump = dumpStateJson(new MemoryByteSource(bytes), d);
  assert.deepEqual(JSON.parse(dump), {
    "dev (1)": { x: ["0x01", "0x03"], y: "0x0002", z: ["0x0a", "0x0b", "0x0c"], w: "0x0d", v: "0xfffffffe (-2)" },
  });
  // Python's layout: 4-space indents, ", " never at line ends, a newline at the end
  assert.equal(dump.split("\n")[2], '        "x": [');
  assert.ok(dump.endsWith("}\n"));
});
