// The "ram" iterative section, version 4 (migration/ram.c, ram_load_precopy).
import type { DecodeContext } from "./context";
import { DecodeError, hex } from "./errors";
import { Reader, text } from "./reader";
import {
  isKind,
  type ByteSource,
  type MappedRamLayout,
  type RamBlockInfo,
  type RamBlockNodeInfo,
  type RamRunNodeInfo,
  type VNode,
} from "./types";

export const RAM_SAVE_FLAG_FULL = 0x01;
export const RAM_SAVE_FLAG_ZERO = 0x02;
export const RAM_SAVE_FLAG_MEM_SIZE = 0x04;
export const RAM_SAVE_FLAG_PAGE = 0x08;
export const RAM_SAVE_FLAG_EOS = 0x10;
export const RAM_SAVE_FLAG_CONTINUE = 0x20;
export const RAM_SAVE_FLAG_XBZRLE = 0x40;
export const RAM_SAVE_FLAG_HOOK = 0x80;
export const RAM_SAVE_FLAG_COMPRESS_PAGE = 0x100;
export const RAM_SAVE_FLAG_MULTIFD_FLUSH = 0x200;
const ENCODING_FLAG_XBZRLE = 0x01;

/** Per-stream RAM facts gathered while decoding (capabilities, page size, current block). */
export interface RamState {
  pageSize: number;
  ignoreShared: boolean;
  mappedRam: boolean;
  /** POSTCOPY_ADVISE seen: blocks with a page size other than the host's carry it in the block list. */
  postcopyAdvised: boolean;
  hostPageSize?: number;
  blocks: RamBlockInfo[];
  /** RAM_SAVE_FLAG_MULTIFD_FLUSH markers and page records seen (multifd: pages elsewhere). */
  multifdFlushes?: number;
  pageRecords?: number;
  current?: string;
}

export type PageKind = "zero" | "page" | "xbzrle" | "compressed" | "mixed";

/** One RAM page record, as re-read from a run's span on demand. */
export interface PageRecord {
  kind: Exclude<PageKind, "mixed">;
  block: string;
  addr: number;
  span: { start: number; end: number };
  /** Page bytes (PAGE), encoded delta (XBZRLE) or zlib data (COMPRESS_PAGE). */
  data: { start: number; end: number };
  fill?: number;
}

const MAX_RUNS_PER_GROUP = 4096;
const TWO_32 = 0x1_0000_0000;

function readRecord(r: Reader, st: RamState, flagsOut: { flags: number; addr: number }): void {
  const [hi, lo] = r.u64parts("RAM record header");
  const mask = st.pageSize - 1;
  flagsOut.flags = lo & mask;
  flagsOut.addr = hi * TWO_32 + (lo - (lo & mask));
}

/** Reads the body of one page record after its be64 header; returns the record. Throws on bad data. */
function readPageBody(r: Reader, st: RamState, flags: number, addr: number, recStart: number): PageRecord {
  const kindFlags = flags & ~(RAM_SAVE_FLAG_CONTINUE | RAM_SAVE_FLAG_MULTIFD_FLUSH);
  if (!(flags & RAM_SAVE_FLAG_CONTINUE)) {
    st.current = text(r.counted("RAM block name"));
  } else if (st.current === undefined) {
    throw new DecodeError(
      "ram-no-block",
      `RAM page at ${hex(recStart)} continues a block, but no block was named before`,
      recStart,
    );
  }
  const block = st.current;
  const bodyStart = r.pos;
  switch (kindFlags) {
    case RAM_SAVE_FLAG_ZERO: {
      const fill = r.u8("zero page fill byte");
      return {
        kind: "zero",
        block,
        addr,
        span: { start: recStart, end: r.pos },
        data: { start: bodyStart, end: r.pos },
        fill,
      };
    }
    case RAM_SAVE_FLAG_PAGE:
      r.skip(st.pageSize, "RAM page");
      return {
        kind: "page",
        block,
        addr,
        span: { start: recStart, end: r.pos },
        data: { start: bodyStart, end: r.pos },
      };
    case RAM_SAVE_FLAG_XBZRLE: {
      const enc = r.u8("XBZRLE encoding flag");
      if (enc !== ENCODING_FLAG_XBZRLE)
        throw new DecodeError(
          "ram-bad-xbzrle",
          `XBZRLE page at ${hex(recStart)} has encoding flag ${hex(enc)}`,
          bodyStart,
        );
      const len = r.u16("XBZRLE length");
      if (len > st.pageSize)
        throw new DecodeError(
          "ram-bad-xbzrle",
          `XBZRLE data of ${len} bytes at ${hex(recStart)} exceeds the page size`,
          bodyStart,
        );
      const ds = r.pos;
      r.skip(len, "XBZRLE data");
      return { kind: "xbzrle", block, addr, span: { start: recStart, end: r.pos }, data: { start: ds, end: r.pos } };
    }
    case RAM_SAVE_FLAG_COMPRESS_PAGE: {
      const len = r.u32("compressed page length");
      // zlib's compressBound(page) is a little over the page size
      if (len > st.pageSize + 1024)
        throw new DecodeError(
          "ram-bad-compressed",
          `compressed page of ${len} bytes at ${hex(recStart)} is larger than a page could compress to`,
          bodyStart,
        );
      const ds = r.pos;
      r.skip(len, "compressed page");
      return {
        kind: "compressed",
        block,
        addr,
        span: { start: recStart, end: r.pos },
        data: { start: ds, end: r.pos },
      };
    }
    default:
      throw new DecodeError("ram-bad-flags", `unknown RAM flags ${hex(flags)} at ${hex(recStart)}`, recStart);
  }
}

