// Compare two decoded migration streams: configuration, sections, device fields, dbus-vmstate
// helpers and RAM. Pure (no vscode, no fs): the CLI and the editor's worker give it byte sources
// and the two things Node has that a browser lacks (sha256, zlib) as functions.
import type { ByteSource, DecodedStream, HelperInfo, VNode } from "../format/types";
import { compareSpans } from "./bytes";
import { compareRam, type RamRemote } from "./ram";
import { compareNodes, differingLeaves, mergeOrder, oneSided, type MNode } from "./tree";
import type {
  DiffNote,
  FieldDiff,
  HelperDiff,
  RamBlockDiff,
  SectionRef,
  SideSummary,
  SideValue,
  StreamDiff,
} from "./types";

export interface DiffSide {
  /** File name or label shown in the results. */
  file: string;
  src: ByteSource;
  decoded: DecodedStream;
}

export interface DiffOptions {
  /** Hex sha256 of bytes (node:crypto in Node). */
  sha256: (bytes: Uint8Array) => string;
  /** zlib inflate, to compare pages of the `compress` capability. */
  inflate?: (b: Uint8Array) => Uint8Array;
  /** Most fields listed in `fields` (the counts stay exact). Default 10000. */
  maxFields?: number;
  maxRanges?: number;
  maxFirstPages?: number;
  onProgress?: (fraction: number, message: string) => void;
  /** Another thread that compares half of a big RAM block (see RamCompareOptions.remote). */
  ramRemote?: RamRemote;
  /** Only blocks with more record bytes than this are split (tests; default 64 MiB). */
  ramSplitBytes?: number;
}

export interface CompareResult {
  diff: StreamDiff;
  /** The merged tree (the editor's compare view shows it). */
  tree: MNode;
}

const DBUS_SECTION = "dbus-vmstate/dbus-vmstate";

/** Decoder codes that mean "this is not a stream that can be read at all". */
const UNREADABLE = new Set(["not-a-stream", "bad-magic", "bad-version", "obsolete-version"]);

/** Why a decoded input cannot be compared at all (not a migration stream), or undefined. */
export function unreadableReason(d: DecodedStream): string | undefined {
  return d.diagnostics.find((x) => UNREADABLE.has(x.code))?.message;
}

function sectionKey(n: VNode): string {
  return `${n.name}:${n.info?.instanceId ?? 0}`;
}

/** Top-level records that are compared as trees, keyed; RAM (compared page by page) and dbus-vmstate (by helper) are left out. */
function comparableRecords(d: DecodedStream): Map<string, VNode> {
  const out = new Map<string, VNode>();
  const seen = new Map<string, number>();
  for (const n of d.root.children ?? []) {
    let key: string;
    if (n.kind === "configuration") key = "configuration";
    else if (n.kind === "section") {
      if (n.info?.handler === "ram" || n.name === DBUS_SECTION) continue;
      key = sectionKey(n);
    } else continue;
    const c = seen.get(key) ?? 0;
    seen.set(key, c + 1);
    out.set(c ? `${key}#${c}` : key, n);
  }
  return out;
}

function sectionRefs(d: DecodedStream): Map<string, SectionRef> {
  const out = new Map<string, SectionRef>();
  for (const s of d.sections) {
    if (s.kind !== "full" && s.kind !== "start") continue;
    const key = `${s.name}:${s.instanceId}`;
    if (!out.has(key))
      out.set(key, {
        key,
        name: s.name,
        instanceId: s.instanceId,
        versionId: s.versionId,
        sectionId: s.sectionId,
        offset: s.offset,
      });
  }
  return out;
}

function summary(s: DiffSide): SideSummary {
  const d = s.decoded;
  const out: SideSummary = {
    file: s.file,
    size: d.size,
    pageSize: d.pageSize,
    capabilities: [...d.capabilities],
    sectionRecords: d.sections.length,
    helpers: d.helpers.length,
    ramBlocks: d.ramBlocks.length,
    decodeErrors: d.diagnostics.filter((x) => x.severity === "error").length,
  };
  if (d.machineType !== undefined) out.machineType = d.machineType;
  return out;
}

