// The merged tree of two decoded streams: one node per section, field, array element and
// subsection present on either side, each marked same / changed / only-a / only-b. Leaves are
// equal when their value bytes are equal. The section framing ($type, $section_id, footers) is
// not compared: QEMU numbers sections in registration order, which differs between versions.
import type { ByteSource, Span, VNode } from "../format/types";
import { compareSpans } from "./bytes";
import type { DiffStatus } from "./types";

export interface MNode {
  /** Unique in the merged tree; for fields "NAME:INSTANCE/path". */
  id: string;
  name: string;
  kind: string;
  status: DiffStatus;
  a?: VNode;
  b?: VNode;
  /** Spans of synthetic nodes (RAM ranges, helpers) in each file. */
  aSpan?: Span;
  bSpan?: Span;
  /** Values shown for each side (leaves, helpers, RAM ranges). */
  aValue?: string;
  bValue?: string;
  detail?: string;
  children?: MNode[];
  /** Differences at or below this node (a changed leaf counts 1, a node on one side only counts 1). */
  diffs: number;
  /** First differing byte of a changed leaf, relative to its value start. */
  firstDiff?: number;
  /** set-field style path (fields only). */
  path?: string;
}

export interface TreeSide {
  src: ByteSource;
}

/** Framing nodes (record type bytes, section ids, footers, subsection headers): ids end in /$name. */
export function isFraming(n: VNode): boolean {
  const i = n.id.lastIndexOf("/");
  return n.id.charCodeAt(i + 1) === 0x24; /* $ */
}

function comparableKids(n: VNode): VNode[] {
  if (n.lazy) return [];
  return (n.children ?? []).filter((c) => !isFraming(c));
}

function hexBytes(b: Uint8Array, max = 64): string {
  let s = "";
  for (let i = 0; i < Math.min(b.length, max); i++) s += b[i]!.toString(16).padStart(2, "0");
  return b.length > max ? `${s}… (${b.length} bytes)` : s;
}

/** A leaf's value as shown (the same words the editor's tree uses). */
export function leafValue(n: VNode): string {
  const v = n.value;
  if (v === undefined) return n.detail ?? `${n.kind} (${n.span.end - n.span.start} bytes)`;
  if (v instanceof Uint8Array) return n.detail !== undefined && n.enc !== "raw" ? n.detail : hexBytes(v);
  if (typeof v === "bigint" || typeof v === "number") return n.detail ?? String(v);
  return String(v);
}

export function valueSpan(n: VNode): Span {
  return n.valueSpan ?? n.span;
}

/** Child keys: the name, numbered when a name repeats (the k-th of that name matches the k-th). */
function keyed(kids: VNode[]): Map<string, VNode> {
  const seen = new Map<string, number>();
  const out = new Map<string, VNode>();
  for (const k of kids) {
    const c = seen.get(k.name) ?? 0;
    seen.set(k.name, c + 1);
    out.set(c ? `${k.name}#${c}` : k.name, k);
  }
  return out;
}

/** A's order, with B-only keys placed after the B key before them. */
export function mergeOrder(aKeys: string[], bKeys: string[]): string[] {
  const out = [...aKeys];
  const inA = new Set(aKeys);
  const pos = new Map<string, number>();
  out.forEach((k, i) => pos.set(k, i));
  let prev: string | undefined;
  for (const k of bKeys) {
    if (!inA.has(k)) {
      const at = prev === undefined ? 0 : (pos.get(prev) ?? -1) + 1;
      out.splice(at, 0, k);
      pos.clear();
      out.forEach((x, i) => pos.set(x, i));
      inA.add(k);
    }
    prev = k;
  }
  return out;
}

function childPath(parentPath: string, parent: VNode | undefined, child: VNode): string {
  // an array element's name already carries the array's ("regs[3]"): the array level is skipped
  if (parent?.kind === "array" && child.name.startsWith(`${parent.name}[`))
    return parentPath.slice(0, parentPath.lastIndexOf("/") + 1) + child.name;
  return `${parentPath}/${child.name}`;
}