const KIND_LABEL: Record<PageKind, string> = {
  zero: "zero pages",
  page: "pages",
  xbzrle: "XBZRLE pages",
  compressed: "compressed pages",
  mixed: "pages (mixed)",
};

/**
 * The info of a RAM "page-run" node (a page-run of block migration carries BlockRunNodeInfo,
 * without pageKind): undefined for any other node.
 */
export function ramRunInfo(n: VNode): RamRunNodeInfo | undefined {
  return isKind(n, "page-run") && typeof n.info?.pageKind === "string" ? (n.info as RamRunNodeInfo) : undefined;
}

function runDetail(info: RamRunNodeInfo): string {
  const { count, pageKind: kind, firstAddr: first, lastAddr: last } = info;
  const label = count === 1 ? KIND_LABEL[kind].replace("pages", "page") : KIND_LABEL[kind];
  return `${count} ${label} @ ${hex(first)}${count > 1 ? `…${hex(last)}` : ""}`;
}

/** Decode a RAM section payload (START, PART or END) up to and including its EOS. */
export function decodeRamPayload(ctx: DecodeContext, r: Reader, st: RamState, parentId: string, into: VNode[]): void {
  const hdr = { flags: 0, addr: 0 };
  let group: VNode | undefined;
  let run: VNode | undefined;
  // the info objects of `group` and `run`, typed (the nodes keep these very objects)
  let groupInfo: RamBlockNodeInfo = { block: "", pages: 0 };
  let runInfo: RamRunNodeInfo | undefined;
  let runs = 0;
  let records = 0;
  for (;;) {
    const recStart = r.pos;
    readRecord(r, st, hdr);
    let { flags } = hdr;
    const { addr } = hdr;
    records++;
    if (flags & RAM_SAVE_FLAG_MEM_SIZE) {
      group = run = undefined;
      decodeRamSetup(ctx, r, st, addr, recStart, `${parentId}/setup`, into);
      flags &= ~RAM_SAVE_FLAG_MEM_SIZE;
      if (flags === 0) continue;
      throw new DecodeError(
        "ram-bad-flags",
        `RAM setup record at ${hex(recStart)} carries extra flags ${hex(flags)}`,
        recStart,
      );
    }
    if (flags & (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_XBZRLE | RAM_SAVE_FLAG_COMPRESS_PAGE)) {
      const rec = readPageBody(r, st, flags, addr, recStart);
      if (!group || group.name !== rec.block) {
        group = ctx.node(
          {
            id: `${parentId}/b${into.length}`,
            kind: "ram-block",
            name: rec.block,
            children: [],
            info: (groupInfo = { block: rec.block, pages: 0 }),
          },
          recStart,
          recStart,
        );
        into.push(group);
        run = runInfo = undefined;
        runs = 0;
      }
      if (run && runInfo && (runInfo.pageKind === rec.kind || runs >= MAX_RUNS_PER_GROUP)) {
        if (runInfo.pageKind !== rec.kind) runInfo.pageKind = "mixed";
        runInfo.count++;
        runInfo.lastAddr = rec.addr;
        run.span.end = rec.span.end;
      } else {
        run = ctx.node(
          {
            id: `${group.id}/r${group.children!.length}`,
            kind: "page-run",
            name: rec.block,
            lazy: "pages",
            info: (runInfo = {
              block: rec.block,
              pageKind: rec.kind,
              count: 1,
              firstAddr: rec.addr,
              lastAddr: rec.addr,
            }),
          },
          recStart,
          rec.span.end,
        );
        group.children!.push(run);
        runs++;
      }
      let pages = 1;
      if (rec.kind === "zero" || rec.kind === "page") {
        // most records continue the same block with the same kind: take them in one tight loop
        const flags = (rec.kind === "zero" ? RAM_SAVE_FLAG_ZERO : RAM_SAVE_FLAG_PAGE) | RAM_SAVE_FLAG_CONTINUE;
        const more = r.sameRecords(flags, st.pageSize - 1, rec.kind === "zero" ? 9 : 8 + st.pageSize);
        if (more) {
          runInfo!.count += more;
          runInfo!.lastAddr = r.lastAddr;
          run!.span.end = r.pos;
          pages += more;
          records += more;
        }
      }
      groupInfo.pages += pages;
      st.pageRecords = (st.pageRecords ?? 0) + pages;
      group.span.end = r.pos;
      continue;
    }
    group = run = runInfo = undefined;
    // ram_load_precopy switches on the whole flag word: each marker stands alone
    switch (flags) {
      case RAM_SAVE_FLAG_HOOK:
        ctx.diag(
          "warning",
          "ram-hook",
          `RAM_SAVE_FLAG_HOOK at ${hex(recStart)}: an RDMA hook cannot occur in a file stream`,
          { start: recStart, end: r.pos },
        );
        into.push(
          ctx.node(
            { id: `${parentId}/hook${records}`, kind: "ram-marker", name: "HOOK", type: "be64", detail: "RDMA hook" },
            recStart,
            r.pos,
          ),
        );
        continue;
      case RAM_SAVE_FLAG_MULTIFD_FLUSH:
        st.multifdFlushes = (st.multifdFlushes ?? 0) + 1;
        into.push(
          ctx.node(
            {
              id: `${parentId}/flush${records}`,
              kind: "ram-marker",
              name: "MULTIFD_FLUSH",
              type: "be64",
              detail: "multifd sync point",
            },
            recStart,
            r.pos,
          ),
        );
        continue;
      case RAM_SAVE_FLAG_EOS:
        into.push(
          ctx.node(
            {
              id: `${parentId}/eos`,
              kind: "ram-marker",
              name: "EOS",
              type: "be64",
              detail: "end of RAM data in this section",
            },
            recStart,
            r.pos,
          ),
        );
        finishDetails(into);
        return;
      default:
        throw new DecodeError(
          "ram-bad-flags",
          `unknown RAM flags ${hex(flags)} at ${hex(recStart)} (addr ${hex(addr)})`,
          recStart,
        );
    }
  }
}

