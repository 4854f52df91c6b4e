// The dbus-vmstate payload (backends/dbus-vmstate.c): be32 count, then per helper
// be32 id_len, Id, be32 size, blob; QEMU's data_size is the allocated buffer, so zeros follow.
import type { DecodeContext } from "./context";
import { DecodeError, hex } from "./errors";
import { isUtf8, text, type Reader } from "./reader";
import type { HelperInfo, VNode } from "./types";

// QEMU's limits for helpers, defined here once for the decoder, the edit model, the editor and
// the bus explorer (src/bus/rules.ts): backends/dbus-vmstate.c DBUS_VMSTATE_SIZE_LIMIT (a bigger
// blob is dropped on save, "Invalid vmstate size" on load) and dbus_get_proxies' Id check ("VMState
// Id '%s' is invalid." above 255 bytes, an empty Id rejected too).
export const DBUS_VMSTATE_SIZE_LIMIT = 1024 * 1024;
export const DBUS_VMSTATE_ID_MAX = 255;

/** Replace the raw `data` node of a dbus-vmstate section by its parsed helper entries. */
export function decodeDbusData(ctx: DecodeContext, r: Reader, data: VNode, helpers: HelperInfo[]): void {
  const end = data.span.end;
  data.kind = "dbus-data";
  data.children = [];
  const kids = data.children;
  const id = data.id;
  const start = r.pos;
  if (end - start < 4) {
    ctx.diag(
      "error",
      "dbus-short",
      `dbus-vmstate data at ${hex(start)} is ${end - start} bytes, too short for the helper count`,
      data.span,
      id,
    );
    return;
  }
  const count = ctx.intField(r, kids, { id: `${id}/$count`, name: "count", enc: "u32", what: "helper count" });
  const seen = new Map<string, string>();
  let found = 0;
  for (let i = 0; i < count; i++) {
    const eStart = r.pos;
    if (r.remaining < 4 || isZeros(r, Math.min(r.remaining, 8))) {
      // QEMU writes the count before calling the helpers and skips those whose Save fails
      ctx.diag(
        "error",
        "dbus-count-mismatch",
        `dbus-vmstate declares ${count} helpers but only ${found} entries are present (at ${hex(eStart)}); QEMU's destination will fail with "Failed to find proxy Id ''"`,
        { start, end: start + 4 },
        `${id}/$count`,
      );
      break;
    }
    const hid = `${id}/h${i}`;
    const entry = ctx.node({ id: hid, kind: "helper", name: "", children: [] }, eStart, eStart);
    kids.push(entry);
    try {
      const idLen = r.u32("helper Id length");
      if (idLen > r.remaining)
        throw new DecodeError(
          "truncated",
          `helper Id length ${idLen} at ${hex(eStart)} runs past the data (${r.remaining} bytes left)`,
          eStart,
          idLen,
          r.remaining,
        );
      const idBytes = r.bytes(idLen, "helper Id");
      const name = text(idBytes);
      entry.name = name;
      entry.children!.push(
        ctx.leaf(
          r,
          eStart,
          {
            id: `${hid}/id`,
            kind: "field",
            name: "Id",
            type: "be32-counted string",
            value: idBytes,
            enc: "cstr32",
            detail: JSON.stringify(name),
          },
          eStart + 4,
        ),
      );
      const size = ctx.intField(r, entry.children!, {
        id: `${hid}/size`,
        name: "size",
        enc: "u32",
        what: "helper blob size",
        detail: (n) => `${n} bytes`,
      });
      if (size > r.remaining)
        throw new DecodeError(
          "truncated",
          `helper ${JSON.stringify(name)} blob of ${size} bytes at ${hex(r.pos)} runs past the data (${r.remaining} bytes left)`,
          r.pos,
          size,
          r.remaining,
        );
      const bStart = r.pos;
      r.skip(size);
      entry.children!.push(
        ctx.leaf(r, bStart, {
          id: `${hid}/blob`,
          kind: "field",
          name: "blob",
          type: "buffer",
          detail: `${size} bytes`,
        }),
      );
      entry.span.end = r.pos;
      entry.detail = `${size} bytes`;
      entry.info = { helperId: name, size, blobStart: bStart, blobEnd: r.pos };
      helpers.push({
        id: name,
        idBytes,
        size,
        blob: { start: bStart, end: r.pos },
        entry: { start: eStart, end: r.pos },
        nodeId: hid,
      });
      found++;
      checkHelper(ctx, name, idBytes, size, entry, seen);
    } catch (e) {
      entry.incomplete = true;
      entry.span.end = Math.max(entry.span.end, r.pos);
      throw e;
    }
  }
  if (r.pos < end) {
    const pStart = r.pos;
    const nonZero = firstNonZero(r, end);
    kids.push(
      ctx.node(
        {
          id: `${id}/$padding`,
          kind: "padding",
          name: "padding",
          detail: `${end - pStart} bytes${nonZero < 0 ? " of zeros" : ""}`,
        },
        pStart,
        end,
      ),
    );
    if (nonZero >= 0) {
      ctx.diag(
        "warning",
        "dbus-padding-nonzero",
        `non-zero byte in the dbus-vmstate padding at ${hex(nonZero)} (QEMU pads with zeros; the loader ignores it)`,
        { start: nonZero, end: nonZero + 1 },
        `${id}/$padding`,
      );
    }
    r.pos = end;
  }
  data.detail = `${found} helper${found === 1 ? "" : "s"}, ${end - start} bytes`;
}

