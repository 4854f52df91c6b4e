// Decoding a whole stream: the header and the vmdesc first (header.ts), then the record loop
// (records.ts, with commands.ts and the resync heuristics of resync.ts), then what follows the
// final EOF (trailer.ts). The state they share is a StreamState (streamState.ts). Every node has
// a span; top-level nodes tile the file (fillGaps).
import type { DecodeContext } from "./context";
import { DecodeError } from "./errors";
import { findVmdesc, readHeader } from "./header";
import { readRecords } from "./records";
import { StreamState } from "./streamState";
import { readTrailer } from "./trailer";
import type { ByteSource, DecodedStream, VNode } from "./types";

/**
 * `onRoot`: called with the root node as decoding starts; its children fill in record by record
 * (the last one may still be in progress), so the editor can show the tree as it grows.
 * `readAhead: false`: the source must not add a thread of its own (ByteSource.scan), because the
 * other core is taken: by a second decode (vmstate diff: two decodes with a read-ahead helper each
 * are four busy threads, slower on two cores than two) or by the workbench (the editor's workers).
 */
export function decodeStream(
  src: ByteSource,
  opts?: { onRoot?: (root: VNode) => void; readAhead?: boolean },
): DecodedStream {
  const st = new StreamState(src);
  const ctx = st.ctx;
  const root = ctx.node({ id: "stream", kind: "stream", name: "stream", children: [] }, 0, src.size);
  opts?.onRoot?.(root);
  const top = root.children!;
  const r = ctx.reader(0, src.size, opts?.readAhead !== false);
  try {
    if (readHeader(st, r, top)) {
      findVmdesc(st);
      readRecords(st, r, top, "", st.dataEnd, true);
      readTrailer(st, r, top);
    }
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    ctx.diag("error", e.code, e.message, e.span);
  } finally {
    r.close();
  }
  if (st.heuristicSections) {
    ctx.diag(
      "warning",
      "heuristic-sections",
      `${st.heuristicSections} section${st.heuristicSections === 1 ? "" : "s"} without a vmdesc entry or footer: each one's end was found by a heuristic (the next plausible section header), so their boundaries are a best guess`,
      { start: 0, end: 0 },
    );
  }
  multifdNote(st);
  fillGaps(ctx, root);
  ctx.summarizeDropped();
  return result(st, root);
}

/**
 * multifd over a socket: the main channel (this stream) carries the RAM block list and
 * RAM_SAVE_FLAG_MULTIFD_FLUSH sync points; the pages travel as MultiFD packets on
 * multifd-channels other connections. (With mapped-ram the channels write into this file.)
 */
function multifdNote(st: StreamState): void {
  const flushes = st.ram.multifdFlushes ?? 0;
  if (!flushes || st.ram.mappedRam) return;
  const pages = st.ram.pageRecords ?? 0;
  const ramBlocks = st.ram.blocks.length;
  st.ctx.diag(
    "warning",
    "multifd-pages-elsewhere",
    `multifd: this is the main channel of a multifd migration (${flushes} MULTIFD_FLUSH sync point${flushes === 1 ? "" : "s"}, ${pages} page record${pages === 1 ? "" : "s"} for ${ramBlocks} RAM blocks): the guest's RAM pages went over the other multifd channels (separate connections, MultiFD packets) and are not in this file`,
    { start: 0, end: 0 },
  );
}

function result(st: StreamState, root: VNode): DecodedStream {
  const out: DecodedStream = {
    size: st.src.size,
    root,
    diagnostics: st.ctx.diagnostics,
    sections: st.sections,
    helpers: st.helpers,
    commands: st.commands,
    ramBlocks: st.ram.blocks,
    pageSize: st.ram.pageSize,
    capabilities: st.capabilities,
  };
  if (st.vmdesc) out.vmdesc = st.vmdesc;
  if (st.vmdescText !== undefined) out.vmdescText = st.vmdescText;
  if (st.vmdescLoc) out.vmdescSpan = { start: st.vmdescLoc.recordOffset, end: st.vmdescLoc.jsonEnd };
  if (st.machineType !== undefined) out.machineType = st.machineType;
  return out;
}

/** Top-level nodes tile the file: bytes no record explains become "unparsed" nodes. */
function fillGaps(ctx: DecodeContext, root: VNode): void {
  const kids = root.children!;
  const out: VNode[] = [];
  let pos = 0;
  for (const k of kids) {
    if (k.span.start > pos)
      out.push(
        ctx.node(
          { id: `gap@${pos}`, kind: "unparsed", name: "unparsed", detail: `${k.span.start - pos} bytes` },
          pos,
          k.span.start,
        ),
      );
    out.push(k);
    pos = Math.max(pos, k.span.end);
  }
  if (pos < root.span.end)
    out.push(
      ctx.node(
        { id: `gap@${pos}`, kind: "unparsed", name: "unparsed", detail: `${root.span.end - pos} bytes` },
        pos,
        root.span.end,
      ),
    );
  root.children = out;
}