function finishDetails(nodes: VNode[]): void {
  for (const g of nodes) {
    if (g.kind !== "ram-block") continue;
    const runs = g.children ?? [];
    g.detail = `${g.info!.pages} pages in ${runs.length} run${runs.length === 1 ? "" : "s"}`;
    for (const run of runs) {
      const info = ramRunInfo(run);
      if (info) run.detail = runDetail(info);
    }
  }
}

function decodeRamSetup(
  ctx: DecodeContext,
  r: Reader,
  st: RamState,
  total: number,
  recStart: number,
  id: string,
  into: VNode[],
): void {
  const setup = ctx.node(
    {
      id,
      kind: "ram-setup",
      name: "RAM blocks",
      type: "MEM_SIZE",
      detail: `${hex(total)} bytes of RAM`,
      children: [],
      info: { totalBytes: total },
    },
    recStart,
    r.pos,
  );
  into.push(setup);
  const kids = setup.children!;
  kids.push(
    ctx.node(
      {
        id: `${id}/$hdr`,
        kind: "field",
        name: "total | MEM_SIZE",
        type: "uint64",
        detail: `${hex(total)} | RAM_SAVE_FLAG_MEM_SIZE`,
      },
      recStart,
      recStart + 8,
    ),
  );
  let left = total;
  const names = new Set(st.blocks.map((b) => b.name));
  try {
    while (left > 0) {
      const bStart = r.pos;
      const nameBytes = r.counted("RAM block name");
      const name = text(nameBytes);
      const bid = `${id}/${st.blocks.length}`;
      const block = ctx.node({ id: bid, kind: "ram-block", name, children: [] }, bStart, bStart);
      kids.push(block);
      const bk = block.children!;
      bk.push(
        ctx.node(
          {
            id: `${bid}/name`,
            kind: "field",
            name: "idstr",
            type: "counted string",
            value: nameBytes,
            enc: "cstr8",
            detail: name,
            valueSpan: { start: bStart + 1, end: r.pos },
          },
          bStart,
          r.pos,
        ),
      );
      let p = r.pos;
      const used = r.u64("RAM block used_length");
      bk.push(
        ctx.node(
          {
            id: `${bid}/used_length`,
            kind: "field",
            name: "used_length",
            type: "uint64",
            value: used,
            enc: "u64",
            detail: `${hex(Number(used))} (${Number(used)} bytes)`,
            valueSpan: { start: p, end: r.pos },
          },
          p,
          r.pos,
        ),
      );
      const info: RamBlockInfo = { name, usedLength: Number(used) };
      if (st.ignoreShared) {
        p = r.pos;
        const mr = r.u64("RAM block mr_addr");
        info.mrAddr = Number(mr);
        bk.push(
          ctx.node(
            {
              id: `${bid}/mr_addr`,
              kind: "field",
              name: "mr_addr",
              type: "uint64",
              value: mr,
              enc: "u64",
              detail: hex(Number(mr)),
              valueSpan: { start: p, end: r.pos },
            },
            p,
            r.pos,
          ),
        );
      }
      if (st.mappedRam) {
        try {
          decodeMappedRamHeader(ctx, r, st, info, bid, bk);
        } catch (e) {
          // keep the block (and what of its pages can be read) for the tree and ram --extract
          if (info.mapped) st.blocks.push(info);
          block.span.end = Math.max(block.span.end, ...bk.map((k) => k.span.end));
          throw e;
        }
      }
      block.span.end = r.pos;
      block.detail = `${hex(info.usedLength)} bytes${info.mrAddr !== undefined ? ` @ ${hex(info.mrAddr)}` : ""}`;
      if (names.has(name)) {
        // ram_load_precopy looks each name up (qemu_ram_block_by_name): both entries mean the same block
        ctx.diag(
          "error",
          "ram-block-duplicate",
          `RAM block ${JSON.stringify(name)} is declared twice in the block list at ${hex(bStart)}; QEMU looks blocks up by name, so both entries refer to one block`,
          { start: bStart, end: r.pos },
          bid,
        );
      }
      if (!Number.isSafeInteger(info.usedLength)) {
        ctx.diag(
          "error",
          "ram-block-size",
          `RAM block ${JSON.stringify(name)} declares ${hex(info.usedLength)} bytes, beyond any guest's RAM`,
          { start: bStart, end: r.pos },
          bid,
        );
      }
      st.blocks.push(info);
      names.add(name);
      if (info.usedLength > left) {
        ctx.diag(
          "error",
          "ram-block-sizes",
          `RAM block ${name} (${hex(info.usedLength)} bytes) is larger than the ${hex(left)} bytes the setup record has left`,
          { start: bStart, end: r.pos },
          bid,
        );
        left = 0;
      } else left -= info.usedLength;
    }
  } finally {
    setup.span.end = r.pos;
  }
}

