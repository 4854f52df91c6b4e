// The queries the compare view asks about a comparison: merged-tree children (all, or only the
// differences), reveal paths, details of both sides, bytes of either file. Pure: runs in the
// comparison worker (and in plain Node tests).
import type { CompareDetails, CompareInfo, CompareSide, CompareSideDetails } from "../shared/compareProtocol";
import { CHILD_CHUNK, type ChildrenChunk, type NodeDto, type RevealTarget } from "../shared/protocol";
import type { NodeKind, VNode } from "../format/types";
import type { CompareResult, DiffSide } from "./compare";
import { differingLeaves, type MNode } from "./tree";

const MAX_DIFF_IDS = 50_000;
const MAX_DETAIL = 8 * 1024;

function clip(s: string, n = 80): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

export class CompareIndex {
  private readonly byId = new Map<string, MNode>();
  private readonly parent = new Map<string, MNode>();

  constructor(
    readonly result: CompareResult,
    readonly a: DiffSide,
    readonly b: DiffSide,
    readonly compareMs = 0,
  ) {
    const stack: MNode[] = [result.tree];
    while (stack.length) {
      const n = stack.pop()!;
      this.byId.set(n.id, n);
      for (const c of n.children ?? []) {
        this.parent.set(c.id, n);
        stack.push(c);
      }
    }
  }

  private span(n: MNode, side: CompareSide): { start: number; end: number } | undefined {
    const v: VNode | undefined = side === "a" ? n.a : n.b;
    if (v) return v.span;
    return side === "a" ? n.aSpan : n.bSpan;
  }

  dto(n: MNode): NodeDto {
    const s = this.span(n, "a") ?? this.span(n, "b") ?? { start: 0, end: 0 };
    const v = n.a ?? n.b;
    const d: NodeDto = {
      id: n.id,
      kind: n.kind as NodeKind,
      name: n.name,
      start: s.start,
      end: s.end,
      hasChildren: (n.children?.length ?? 0) > 0,
      mark: n.status,
      markCount: n.diffs,
    };
    const vs = v?.valueSpan;
    if (vs && v === (n.a ?? n.b)) {
      d.valueStart = vs.start;
      d.valueEnd = vs.end;
    }
    if (v?.type !== undefined) d.type = v.type;
    let detail = n.detail;
    if (!n.children?.length || n.aValue !== undefined || n.bValue !== undefined) {
      if (n.status === "changed" && n.aValue !== undefined && n.aValue === n.bValue && n.firstDiff !== undefined)
        detail = `${clip(n.aValue, 40)}, first difference at byte ${n.firstDiff}`;
      else if (n.status === "changed" && n.aValue !== undefined && n.bValue !== undefined)
        detail = `${clip(n.aValue, 40)} → ${clip(n.bValue, 40)}`;
      else if (n.status === "only-a")
        detail = `only in A${n.aValue !== undefined && !n.children?.length ? `: ${clip(n.aValue, 60)}` : ""}`;
      else if (n.status === "only-b")
        detail = `only in B${n.bValue !== undefined && !n.children?.length ? `: ${clip(n.bValue, 60)}` : ""}`;
      else if (n.aValue !== undefined && detail === undefined) detail = clip(n.aValue);
    } else if (detail === undefined && v?.detail !== undefined && n.status === "same") detail = v.detail;
    if (detail !== undefined) d.detail = detail;
    return d;
  }

  info(): CompareInfo {
    const { diff } = this.result;
    const ids = differingLeaves(this.result.tree, [], MAX_DIFF_IDS + 1);
    const side = (s: DiffSide, sum: typeof diff.a) => {
      const out: CompareInfo["a"] = {
        fileName: s.file.split(/[\\/]/).pop() ?? s.file,
        path: s.file,
        size: sum.size,
        decodeErrors: sum.decodeErrors,
      };
      if (sum.machineType !== undefined) out.machineType = sum.machineType;
      return out;
    };
    return {
      a: side(this.a, diff.a),
      b: side(this.b, diff.b),
      same: diff.same,
      counts: diff.counts,
      notes: diff.notes,
      roots: this.kids(this.result.tree, false).map((n) => this.dto(n)),
      diffIds: ids.slice(0, MAX_DIFF_IDS).map((n) => n.id),
      diffIdsTruncated: ids.length > MAX_DIFF_IDS,
      diffTotal: this.result.tree.diffs,
      compareMs: Math.round(this.compareMs),
    };
  }

  private kids(n: MNode, onlyDiffs: boolean): MNode[] {
    const k = n.children ?? [];
    return onlyDiffs ? k.filter((c) => c.status !== "same") : k;
  }

  children(id: string, offset = 0, limit = CHILD_CHUNK, onlyDiffs = false): ChildrenChunk {
    const n = this.byId.get(id);
    if (!n) throw new Error(`no node ${JSON.stringify(id)} in the comparison`);
    const all = this.kids(n, onlyDiffs);
    return { total: all.length, offset, nodes: all.slice(offset, offset + limit).map((c) => this.dto(c)) };
  }

