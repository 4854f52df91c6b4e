// Incremental re-decoding after an edit: only the top-level record (section) the edit touched is
// decoded again, and the records after it are shifted by the change in length. Pure, no fs.
//
// How: the real decoder runs over a small synthetic stream made of the original's header, its
// configuration record, the edited section, an EOF byte and the vmdesc record (the decoder needs
// the vmdesc to lay out device sections). The section it decodes there is mapped back (offsets
// and the positional record id `rN`). Anything the synthetic decode cannot reproduce exactly
// (iterative RAM/block sections that depend on earlier records, a device whose vmdesc entry is
// matched by occurrence, gaps, heuristics, diagnostics outside the section) makes `redecodeRecord`
// return undefined and the caller decodes the whole stream instead: never a guess.
// test/unit/incremental.test.ts checks the result against a full decode, node by node.

import { decodeStream } from "../format/decode";
import type { Chunk } from "../format/encode";
import type { ByteSource, DecodedStream, Diagnostic, Span, VNode } from "../format/types";
import type { Edit } from "./edits";
import { locateVmdesc, type VmdescLocation } from "../format/vmdesc";
import { ChunkSource } from "./chunkSource";

/** The index (in root.children) of the top-level record an edit changes, when there is one. */
export function recordOf(d: DecodedStream, e: Edit): number | undefined {
  const top = d.root.children ?? [];
  if (e.type === "field-set" || e.type === "bytes-set") {
    const first = e.nodeId.split("/")[0]!;
    const i = top.findIndex((n) => n.id === first);
    return i >= 0 ? i : undefined;
  }
  // helper edits: the record holding the dbus-vmstate data
  for (let i = 0; i < top.length; i++) {
    const stack: VNode[] = [top[i]!];
    while (stack.length) {
      const n = stack.pop()!;
      if (n.kind === "dbus-data") return i;
      if (n.children) for (const c of n.children) stack.push(c);
    }
  }
  return undefined;
}

/** The top-level record `k` and what is around it, restricted so an edit's encoder only walks it. */
export function pruneTo(d: DecodedStream, k: number): DecodedStream {
  const rec = d.root.children![k]!;
  const under = (id: string) => id === rec.id || id.startsWith(rec.id + "/");
  // a helper edit that changes the data size also updates the vmdesc record (edits.ts)
  const vmdesc = d.root.children!.filter((n, i) => i > k && n.kind === "vmdesc");
  return { ...d, root: { ...d.root, children: [rec, ...vmdesc] }, helpers: d.helpers.filter((h) => under(h.nodeId)) };
}

const CHECKED_LATER_KINDS = new Set(["section", "eof", "vmdesc", "padding", "unparsed"]);

/**
 * `old` decoded from the stream before the edit; `src` the stream after it, where record `k`
 * (same start) and possibly the vmdesc changed. Returns the decoded edited stream, or undefined
 * when only a full decode can be trusted.
 */