const MAPPED_RAM_HDR_VERSION = 1;
const MAPPED_RAM_FILE_OFFSET_ALIGNMENT = 1 << 20;
/** Page runs per mapped-ram block before the rest are shown as "mixed" runs of fixed size. */
const MAX_MAPPED_RUNS = 4096;
/** Pages per mapped-ram run at most (128 MiB of 4 KiB pages), so expanding a run stays cheap. */
const MAX_PAGES_PER_MAPPED_RUN = 32768;
const BITMAP_CHUNK = 1 << 20;

export type { MappedRamLayout };

/**
 * Visits the bitmap of a mapped-ram block, one run of equal bits at a time (runs never longer
 * than `maxRun` pages). The bitmap is QEMU's `unsigned long *file_bmap` written as it sits in
 * memory, so bit order is host-endian: this reads it as little-endian 64-bit words (x86_64,
 * aarch64, ppc64le, riscv64 hosts), which makes page i bit (i % 8) of byte i / 8.
 */
export function visitMappedBitmap(
  src: ByteSource,
  m: Pick<MappedRamLayout, "bitmapOffset" | "pages">,
  visit: (first: number, count: number, present: boolean) => void,
  from = 0,
  to = m.pages,
  maxRun = Infinity,
): void {
  let runStart = from;
  let runBit: boolean | undefined;
  let page = from;
  while (page < to) {
    const byte0 = page >> 3;
    const want = Math.min(BITMAP_CHUNK, Math.ceil(to / 8) - byte0);
    const b = src.read(m.bitmapOffset + byte0, want);
    if (b.length < want)
      throw new DecodeError(
        "truncated",
        `mapped-ram bitmap at ${hex(m.bitmapOffset + byte0)} is cut short`,
        m.bitmapOffset + byte0,
        want,
        b.length,
      );
    const chunkEnd = Math.min(to, (byte0 + b.length) * 8);
    for (; page < chunkEnd; page++) {
      const bit = ((b[(page >> 3) - byte0]! >> (page & 7)) & 1) === 1;
      if (runBit === undefined) {
        runBit = bit;
        runStart = page;
      } else if (bit !== runBit || page - runStart >= maxRun) {
        visit(runStart, page - runStart, runBit);
        runBit = bit;
        runStart = page;
      }
    }
  }
  if (runBit !== undefined && page > runStart) visit(runStart, page - runStart, runBit);
}

