// Iterative sections other than RAM whose formats QEMU's analyzer knows or crashes on.
import type { DecodeContext } from "./context";
import { DecodeError, hex } from "./errors";
import { text, type Reader } from "./reader";
import type { BlockRunNodeInfo, VNode } from "./types";

// migration/block.c (legacy block migration, `migrate -b`)
const BLK_MIG_FLAG_DEVICE_BLOCK = 0x01;
const BLK_MIG_FLAG_EOS = 0x02;
const BLK_MIG_FLAG_PROGRESS = 0x04;
const BLK_MIG_FLAG_ZERO_BLOCK = 0x08;
const BLK_MIG_BLOCK_SIZE = 1 << 20;
const BDRV_SECTOR_BITS = 9;

export function decodeBlockPayload(ctx: DecodeContext, r: Reader, parentId: string, into: VNode[]): void {
  let run: VNode | undefined;
  /** run's info, typed (a block run's, not a RAM run's) */
  let runInfo: BlockRunNodeInfo | undefined;
  for (let n = 0; ; n++) {
    const start = r.pos;
    const [hi, lo] = r.u64parts("block record header");
    const flags = lo & ((1 << BDRV_SECTOR_BITS) - 1);
    const addr = hi * 0x1_0000_0000 + (lo - flags);
    if (flags & BLK_MIG_FLAG_DEVICE_BLOCK) {
      const dev = text(r.counted("block device name"));
      const zero = (flags & BLK_MIG_FLAG_ZERO_BLOCK) !== 0;
      const ds = r.pos;
      if (!zero) r.skip(BLK_MIG_BLOCK_SIZE, "block data");
      const kind = zero ? "zero" : "data";
      if (run && runInfo && runInfo.device === dev && runInfo.blockKind === kind) {
        runInfo.count++;
        runInfo.lastSector = addr >>> 0 === addr ? addr / 512 : Math.floor(addr / 512);
        run.span.end = r.pos;
        run.detail = `${runInfo.count} ${kind === "zero" ? "zero " : ""}blocks of 1 MiB from sector ${runInfo.firstSector}`;
      } else {
        runInfo = { device: dev, blockKind: kind, count: 1, firstSector: addr / 512, lastSector: addr / 512 };
        run = ctx.from(r, start, {
          id: `${parentId}/b${n}`,
          kind: "page-run",
          name: dev,
          type: "block",
          detail: `1 ${zero ? "zero " : ""}block of 1 MiB at sector ${addr / 512}`,
          info: runInfo,
        });
        if (!zero) run.valueSpan = { start: ds, end: r.pos };
        into.push(run);
      }
      continue;
    }
    run = undefined;
    if (flags & BLK_MIG_FLAG_PROGRESS) {
      into.push(
        ctx.from(r, start, {
          id: `${parentId}/p${n}`,
          kind: "ram-marker",
          name: "PROGRESS",
          type: "be64",
          detail: `${addr >> BDRV_SECTOR_BITS}%`,
        }),
      );
      continue;
    }
    if (flags & BLK_MIG_FLAG_EOS) {
      into.push(
        ctx.from(r, start, {
          id: `${parentId}/eos`,
          kind: "ram-marker",
          name: "EOS",
          type: "be64",
          detail: "end of block data in this section",
        }),
      );
      return;
    }
    throw new DecodeError("block-bad-flags", `unknown block migration flags ${hex(flags)} at ${hex(start)}`, start);
  }
}

// hw/ppc/spapr.c htab_save_*: be32 header; chunks of be32 index, be16 n_valid, be16 n_invalid
export function decodeHtabPayload(ctx: DecodeContext, r: Reader, parentId: string, into: VNode[]): void {
  // signed: -1 (0xffffffff) is "no HPT"; any other non-zero value a hash shift, read unsigned
  const header = ctx.intField(r, into, {
    id: `${parentId}/header`,
    name: "header",
    enc: "i32",
    what: "HTAB header",
    detail: (h) => (h === -1 ? "no HPT" : h !== 0 ? `hash shift ${h >>> 0}` : "chunks follow"),
  });
  if (header !== 0) return;
  for (let n = 0; ; n++) {
    const cs = r.pos;
    const index = r.u32("HTAB index");
    const nValid = r.u16("HTAB n_valid");
    const nInvalid = r.u16("HTAB n_invalid");
    if (index === 0 && nValid === 0 && nInvalid === 0) {
      into.push(
        ctx.from(r, cs, {
          id: `${parentId}/end`,
          kind: "ram-marker",
          name: "end",
          type: "htab",
          detail: "end of HTAB chunks",
        }),
      );
      return;
    }
    r.skip(nValid * 16, "HTAB entries");
    into.push(
      ctx.from(r, cs, {
        id: `${parentId}/c${n}`,
        kind: "field",
        name: `chunk ${n}`,
        type: "htab chunk",
        detail: `index ${index}, ${nValid} valid, ${nInvalid} invalid`,
      }),
    );
  }
}

// hw/s390x/s390-stattrib.c
const STATTR_FLAG_EOS = 0x01;
const STATTR_FLAG_MORE = 0x02;
const STATTR_FLAG_ERROR = 0x04;
const STATTR_FLAG_DONE = 0x08;

export function decodeS390Payload(ctx: DecodeContext, r: Reader, parentId: string, into: VNode[]): void {
  let doneAt = -1;
  for (let n = 0; ; n++) {
    const start = r.pos;
    if (doneAt >= 0 && r.remaining < 8) return;
    const [, lo] = r.u64parts("storage attribute header");
    const flags = lo & 0xfff;
    if (flags & STATTR_FLAG_DONE) {
      into.push(ctx.from(r, start, { id: `${parentId}/d${n}`, kind: "ram-marker", name: "DONE", type: "be64" }));
      doneAt = r.pos;
      continue;
    }
    if (flags & STATTR_FLAG_EOS) {
      into.push(ctx.from(r, start, { id: `${parentId}/eos`, kind: "ram-marker", name: "EOS", type: "be64" }));
      return;
    }
    if (!(flags & STATTR_FLAG_MORE)) {
      if (doneAt >= 0) {
        // the next record is not ours: rewind (as QEMU's loader does)
        r.pos = doneAt;
        into.pop();
        into.push(
          ctx.node({ id: `${parentId}/d${n}`, kind: "ram-marker", name: "DONE", type: "be64" }, doneAt - 8, doneAt),
        );
        return;
      }
      throw new DecodeError("s390-bad-flags", `unknown storage attribute flags ${hex(flags)} at ${hex(start)}`, start);
    }
    if (flags & STATTR_FLAG_ERROR)
      throw new DecodeError("s390-error", `storage attributes at ${hex(start)} carry the error flag`, start);
    const count = r.u64n("storage attribute count");
    r.skip(count, "storage attributes");
    into.push(
      ctx.from(r, start, {
        id: `${parentId}/m${n}`,
        kind: "field",
        name: `attributes ${n}`,
        type: "s390 stattr",
        detail: `${count} bytes`,
      }),
    );
  }
}