  reveal(id: string): RevealTarget | null {
    const n = this.byId.get(id);
    if (!n || n === this.result.tree) return null;
    const path: string[] = [];
    for (let p: MNode | undefined = n; p && p !== this.result.tree; p = this.parent.get(p.id)) path.unshift(p.id);
    return { path, node: this.dto(n), children: {} };
  }

  details(id: string): CompareDetails | null {
    const n = this.byId.get(id);
    if (!n) return null;
    const path: { id: string; name: string }[] = [];
    for (let p = this.parent.get(n.id); p && p !== this.result.tree; p = this.parent.get(p.id))
      path.unshift({ id: p.id, name: p.name });
    const sideDetails = (side: CompareSide): CompareSideDetails | undefined => {
      const v = side === "a" ? n.a : n.b;
      const span = this.span(n, side);
      if (!span) return undefined;
      const value = side === "a" ? n.aValue : n.bValue;
      const out: CompareSideDetails = { start: span.start, end: span.end };
      if (v?.valueSpan) {
        out.valueStart = v.valueSpan.start;
        out.valueEnd = v.valueSpan.end;
      }
      if (value !== undefined) out.value = value.length > MAX_DETAIL ? value.slice(0, MAX_DETAIL) + "…" : value;
      else if (v?.detail !== undefined) out.value = v.detail;
      if (v?.type !== undefined) out.type = v.type;
      if (v) out.kind = v.kind;
      return out;
    };
    const d: CompareDetails = { node: this.dto(n), path, status: n.status, diffs: n.diffs };
    const a = sideDetails("a");
    const b = sideDetails("b");
    if (a) d.a = a;
    if (b) d.b = b;
    if (n.path && (n.a || n.b)) d.fieldPath = n.path;
    if (n.firstDiff !== undefined) d.firstDiff = n.firstDiff;
    const facts = this.facts(n);
    if (facts.length) d.facts = facts;
    return d;
  }

  private facts(n: MNode): NonNullable<CompareDetails["facts"]> {
    const out: NonNullable<CompareDetails["facts"]> = [];
    const diff = this.result.diff;
    if (n.id.startsWith("helpers/")) {
      const h = diff.helpers[Number(n.id.slice(8))];
      if (h) {
        out.push({
          label: "size",
          ...(h.a ? { a: `${h.a.size} bytes` } : {}),
          ...(h.b ? { b: `${h.b.size} bytes` } : {}),
        });
        out.push({ label: "sha256", ...(h.a ? { a: h.a.sha256 } : {}), ...(h.b ? { b: h.b.sha256 } : {}) });
      }
    } else if (n.id.startsWith("ram/")) {
      const name = n.kind === "ram-block" ? n.name : this.parent.get(n.id)?.name;
      const bl = diff.ram.blocks.find((x) => x.name === name);
      if (bl && n.kind === "ram-block") {
        out.push({
          label: "used_length",
          ...(bl.usedLengthA !== undefined ? { a: `0x${bl.usedLengthA.toString(16)}` } : {}),
          ...(bl.usedLengthB !== undefined ? { b: `0x${bl.usedLengthB.toString(16)}` } : {}),
        });
        out.push({ label: "pages compared", a: String(bl.comparedPages), b: String(bl.comparedPages) });
        for (const [k, v] of Object.entries(bl.counts))
          if (v) out.push({ label: `pages ${k}`, a: String(v), b: String(v) });
      } else if (bl) {
        const r = bl.ranges[Number(n.id.slice(n.id.lastIndexOf("/") + 1))];
        if (r) {
          out.push({
            label: "guest range",
            a: `0x${r.start.toString(16)}–0x${(r.end - 1).toString(16)}`,
            b: `0x${r.start.toString(16)}–0x${(r.end - 1).toString(16)}`,
          });
          out.push({ label: "pages", a: `${r.pages} (${r.change})`, b: `${r.pages} (${r.change})` });
          const p = bl.first.find((x) => x.addr >= r.start && x.addr < r.end);
          if (p)
            out.push({
              label: "first page data at",
              offset: true,
              ...(p.aOffset !== undefined ? { a: `0x${p.aOffset.toString(16)}` } : {}),
              ...(p.bOffset !== undefined ? { b: `0x${p.bOffset.toString(16)}` } : {}),
            });
        }
      }
    } else if ((n.a?.kind === "section" || n.b?.kind === "section") && (n.a || n.b)) {
      const ver = (v?: VNode) =>
        v?.info?.versionId !== undefined
          ? `v${String(v.info.versionId)}, section id ${String(v.info.sectionId)}`
          : undefined;
      const va = ver(n.a);
      const vb = ver(n.b);
      out.push({ label: "section", ...(va ? { a: va } : {}), ...(vb ? { b: vb } : {}) });
    }
    return out;
  }

  read(side: CompareSide, offset: number, length: number): Uint8Array {
    const src = side === "a" ? this.a.src : this.b.src;
    return src.read(offset, Math.min(length, 1 << 20));
  }
}