/**
 * mapped-ram (QEMU >= 9.0, migration/ram.c mapped_ram_setup_ramblock): a packed header
 * { be32 version; be64 page_size; be64 bitmap_offset; be64 pages_offset } after the block's
 * used_length (and mr_addr), then, at bitmap_offset, a bitmap of the pages present and, at
 * pages_offset (1 MiB aligned), every page at pages_offset + index * page_size. Pages whose bit is
 * clear (zero pages) are not written: the file has a hole there and the destination keeps them
 * zero. The stream goes on at pages_offset + used_length. multifd + mapped-ram writes the same
 * layout (the channel threads pwrite the pages).
 */
function decodeMappedRamHeader(
  ctx: DecodeContext,
  r: Reader,
  st: RamState,
  info: RamBlockInfo,
  bid: string,
  into: VNode[],
): void {
  const hs = r.pos;
  const version = r.u32("mapped-ram header version");
  const pageSize = r.u64n("mapped-ram page size");
  const bitmapOffset = r.u64n("mapped-ram bitmap offset");
  const pagesOffset = r.u64n("mapped-ram pages offset");
  const he = r.pos;
  const hdr = ctx.node(
    {
      id: `${bid}/mapped_ram`,
      kind: "struct",
      name: "MappedRamHeader",
      type: "mapped-ram",
      children: [],
      detail: `bitmap @ ${hex(bitmapOffset)}, pages @ ${hex(pagesOffset)}`,
    },
    hs,
    he,
  );
  into.push(hdr);
  const leaf = (name: string, enc: "u32" | "u64", value: number | bigint, s: number, e: number) =>
    hdr.children!.push(
      ctx.node(
        {
          id: `${bid}/mapped_ram/${name}`,
          kind: "field",
          name,
          type: enc === "u32" ? "uint32" : "uint64",
          value,
          enc,
          detail: typeof value === "bigint" ? hex(Number(value)) : String(value),
          valueSpan: { start: s, end: e },
        },
        s,
        e,
      ),
    );
  leaf("version", "u32", version, hs, hs + 4);
  leaf("page_size", "u64", BigInt(pageSize), hs + 4, hs + 12);
  leaf("bitmap_offset", "u64", BigInt(bitmapOffset), hs + 12, hs + 20);
  leaf("pages_offset", "u64", BigInt(pagesOffset), hs + 20, hs + 28);
  if (version !== MAPPED_RAM_HDR_VERSION)
    throw new DecodeError(
      "ram-mapped",
      `MappedRamHeader at ${hex(hs)} has version ${version}, expected ${MAPPED_RAM_HDR_VERSION}`,
      hs,
    );
  if (pageSize !== st.pageSize)
    throw new DecodeError(
      "ram-mapped",
      `MappedRamHeader at ${hex(hs)} has page size ${pageSize}, the stream uses ${st.pageSize}`,
      hs,
    );
  if (bitmapOffset === 0 && pagesOffset === 0 && st.ignoreShared) return; // a shared block: no data in the file
  const pages = Math.ceil(info.usedLength / st.pageSize);
  const bitmapSize = Math.ceil(pages / 64) * 8;
  if (
    bitmapOffset !== he ||
    pagesOffset < bitmapOffset + bitmapSize ||
    pagesOffset % MAPPED_RAM_FILE_OFFSET_ALIGNMENT !== 0
  ) {
    throw new DecodeError(
      "ram-mapped",
      `MappedRamHeader at ${hex(hs)}: bitmap at ${hex(bitmapOffset)} and pages at ${hex(pagesOffset)} do not follow the header as QEMU lays them out`,
      hs,
    );
  }
  if (bitmapOffset + bitmapSize > r.limit)
    throw new DecodeError(
      "truncated",
      `mapped-ram bitmap of block ${info.name} (${bitmapSize} bytes at ${hex(bitmapOffset)}) runs past the end of the stream`,
      bitmapOffset,
      bitmapSize,
      r.limit - bitmapOffset,
    );
  const end = pagesOffset + info.usedLength;
  const layout: MappedRamLayout = { bitmapOffset, bitmapSize, pagesOffset, pages, present: 0, unreadable: 0 };
  info.mapped = layout;
  into.push(
    ctx.node(
      {
        id: `${bid}/bitmap`,
        kind: "field",
        name: "bitmap",
        type: "bitmap",
        detail: `${pages} pages, ${bitmapSize} bytes`,
        valueSpan: { start: bitmapOffset, end: bitmapOffset + bitmapSize },
      },
      bitmapOffset,
      bitmapOffset + bitmapSize,
    ),
    ctx.node(
      {
        id: `${bid}/align`,
        kind: "padding",
        name: "alignment",
        detail: `${pagesOffset - bitmapOffset - bitmapSize} bytes`,
      },
      bitmapOffset + bitmapSize,
      pagesOffset,
    ),
  );
  const fileEnd = r.limit;
  const pagesNode = ctx.node(
    {
      id: `${bid}/pages`,
      kind: "ram-block",
      name: "pages",
      type: "mapped pages",
      children: [],
      info: { block: info.name, pages: 0 },
    },
    pagesOffset,
    Math.min(end, fileEnd),
  );
  into.push(pagesNode);
  const runs = pagesNode.children!;
  const ps = st.pageSize;
  let firstUnreadable = -1;
  const addRun = (first: number, count: number, kind: "page" | "zero" | "mixed") => {
    const s = pagesOffset + first * ps;
    const e = Math.min(s + count * ps, pagesOffset + info.usedLength, fileEnd);
    if (s >= fileEnd) return;
    const runInfo: RamRunNodeInfo = {
      block: info.name,
      pageKind: kind,
      count,
      firstAddr: first * ps,
      lastAddr: (first + count - 1) * ps,
      mapped: true,
      firstPage: first,
      bitmapOffset,
    };
    const run = ctx.node(
      { id: `${pagesNode.id}/r${runs.length}`, kind: "page-run", name: info.name, lazy: "mapped-pages", info: runInfo },
      s,
      e,
    );
    run.detail = `${runDetail(runInfo)}${kind === "zero" ? " (not written: bitmap bit clear)" : ""} · file ${hex(s)}`;
    if (kind !== "zero") run.valueSpan = { start: s, end: e };
    runs.push(run);
  };
  let mixedFrom = -1;
  visitMappedBitmap(
    ctx.src,
    layout,
    (first, count, present) => {
      if (present) {
        layout.present += count;
        const lastByte = pagesOffset + (first + count) * ps;
        if (lastByte > fileEnd) {
          const bad = Math.min(count, Math.ceil((lastByte - fileEnd) / ps));
          layout.unreadable += bad;
          if (firstUnreadable < 0) firstUnreadable = first + count - bad;
        }
      }
      if (mixedFrom >= 0) return;
      if (runs.length >= MAX_MAPPED_RUNS) {
        mixedFrom = first;
        return;
      }
      addRun(first, count, present ? "page" : "zero");
    },
    0,
    pages,
    MAX_PAGES_PER_MAPPED_RUN,
  );
  if (mixedFrom >= 0) {
    // too fragmented to show run by run: fixed-size runs whose pages say which are present
    for (let p = mixedFrom; p < pages; p += MAX_PAGES_PER_MAPPED_RUN)
      addRun(p, Math.min(MAX_PAGES_PER_MAPPED_RUN, pages - p), "mixed");
  }
  pagesNode.info!.pages = layout.present;
  pagesNode.detail = `${layout.present} of ${pages} pages in the file at ${hex(pagesOffset)} (${pages - layout.present} zero pages not written) in ${runs.length} run${runs.length === 1 ? "" : "s"}`;
  if (layout.unreadable) {
    ctx.diag(
      "error",
      "ram-mapped-unreadable",
      `${layout.unreadable} page${layout.unreadable === 1 ? "" : "s"} of RAM block ${info.name} marked present in its bitmap lie past the end of the file (first: page ${hex(firstUnreadable * ps)} at file offset ${hex(pagesOffset + firstUnreadable * ps)}, the file ends at ${hex(fileEnd)}): they cannot be read`,
      { start: Math.min(pagesOffset + firstUnreadable * ps, fileEnd), end: fileEnd },
      pagesNode.id,
    );
  }
  if (end > r.limit)
    throw new DecodeError(
      "truncated",
      `mapped-ram pages of block ${info.name} end at ${hex(end)}, past the end of the stream`,
      pagesOffset,
      info.usedLength,
      r.limit - pagesOffset,
    );
  r.pos = end;
}