export function redecodeRecord(old: DecodedStream, src: ByteSource, k: number): DecodedStream | undefined {
  const top = old.root.children ?? [];
  // the vmdesc may have changed length too (a helper edit updates the dbus-vmstate data size in it)
  let loc: VmdescLocation | undefined;
  let dv = 0;
  if (old.vmdescSpan) {
    loc = locateVmdesc(src);
    if (!loc) return undefined;
    dv = loc.jsonEnd - loc.recordOffset - (old.vmdescSpan.end - old.vmdescSpan.start);
    if (src.size - loc.jsonEnd !== old.size - old.vmdescSpan.end) return undefined;
  }
  const total = src.size - old.size;
  const delta = total - dv;
  const rec = top[k];
  if (!rec || rec.kind !== "section" || rec.id !== `r${k}` || rec.incomplete) return undefined;
  // a FULL section of a device seen once (vmdesc entries are matched by occurrence)
  const info = old.sections.find((s) => s.nodeId === rec.id);
  if (!info || info.kind !== "full") return undefined;
  if (old.sections.some((s) => s !== info && s.name === info.name && s.instanceId === info.instanceId))
    return undefined;
  if (top[0]?.kind !== "header" || top[0].span.end !== 8) return undefined;
  const cfg = top.slice(1, k).find((n) => n.kind === "configuration");
  if (top.slice(1, k).some((n) => n.kind === "unparsed" || n.incomplete)) return undefined;
  for (const n of top.slice(k + 1)) {
    if (!CHECKED_LATER_KINDS.has(n.kind) || n.lazy) return undefined;
    if (delta !== 0 && (n.id.startsWith("gap@") || n.id === "trailer")) return undefined;
  }
  if (rec.span.end + delta < rec.span.start) return undefined;

  // the synthetic stream: header, configuration, the section, EOF, vmdesc
  const recSpan: Span = { start: rec.span.start, end: rec.span.end + delta };
  const chunks: Chunk[] = [{ copy: { start: 0, end: 8 } }];
  if (cfg) chunks.push({ copy: { ...cfg.span } });
  const S = 8 + (cfg ? cfg.span.end - cfg.span.start : 0);
  chunks.push({ copy: recSpan }, { bytes: Uint8Array.of(0) });
  if (loc) chunks.push({ copy: { start: loc.recordOffset, end: loc.jsonEnd } });
  const synth = decodeStream(new ChunkSource(src, chunks));
  const sTop = synth.root.children ?? [];
  const si = cfg ? 2 : 1;
  const sec = sTop[si];
  const len = recSpan.end - recSpan.start;
  if (
    !sec ||
    sec.kind !== "section" ||
    sec.id !== `r${si}` ||
    sec.span.start !== S ||
    sec.span.end !== S + len ||
    sec.incomplete
  )
    return undefined;
  if (sTop[si + 1]?.kind !== "eof") return undefined;
  const inOld = (sp: Span) => sp.start >= rec.span.start && sp.start < rec.span.end;
  // diagnostics name offsets in their messages: a section that has any is decoded in place
  if (
    synth.diagnostics.length ||
    old.diagnostics.some((d) => d.nodeId === rec.id || d.nodeId?.startsWith(rec.id + "/") || inOld(d.span))
  )
    return undefined;
  if ((synth.vmdescSpan === undefined) !== (old.vmdescSpan === undefined)) return undefined;

  // map the section back: offsets, and the record id r{si} -> r{k}
  const from = `r${si}`;
  const to = rec.id;
  const mapId = (id: string) => (id === from ? to : id.startsWith(from + "/") ? to + id.slice(from.length) : id);
  const shiftIn = rec.span.start - S;
  const newRec = cloneNode(sec, shiftIn, mapId);
  const same = (id: string) => id;
  const sv = sTop.find((n) => n.kind === "vmdesc");
  const later: VNode[] = [];
  for (const n of top.slice(k + 1)) {
    if (n.kind === "vmdesc" && dv !== 0) {
      if (!sv || !loc || !synth.vmdescSpan) return undefined;
      later.push(cloneNode(sv, loc.recordOffset - synth.vmdescSpan.start, same));
    } else if (n.kind !== "vmdesc" && old.vmdescSpan && n.span.start >= old.vmdescSpan.end)
      later.push(total ? cloneNode(n, total, same) : n);
    else later.push(delta ? cloneNode(n, delta, same) : n);
  }
  if (
    dv !== 0 &&
    old.diagnostics.some(
      (d) => old.vmdescSpan && d.span.start >= old.vmdescSpan.start && d.span.start <= old.vmdescSpan.end,
    )
  )
    return undefined;
  const under = (id: string | undefined, r: VNode) => id !== undefined && (id === r.id || id.startsWith(r.id + "/"));
  const oldIn = (sp: Span, nodeId?: string) =>
    under(nodeId, rec) || (sp.start >= rec.span.start && sp.start < rec.span.end);
  const shiftSpan = (sp: Span, by: number): Span => ({ start: sp.start + by, end: sp.end + by });
  const after = (sp: Span) => sp.start >= rec.span.end;
  const by = (sp: Span) => (old.vmdescSpan && sp.start >= old.vmdescSpan.end ? total : delta);

  const diagnostics: Diagnostic[] = [];
  for (const d of old.diagnostics) {
    if (oldIn(d.span, d.nodeId)) continue;
    diagnostics.push(after(d.span) && by(d.span) ? { ...d, span: shiftSpan(d.span, by(d.span)) } : d);
  }
  for (const d of synth.diagnostics) {
    const c: Diagnostic = { ...d, span: shiftSpan(d.span, shiftIn) };
    if (d.nodeId !== undefined) c.nodeId = mapId(d.nodeId);
    diagnostics.push(c);
  }
  const sections = old.sections
    .filter((s) => s.nodeId !== rec.id)
    .map((s) => (s.offset >= rec.span.end && delta ? { ...s, offset: s.offset + delta, end: s.end + delta } : s));
  for (const s of synth.sections)
    if (s.nodeId === from) sections.push({ ...s, offset: s.offset + shiftIn, end: s.end + shiftIn, nodeId: to });
  sections.sort((a, b) => a.offset - b.offset);
  const helpers = old.helpers
    .filter((h) => !under(h.nodeId, rec))
    .map((h) =>
      h.entry.start >= rec.span.end && delta
        ? { ...h, blob: shiftSpan(h.blob, delta), entry: shiftSpan(h.entry, delta) }
        : h,
    );
  for (const h of synth.helpers) {
    if (!under(h.nodeId, sec)) continue;
    helpers.push({
      ...h,
      blob: shiftSpan(h.blob, shiftIn),
      entry: shiftSpan(h.entry, shiftIn),
      nodeId: mapId(h.nodeId),
    });
  }
  helpers.sort((a, b) => a.entry.start - b.entry.start);

  const children = [...top.slice(0, k), newRec, ...later];
  const out: DecodedStream = {
    ...old,
    size: src.size,
    root: { ...old.root, span: { start: 0, end: src.size }, children },
    diagnostics,
    sections,
    helpers,
  };
  if (loc) {
    out.vmdescSpan = { start: loc.recordOffset, end: loc.jsonEnd };
    if (synth.vmdesc) out.vmdesc = synth.vmdesc;
    if (synth.vmdescText !== undefined) out.vmdescText = synth.vmdescText;
  }
  return out;
}

/** A deep copy of `n` with every span moved by `by` and ids mapped. */
function cloneNode(n: VNode, by: number, mapId: (id: string) => string): VNode {
  const c: VNode = { ...n, id: mapId(n.id), span: { start: n.span.start + by, end: n.span.end + by } };
  if (n.valueSpan) c.valueSpan = { start: n.valueSpan.start + by, end: n.valueSpan.end + by };
  if (n.info) {
    c.info = { ...n.info };
    // helper entries carry their blob's offsets (dbusVmstate.ts)
    if (c.info.blobStart !== undefined) c.info.blobStart += by;
    if (c.info.blobEnd !== undefined) c.info.blobEnd += by;
  }
  if (n.children) c.children = n.children.map((k) => cloneNode(k, by, mapId));
  return c;
}
