// The back of a stream, after the record loop's final EOF: the QEMU_VM_VMDESCRIPTION record
// (u8 0x06, be32 length, JSON; migration/savevm.c qemu_savevm_state_complete_precopy writes it
// unless suppressed or in postcopy) and whatever bytes follow (zero padding, or junk: a warning).
import { hex } from "./errors";
import { text, type Reader } from "./reader";
import type { StreamState } from "./streamState";
import { QEMU_VM_VMDESCRIPTION, type VNode } from "./types";
import { parseVmdesc } from "./vmdesc";

/** Trailing bytes looked at to tell zero padding from junk. */
const TRAILER_PEEK = 1 << 20;

export function readTrailer(st: StreamState, r: Reader, top: VNode[]): void {
  const ctx = st.ctx;
  const size = st.src.size;
  if (r.pos >= size) {
    if (st.vmdescLoc === undefined && top.some((n) => n.kind === "eof")) {
      const why = st.sawPackaged
        ? "this is a postcopy stream (the device state is inside MIG_CMD_PACKAGED, and QEMU writes no vmdesc once postcopy starts)"
        : "the source did not write one (suppress-vmdesc, postcopy, or an old machine type)";
      ctx.diag(
        "info",
        "no-vmdesc",
        `the stream has no vmdesc: ${why}. Without it nothing says what the fields of a device section are, so device sections are shown as raw bytes (hex)`,
        { start: size, end: size },
      );
    }
    return;
  }
  const start = r.pos;
  if (r.peekU8() === QEMU_VM_VMDESCRIPTION) {
    const loc = st.vmdescLoc;
    const node = ctx.from(r, start, { id: "vmdesc", kind: "vmdesc", name: "vmdesc", type: "json", children: [] });
    top.push(node);
    r.u8();
    const len = r.u32("vmdesc length");
    node.children!.push(
      ctx.leafAt(
        {
          id: "vmdesc/$type",
          kind: "field",
          name: "type",
          type: "uint8",
          value: QEMU_VM_VMDESCRIPTION,
          enc: "u8",
          detail: "QEMU_VM_VMDESCRIPTION",
        },
        start,
        start + 1,
      ),
      ctx.leafAt(
        {
          id: "vmdesc/$length",
          kind: "field",
          name: "length",
          type: "uint32",
          value: len,
          enc: "u32",
          detail: `${len} bytes`,
        },
        start + 1,
        start + 5,
      ),
    );
    const jsonStart = r.pos;
    if (len > r.remaining) {
      node.incomplete = true;
      node.span.end = size;
      ctx.diag(
        "error",
        "truncated",
        `vmdesc at ${hex(start)} declares ${len} bytes, only ${r.remaining} remain`,
        { start, end: size },
        "vmdesc",
      );
      r.pos = size;
      return;
    }
    r.skip(len);
    node.children!.push(
      ctx.leaf(r, jsonStart, {
        id: "vmdesc/json",
        kind: "field",
        name: "json",
        type: "json",
        detail: `${len} bytes of JSON${st.vmdesc ? `, ${st.vmdesc.devices.length} devices` : ""}`,
      }),
    );
    node.span.end = r.pos;
    node.detail = st.vmdesc ? `page_size ${st.vmdesc.page_size}, ${st.vmdesc.devices.length} devices` : `${len} bytes`;
    // a vmdesc record that findVmdesc did not take (not at the end, or unparsable): say why
    if (!loc || loc.recordOffset !== start) {
      if (!st.vmdesc) {
        const parsed = parseVmdesc(text(st.src.read(jsonStart, len)));
        if (parsed.error)
          ctx.diag(
            "warning",
            "vmdesc-invalid",
            `${parsed.error} (at ${hex(jsonStart)})`,
            { start: jsonStart, end: r.pos },
            "vmdesc",
          );
      }
    }
  }
  if (r.pos < size) {
    const ps = r.pos;
    const b = st.src.read(ps, Math.min(size - ps, TRAILER_PEEK));
    const zeros = b.length === size - ps && b.every((x) => x === 0);
    top.push(
      ctx.node(
        {
          id: "trailer",
          kind: zeros ? "padding" : "unparsed",
          name: zeros ? "padding" : "trailing bytes",
          detail: `${size - ps} bytes`,
        },
        ps,
        size,
      ),
    );
    if (!zeros)
      ctx.diag(
        "warning",
        "trailing-data",
        `${size - ps} bytes after the end of the stream at ${hex(ps)}`,
        { start: ps, end: size },
        "trailer",
      );
    r.pos = size;
  }
}