/** The pages of a mapped-ram run: present ones select their bytes at their fixed file offset. */
export function expandMappedRun(src: ByteSource, run: VNode, pageSize: number): VNode[] {
  const info = ramRunInfo(run);
  if (!info?.mapped || info.firstPage === undefined || info.bitmapOffset === undefined)
    throw new DecodeError("ram-not-mapped-run", `${run.id} is not a mapped-ram page run`, run.span.start);
  const { firstPage: first, count, block, bitmapOffset } = info;
  const pagesOffset = run.span.start - first * pageSize;
  const out: VNode[] = [];
  const emit = (p: number, present: boolean) => {
    const s = pagesOffset + p * pageSize;
    if (s >= run.span.end) return;
    const span = { start: s, end: Math.min(s + pageSize, run.span.end) };
    out.push({
      id: `${run.id}/p${out.length}`,
      kind: "page",
      name: hex(p * pageSize),
      detail: present ? `page data · file ${hex(s)}` : "zero page (not written: bitmap bit clear)",
      span,
      ...(present ? { valueSpan: span } : {}),
      type: present ? "page" : "zero",
      info: { block, addr: p * pageSize, pageKind: present ? "page" : "zero", mapped: true },
    });
  };
  if (info.pageKind === "mixed") {
    visitMappedBitmap(
      src,
      { bitmapOffset, pages: first + count },
      (f, n, present) => {
        for (let p = f; p < f + n; p++) emit(p, present);
      },
      first,
      first + count,
    );
  } else {
    for (let p = first; p < first + count; p++) emit(p, info.pageKind === "page");
  }
  return out;
}