function checkHelper(
  ctx: DecodeContext,
  name: string,
  idBytes: Uint8Array,
  size: number,
  entry: VNode,
  seen: Map<string, string>,
): void {
  const span = entry.span;
  const label = JSON.stringify(name);
  if (idBytes.length === 0)
    ctx.diag("error", "dbus-id-empty", `helper at ${hex(span.start)} has an empty Id; QEMU rejects it`, span, entry.id);
  if (idBytes.length > DBUS_VMSTATE_ID_MAX)
    ctx.diag(
      "error",
      "dbus-id-too-long",
      `helper Id ${label} is ${idBytes.length} bytes; QEMU accepts at most ${DBUS_VMSTATE_ID_MAX}`,
      span,
      entry.id,
    );
  if (!isUtf8(idBytes))
    ctx.diag("warning", "dbus-id-not-utf8", `helper Id at ${hex(span.start)} is not valid UTF-8`, span, entry.id);
  const key = Array.from(idBytes).join(",");
  const prev = seen.get(key);
  if (prev !== undefined)
    ctx.diag(
      "error",
      "dbus-id-duplicate",
      `helper Id ${label} appears twice (also ${prev}); QEMU requires unique Ids`,
      span,
      entry.id,
    );
  else seen.set(key, entry.id);
  if (size > DBUS_VMSTATE_SIZE_LIMIT)
    ctx.diag(
      "error",
      "dbus-blob-too-large",
      `helper ${label} blob is ${size} bytes; QEMU loads at most ${DBUS_VMSTATE_SIZE_LIMIT}`,
      span,
      entry.id,
    );
  if (size === 0)
    ctx.diag(
      "warning",
      "dbus-blob-empty",
      `helper ${label} blob is empty; QEMU cannot migrate an empty blob`,
      span,
      entry.id,
    );
}

function isZeros(r: Reader, n: number): boolean {
  const b = r.src.read(r.pos, n);
  return b.length === n && b.every((x) => x === 0);
}

function firstNonZero(r: Reader, end: number): number {
  for (let p = r.pos; p < end; p += 65536) {
    const b = r.src.read(p, Math.min(65536, end - p));
    const i = b.findIndex((x) => x !== 0);
    if (i >= 0) return p + i;
  }
  return -1;
}