function side(n: VNode | undefined, value: string | undefined): SideValue | undefined {
  if (!n || value === undefined) return undefined;
  const span = n.valueSpan ?? n.span;
  const v: SideValue = { value, offset: span.start, end: span.end };
  if (n.type !== undefined) v.type = n.type;
  return v;
}

function compareHelpers(a: DiffSide, b: DiffSide, opts: DiffOptions): HelperDiff[] {
  const keyed = (list: HelperInfo[]) => {
    const seen = new Map<string, number>();
    const m = new Map<string, HelperInfo>();
    for (const h of list) {
      const c = seen.get(h.id) ?? 0;
      seen.set(h.id, c + 1);
      m.set(c ? `${h.id}#${c}` : h.id, h);
    }
    return m;
  };
  const ha = keyed(a.decoded.helpers);
  const hb = keyed(b.decoded.helpers);
  const info = (s: DiffSide, h: HelperInfo) => ({
    size: h.size,
    sha256: opts.sha256(s.src.read(h.blob.start, h.size).slice()),
    offset: h.blob.start,
  });
  const out: HelperDiff[] = [];
  for (const k of mergeOrder([...ha.keys()], [...hb.keys()])) {
    const x = ha.get(k);
    const y = hb.get(k);
    const id = (x ?? y)!.id;
    if (x && y) {
      const d = compareSpans(a.src, x.blob, b.src, y.blob);
      if (d < 0) continue;
      out.push({ id, status: "changed", a: info(a, x), b: info(b, y), firstDiff: d });
    } else if (x) out.push({ id, status: "only-a", a: info(a, x) });
    else if (y) out.push({ id, status: "only-b", b: info(b, y) });
  }
  return out;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** The RAM results as merged-tree nodes: one per block, one per range of differing pages. */
function ramNode(blocks: RamBlockDiff[], ps: number): MNode {
  const kids: MNode[] = blocks.map((bl) => {
    const total = Object.entries(bl.counts).reduce((s, [k, v]) => s + (k === "uncompared" ? 0 : v), 0);
    const m: MNode = {
      id: `ram/${bl.name}`,
      name: bl.name,
      kind: "ram-block",
      status: bl.status,
      diffs: bl.status === "same" ? 0 : Math.max(1, total),
      detail:
        bl.status === "only-a" || bl.status === "only-b"
          ? "block on one side only"
          : total
            ? `${total} page${total === 1 ? "" : "s"} differ of ${bl.comparedPages} compared`
            : `${bl.comparedPages} pages, all equal`,
      children: bl.ranges.map((r, i) => {
        const firstPage = bl.first.find((p) => p.addr >= r.start && p.addr < r.end);
        const c: MNode = {
          id: `ram/${bl.name}/${i}`,
          name: `${hex(r.start)}–${hex(r.end - 1)}`,
          kind: "page-run",
          status: r.change === "only-a" ? "only-a" : r.change === "only-b" ? "only-b" : "changed",
          diffs: r.pages,
          detail: `${r.pages} page${r.pages === 1 ? "" : "s"}, ${r.change}`,
          aValue: r.change === "only-b" ? undefined : r.change === "zero-to-data" ? "zero" : "page data",
          bValue: r.change === "only-a" ? undefined : r.change === "data-to-zero" ? "zero" : "page data",
        } as MNode;
        if (c.aValue === undefined) delete c.aValue;
        if (c.bValue === undefined) delete c.bValue;
        // the first page's data (a zero page: its fill byte)
        if (firstPage?.aOffset !== undefined)
          c.aSpan = { start: firstPage.aOffset, end: firstPage.aOffset + (c.aValue === "zero" ? 1 : ps) };
        if (firstPage?.bOffset !== undefined)
          c.bSpan = { start: firstPage.bOffset, end: firstPage.bOffset + (c.bValue === "zero" ? 1 : ps) };
        return c;
      }),
    };
    if (bl.rangesTruncated) m.detail += " (ranges listed: first " + bl.ranges.length + ")";
    return m;
  });
  const diffs = kids.reduce((s, k) => s + k.diffs, 0);
  return {
    id: "ram",
    name: "RAM",
    kind: "ram-blocks",
    status: diffs ? "changed" : "same",
    diffs,
    children: kids,
    detail: `${blocks.length} block${blocks.length === 1 ? "" : "s"}`,
  };
}

function helpersNode(list: HelperDiff[], a: DiffSide, b: DiffSide): MNode {
  const kids: MNode[] = list.map((h, i) => {
    const m: MNode = { id: `helpers/${i}`, name: h.id, kind: "helper", status: h.status, diffs: 1 };
    if (h.a) {
      m.aValue = `${h.a.size} bytes, sha256 ${h.a.sha256}`;
      m.aSpan = { start: h.a.offset, end: h.a.offset + h.a.size };
    }
    if (h.b) {
      m.bValue = `${h.b.size} bytes, sha256 ${h.b.sha256}`;
      m.bSpan = { start: h.b.offset, end: h.b.offset + h.b.size };
    }
    m.detail =
      h.status === "changed" ? `differs from byte ${h.firstDiff}` : h.status === "only-a" ? "only in A" : "only in B";
    if (h.firstDiff !== undefined) m.firstDiff = h.firstDiff;
    return m;
  });
  return {
    id: "helpers",
    name: "dbus-vmstate helpers",
    kind: "dbus-data",
    status: kids.length ? "changed" : "same",
    diffs: kids.length,
    children: kids,
    detail: `${a.decoded.helpers.length} in A, ${b.decoded.helpers.length} in B${kids.length ? "" : ", all equal"}`,
  };
}

/** Compare stream A with stream B. */
export async function compareStreams(a: DiffSide, b: DiffSide, opts: DiffOptions): Promise<CompareResult> {
  const notes: DiffNote[] = [];
  for (const [label, s] of [
    ["A", a],
    ["B", b],
  ] as const) {
    const errors = s.decoded.diagnostics.filter((x) => x.severity === "error");
    if (errors.length)
      notes.push({
        severity: "warning",
        code: "decode-errors",
        message: `${label} (${s.file}) has ${errors.length} decode error(s), the first at 0x${errors[0]!.span.start.toString(16)}: ${errors[0]!.message}; what could not be decoded is not compared`,
      });
  }
  // device state and configuration, as merged trees: while the other thread (if any) compares its
  // half of the RAM (compareRam calls this once, after handing that half over)
  const top: MNode[] = [];
  const compareRecords = () => {
    const ra = comparableRecords(a.decoded);
    const rb = comparableRecords(b.decoded);
    for (const k of mergeOrder([...ra.keys()], [...rb.keys()])) {
      const x = ra.get(k);
      const y = rb.get(k);
      if (x && y) {
        const m = compareNodes(x, y, a.src, b.src, k, k);
        m.name = k;
        if (x.kind === "section" && x.info?.versionId !== y.info?.versionId) {
          m.status = "changed";
          m.diffs++;
          m.aValue = `version ${String(x.info?.versionId)}`;
          m.bValue = `version ${String(y.info?.versionId)}`;
        }
        top.push(m);
      } else {
        const m = oneSided((x ?? y)!, x ? "a" : "b", k, k);
        m.name = k;
        top.push(m);
      }
    }
    opts.onProgress?.(0, "comparing RAM");
  };
  const ramOpts: Parameters<typeof compareRam>[2] = {};
  if (opts.inflate) ramOpts.inflate = opts.inflate;
  if (opts.maxRanges !== undefined) ramOpts.maxRanges = opts.maxRanges;
  if (opts.maxFirstPages !== undefined) ramOpts.maxFirst = opts.maxFirstPages;
  if (opts.onProgress) {
    const p = opts.onProgress;
    ramOpts.onProgress = (f) => p(f, "comparing RAM");
  }
  if (opts.ramRemote) ramOpts.remote = opts.ramRemote;
  if (opts.ramSplitBytes !== undefined) ramOpts.splitBytes = opts.ramSplitBytes;
  let recordsDone = false;
  ramOpts.whileRemote = () => {
    if (recordsDone) return;
    recordsDone = true;
    compareRecords();
  };
  const ram = await compareRam(a, b, ramOpts, notes);
  ramOpts.whileRemote();
  const helpers = compareHelpers(a, b, opts);
  if (ram.length) top.push(ramNode(ram, a.decoded.pageSize));
  if (a.decoded.helpers.length || b.decoded.helpers.length || helpers.length) top.push(helpersNode(helpers, a, b));
  const root: MNode = {
    id: "",
    name: "stream",
    kind: "stream",
    status: "same",
    diffs: top.reduce((s, k) => s + k.diffs, 0),
    children: top,
  };
  if (root.diffs) root.status = "changed";

  // sections on one side only, by name and instance
  const sa = sectionRefs(a.decoded);
  const sb = sectionRefs(b.decoded);
  const onlyA = [...sa.values()].filter((s) => !sb.has(s.key));
  const onlyB = [...sb.values()].filter((s) => !sa.has(s.key));
  const versionChanged = [...sa.values()]
    .filter((s) => sb.has(s.key) && sb.get(s.key)!.versionId !== s.versionId)
    .map((s) => ({ key: s.key, a: s.versionId, b: sb.get(s.key)!.versionId }));

  // fields: the differing leaves of every section and the configuration (one-sided sections are listed as sections)
  const maxFields = opts.maxFields ?? 10000;
  const fields: FieldDiff[] = [];
  let fieldCount = 0;
  let configCount = 0;
  let truncated = 0;
  for (const t of top) {
    if (t.id === "ram" || t.id === "helpers" || t.status === "only-a" || t.status === "only-b") continue;
    for (const leaf of differingLeaves(t)) {
      if (t.id === "configuration") configCount++;
      else fieldCount++;
      if (fields.length >= maxFields) {
        truncated++;
        continue;
      }
      const f: FieldDiff = {
        path: leaf.path ?? leaf.id,
        section: t.id.replace(/#\d+$/, ""),
        status: leaf.status as FieldDiff["status"],
      };
      const va = side(leaf.a, leaf.aValue);
      const vb = side(leaf.b, leaf.bValue);
      if (va) f.a = va;
      if (vb) f.b = vb;
      if (
        leaf.firstDiff !== undefined &&
        va &&
        vb &&
        va.end - va.offset === vb.end - vb.offset &&
        va.end - va.offset > 8
      )
        f.firstDiff = leaf.firstDiff;
      fields.push(f);
    }
  }
  if (top.some((t) => t.id === "configuration" && t.status !== "same")) configCount = Math.max(configCount, 1);

  const capsA = a.decoded.capabilities;
  const capsB = b.decoded.capabilities;
  const configuration: StreamDiff["configuration"] = {
    capabilities: { onlyA: capsA.filter((c) => !capsB.includes(c)), onlyB: capsB.filter((c) => !capsA.includes(c)) },
  };
  if (a.decoded.machineType !== b.decoded.machineType) {
    configuration.machineType = {};
    if (a.decoded.machineType !== undefined) configuration.machineType.a = a.decoded.machineType;
    if (b.decoded.machineType !== undefined) configuration.machineType.b = b.decoded.machineType;
  }
  if (a.decoded.pageSize !== b.decoded.pageSize)
    configuration.pageSize = { a: a.decoded.pageSize, b: b.decoded.pageSize };
  const capDiffs = configuration.capabilities.onlyA.length + configuration.capabilities.onlyB.length;
  const ramPages = ram.reduce(
    (s, bl) => s + Object.entries(bl.counts).reduce((t, [k, v]) => t + (k === "uncompared" ? 0 : v), 0),
    0,
  );
  const counts = {
    configuration:
      configCount + capDiffs + (configuration.pageSize ? 1 : 0) + (configuration.machineType && !configCount ? 1 : 0),
    sections: onlyA.length + onlyB.length + versionChanged.length,
    fields: fieldCount,
    helpers: helpers.length,
    ramBlocks: ram.filter((r) => r.status !== "same").length,
    ramPages,
  };
  const diff: StreamDiff = {
    format: 1,
    a: summary(a),
    b: summary(b),
    same: Object.values(counts).every((n) => n === 0),
    counts,
    configuration,
    sections: { onlyA, onlyB, versionChanged },
    fields,
    helpers,
    ram: { blocks: ram },
    notes,
  };
  if (truncated) diff.fieldsTruncated = truncated;
  return { diff, tree: root };
}