/** The individual page records of a page run, re-read from the source on demand. */
export function readPageRun(src: ByteSource, run: VNode, pageSize: number, visit: (rec: PageRecord) => void): void {
  const r = new Reader(src, run.span.start, run.span.end);
  const st: RamState = {
    pageSize,
    ignoreShared: false,
    mappedRam: false,
    postcopyAdvised: false,
    blocks: [],
    current: ramRunInfo(run)?.block ?? "",
  };
  const hdr = { flags: 0, addr: 0 };
  while (!r.atEnd()) {
    const recStart = r.pos;
    readRecord(r, st, hdr);
    visit(readPageBody(r, st, hdr.flags, hdr.addr, recStart));
  }
}

/** Child nodes of a page run: one per page record. */
export function expandPageRun(src: ByteSource, run: VNode, pageSize: number): VNode[] {
  const out: VNode[] = [];
  readPageRun(src, run, pageSize, (rec) => {
    const detail =
      rec.kind === "zero"
        ? `zero page (fill ${hex(rec.fill ?? 0)})`
        : rec.kind === "page"
          ? "page data"
          : rec.kind === "xbzrle"
            ? `XBZRLE delta, ${rec.data.end - rec.data.start} bytes`
            : `zlib, ${rec.data.end - rec.data.start} bytes`;
    out.push({
      id: `${run.id}/p${out.length}`,
      kind: "page",
      name: hex(rec.addr),
      detail,
      span: rec.span,
      valueSpan: rec.data,
      type: rec.kind,
      info: { block: rec.block, addr: rec.addr, pageKind: rec.kind },
    });
  });
  return out;
}
