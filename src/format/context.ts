import { DecodeError } from "./errors";
import { toHex } from "./bytes";
import { Reader } from "./reader";
import type { ByteSource, Diagnostic, KindNode, NodeKind, Severity, Span, VNode } from "./types";

/**
 * What a node is made from: everything but its span, which the context sets. K is the literal
 * kind, so `info` is checked against that kind's info type (types.ts NodeInfoMap).
 */
export type NodeInit<K extends NodeKind = NodeKind> = Omit<KindNode<K>, "span"> & { span?: Span };

/**
 * Nodes one decode may create before it stops: a hostile stream cannot exhaust memory. A node costs
 * about 400 bytes, so with the diagnostics and indexes that go with them this keeps a decode under ~300 MB; real streams have far fewer (QEMU's q35 with
 * all devices: 55,000; a 2 GiB guest: 21,000), since RAM pages and huge arrays are grouped into runs.
 * See docs/LIMITS.md.
 */
export const NODE_BUDGET = 300_000;

/**
 * Diagnostics kept per code: beyond this, repeats are counted and summed up in one diagnostic at
 * the end (memory and output stay bounded; the first ones still point at the problem). See docs/LIMITS.md.
 */
export const MAX_DIAGNOSTICS_PER_CODE = 1000;
const SEVERITY_RANK: Record<Severity, number> = { info: 1, warning: 2, error: 3 };

/** The wire type an integer field's leaf shows, per encoding (ctx.intField). */
const INT_TYPE = { u8: "uint8", u16: "uint16", u32: "uint32", i32: "int32" } as const;

/** An integer field for ctx.intField: its leaf's id and name, how it is encoded, how it is shown. */
export interface IntField {
  id: string;
  name: string;
  enc: keyof typeof INT_TYPE;
  /** What a truncation error calls it ("helper count"); the reader's default when absent. */
  what?: string;
  /** The leaf's detail: a fixed text, or made from the value read; String(value) when absent. */
  detail?: string | ((value: number) => string);
}

/** Shared state of one decode: the source, diagnostics and a node counter. */
export class DecodeContext {
  readonly diagnostics: Diagnostic[] = [];
  nodes = 0;
  /** Set once the node budget is exhausted: decoding stops, the few nodes that close the tree are still made. */
  stopped = false;

  constructor(readonly src: ByteSource) {}

  /** `sequential`: the reader walks the stream from start to end (the record loop): the source may read ahead. */
  reader(start: number, limit = this.src.size, sequential = false): Reader {
    return new Reader(this.src, start, limit, sequential);
  }

  /** Diagnostics per code, to cap repeats (a crafted stream can repeat one problem 100,000 times). */
  private perCode = new Map<string, { count: number; severity: Severity; first: Span }>();

  diag(severity: Severity, code: string, message: string, span: Span, nodeId?: string): void {
    const seen = this.perCode.get(code);
    if (seen) {
      seen.count++;
      if (SEVERITY_RANK[severity] > SEVERITY_RANK[seen.severity]) seen.severity = severity;
      if (seen.count > MAX_DIAGNOSTICS_PER_CODE) return;
    } else this.perCode.set(code, { count: 1, severity, first: span });
    const d: Diagnostic = { severity, code, message, span: { start: span.start, end: Math.max(span.start, span.end) } };
    if (nodeId !== undefined) d.nodeId = nodeId;
    this.diagnostics.push(d);
  }

  /** One summary per code whose repeats were dropped; call once, at the end of a decode. */
  summarizeDropped(): void {
    for (const [code, x] of this.perCode) {
      if (x.count <= MAX_DIAGNOSTICS_PER_CODE) continue;
      this.diagnostics.push({
        severity: x.severity,
        code,
        message: `${x.count - MAX_DIAGNOSTICS_PER_CODE} more "${code}" diagnostics (${x.count} in all) are not listed: only the first ${MAX_DIAGNOSTICS_PER_CODE} of each kind are kept`,
        span: { start: x.first.start, end: Math.max(x.first.start, x.first.end) },
      });
    }
  }

  /**
   * Create a node spanning [start, end); counts against the budget. Prefer the span helpers below
   * (`from`, `leaf`, `leafAt`, `wrap`), which take the span from the reader.
   */
  node<K extends NodeKind>(init: NodeInit<K>, start: number, end: number): KindNode<K> {
    if (++this.nodes > NODE_BUDGET && !this.stopped) {
      this.stopped = true;
      throw new DecodeError("too-many-nodes", `more than ${NODE_BUDGET} nodes: the description is implausible`, start);
    }
    // every caller passes a fresh literal: give it its span instead of copying it (a copy per node
    // cost a third of the decode time and twice the memory on streams of many small records)
    const n = init as KindNode<K>;
    n.span = { start, end };
    return n;
  }

  /** A node for what was just read: from `start` to where the reader stands, [start, r.pos). */
  from<K extends NodeKind>(r: Reader, start: number, init: NodeInit<K>): KindNode<K> {
    return this.node(init, start, r.pos);
  }

  /**
   * A leaf value just read: the node spans [start, r.pos), its editable bytes (valueSpan) are
   * [valueStart, r.pos): `valueStart` is after a length prefix for counted strings.
   */
  leaf<K extends NodeKind>(r: Reader, start: number, init: NodeInit<K>, valueStart = start): KindNode<K> {
    init.valueSpan = { start: valueStart, end: r.pos };
    return this.node(init, start, r.pos);
  }

  /** A leaf at a known place whose bytes are all value: node and valueSpan are [start, end). */
  leafAt<K extends NodeKind>(init: NodeInit<K>, start: number, end: number): KindNode<K> {
    init.valueSpan = { start, end };
    return this.node(init, start, end);
  }

  /**
   * Read one integer field at r.pos (u8, be16, be32; i32 is a be32 taken as signed) and push its
   * leaf onto `into`: node and value span are the bytes read, `type` follows from `enc` (uint8,
   * uint16, uint32, int32). Returns the value as the leaf holds it. `what` names the field in a
   * truncation error; `detail` is a fixed text or made from the value (default: the value).
   */
  intField(r: Reader, into: VNode[], f: IntField): number {
    const start = r.pos;
    const raw = f.enc === "u8" ? r.u8(f.what) : f.enc === "u16" ? r.u16(f.what) : r.u32(f.what);
    const value = f.enc === "i32" ? raw | 0 : raw;
    const detail = f.detail === undefined ? String(value) : typeof f.detail === "string" ? f.detail : f.detail(value);
    into.push(
      this.leaf(r, start, { id: f.id, kind: "field", name: f.name, type: INT_TYPE[f.enc], value, enc: f.enc, detail }),
    );
    return value;
  }

  /**
   * Record spans around a body: the node is added to `into` first (so a failing body still leaves a
   * partial, incomplete node in the tree) and ends wherever the reader stands afterwards.
   */
  wrap<K extends NodeKind>(
    r: Reader,
    into: VNode[],
    init: Omit<KindNode<K>, "span" | "children">,
    body: (children: VNode[]) => void,
  ): KindNode<K> {
    const start = r.pos;
    const children: VNode[] = [];
    const n = this.node({ ...init, children }, start, start);
    into.push(n);
    try {
      body(children);
    } catch (e) {
      n.span.end = Math.max(start, r.pos);
      n.incomplete = true;
      throw e;
    }
    n.span.end = r.pos;
    return n;
  }
}

/** Hex of a few bytes for one-line summaries. */
export function hexPreview(b: Uint8Array, max = 16): string {
  return toHex(b.subarray(0, max), " ") + (b.length > max ? " …" : "");
}