/** One side only: the whole subtree takes that status (children made so the tree can show them). */
export function oneSided(n: VNode, side: "a" | "b", id: string, path: string): MNode {
  const status: DiffStatus = side === "a" ? "only-a" : "only-b";
  const m: MNode = { id, name: n.name, kind: n.kind, status, [side]: n, diffs: 1, path };
  const v = comparableKids(n).length ? (n.detail ?? n.kind) : leafValue(n);
  if (side === "a") m.aValue = v;
  else m.bValue = v;
  const kids = comparableKids(n);
  if (kids.length) {
    const keys = keyed(kids);
    m.children = [...keys].map(([k, c]) => {
      const child = oneSided(c, side, `${id}/${k}`, childPath(path, n, c));
      child.diffs = 0;
      return child;
    });
  }
  return m;
}

function sameNames(ka: VNode[], kb: VNode[]): boolean {
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i]!.name !== kb[i]!.name) return false;
  return true;
}

/** Compare two nodes that match (same key): leaves by value bytes, inner nodes child by child. */
export function compareNodes(a: VNode, b: VNode, sa: ByteSource, sb: ByteSource, id: string, path: string): MNode {
  const ka = comparableKids(a);
  const kb = comparableKids(b);
  const m: MNode = { id, name: a.name, kind: a.kind, status: "same", a, b, diffs: 0, path };
  if (!ka.length && !kb.length) {
    const d = compareSpans(sa, valueSpan(a), sb, valueSpan(b));
    m.aValue = leafValue(a);
    m.bValue = leafValue(b);
    if (d >= 0 || a.type !== b.type) {
      m.status = "changed";
      m.diffs = 1;
      if (d >= 0) m.firstDiff = d;
    }
    return m;
  }
  if (!ka.length || !kb.length) {
    // a leaf on one side, a structure on the other (a field's type changed between versions)
    m.status = "changed";
    m.diffs = 1;
    m.aValue = ka.length ? (a.detail ?? a.kind) : leafValue(a);
    m.bValue = kb.length ? (b.detail ?? b.kind) : leafValue(b);
    return m;
  }
  const kids: MNode[] = [];
  if (sameNames(ka, kb)) {
    // the usual case (same device, same version): pair the children in order, with the keys
    // keyed() would make (a repeated name numbered "#k")
    const seen = new Map<string, number>();
    let repeated = false;
    for (const x of ka) {
      if (seen.has(x.name)) repeated = true;
      seen.set(x.name, 0);
    }
    for (let i = 0; i < ka.length; i++) {
      const x = ka[i]!;
      let k = x.name;
      if (repeated) {
        const c = seen.get(k)!;
        seen.set(k, c + 1);
        if (c) k = `${k}#${c}`;
      }
      kids.push(compareNodes(x, kb[i]!, sa, sb, `${id}/${k}`, childPath(path, a, x)));
    }
    return finishInner(m, a, b, kids);
  }
  const ma = keyed(ka);
  const mb = keyed(kb);
  for (const k of mergeOrder([...ma.keys()], [...mb.keys()])) {
    const x = ma.get(k);
    const y = mb.get(k);
    const cid = `${id}/${k}`;
    if (x && y) kids.push(compareNodes(x, y, sa, sb, cid, childPath(path, a, x)));
    else if (x) kids.push(oneSided(x, "a", cid, childPath(path, a, x)));
    else if (y) kids.push(oneSided(y, "b", cid, childPath(path, b, y)));
  }
  return finishInner(m, a, b, kids);
}

function finishInner(m: MNode, a: VNode, b: VNode, kids: MNode[]): MNode {
  m.children = kids;
  m.diffs = kids.reduce((s, k) => s + k.diffs, 0);
  if (m.diffs) m.status = "changed";
  if (a.kind === "subsection" && a.info?.version !== b.info?.version) {
    m.status = "changed";
    m.diffs++;
    m.aValue = `version ${String(a.info?.version)}`;
    m.bValue = `version ${String(b.info?.version)}`;
  }
  return m;
}

/** Leaves and one-sided tops below `m`, in tree order (what `fields` lists, what next/previous visit). */
export function differingLeaves(m: MNode, out: MNode[] = [], limit = Infinity): MNode[] {
  const stack: MNode[] = [m];
  while (stack.length && out.length < limit) {
    const n = stack.pop()!;
    if (n.status === "same") continue;
    const kids = n.children?.filter((c) => c.status !== "same") ?? [];
    if (n.status !== "changed" || !n.children || (n.aValue !== undefined && n.kind === "subsection")) out.push(n);
    if (n.status === "changed") for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return out;
}
