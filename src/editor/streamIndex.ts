// Queries the editor answers about one decoded stream: node lookup by id and by offset, lazy
// children, name filter, details and helper facts. No vscode import: unit-testable in Node.

import type { ContainerInfo } from "../container/types";
import { createHash } from "node:crypto";
import { isUtf8, toHex, utf8Strict } from "../format/bytes";
import { decodeStream, expandNode, leafAt } from "../format";
import { editInfo } from "../model/edits";
import type { ByteSource, DecodedStream, Diagnostic, Scalar, Severity, VNode } from "../format";
import { CHILD_CHUNK } from "../shared/protocol";
import type {
  ChildrenChunk,
  DiagnosticDto,
  DocInfo,
  FilterResult,
  HelperDto,
  NodeDetails,
  NodeDto,
  RevealTarget,
} from "../shared/protocol";

const SEVERITY_RANK: Record<Severity, number> = { info: 1, warning: 2, error: 3 };
const MAX_DIAGNOSTICS = 2000;
const MAX_VALUE_CHARS = 64 * 1024;
/** Lazily expanded nodes (RAM page runs) kept in memory; older ones are dropped and re-made on use. */
const MAX_LAZY_EXPANDED = 6;

interface Entry {
  node: VNode;
  parent?: VNode;
  depth: number;
}

export function diagnosticDto(d: Diagnostic): DiagnosticDto {
  const dto: DiagnosticDto = {
    severity: d.severity,
    code: d.code,
    message: d.message,
    start: d.span.start,
    end: d.span.end,
  };
  if (d.nodeId !== undefined) dto.nodeId = d.nodeId;
  return dto;
}

function isPrintableText(b: Uint8Array): boolean {
  if (b.length === 0) return false;
  const text = utf8Strict(b);
  if (text === undefined) return false;
  let bad = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 9 && c !== 10 && c !== 13) bad++;
  }
  return bad <= text.length / 100;
}

/** A node as a tree row: what every row has (the index adds value span, severity, diagnostics). */
export function treeRow(n: VNode): NodeDto {
  const d: NodeDto = {
    id: n.id,
    kind: n.kind,
    name: n.name,
    start: n.span.start,
    end: n.span.end,
    hasChildren: !!n.lazy || (n.children?.length ?? 0) > 0,
  };
  if (n.detail !== undefined) d.detail = n.detail;
  if (n.type !== undefined) d.type = n.type;
  return d;
}

export class StreamIndex {
  readonly decoded: DecodedStream;
  readonly decodeMs: number;
  private byId = new Map<string, Entry>();
  private readonly diagsByNode = new Map<string, Diagnostic[]>();
  /** Worst severity of a node's own and descendants' diagnostics. */
  private readonly severity = new Map<string, Severity>();
  private helperDtos?: HelperDto[];
  private helperDiags?: Map<string, Diagnostic[]>;
  /** Lazily expanded nodes, least recently used first. */
  private lazyExpanded: VNode[] = [];
  /**
   * Children made for lazy nodes. Kept here, not on the VNode: the tree may be shared with a
   * StreamModel, whose encoder would otherwise walk thousands of page nodes instead of copying.
   */
  private lazyKids = new Map<VNode, VNode[]>();

  /** The node that describes the file around the stream (libvirt header, qcow2 snapshot...), shown first. */
  private readonly containerNode?: VNode;

  /**
   * `decoded`: the stream already decoded from `src` (the edit model decodes it), with the time
   * that took; else decoded here. `prev`: the index of the stream before an edit whose unchanged
   * top-level records are the same objects in `decoded` (StreamModel shares them): only the
   * records that changed are indexed again, so an edit of a multi-GB stream re-indexes one
   * section. `prev` must not be used afterwards (its maps are taken over). `container`: what carries
   * the stream (its node is shown first; details give file offsets).
   */
  constructor(
    readonly src: ByteSource,
    decoded?: DecodedStream,
    decodeMs?: number,
    /** what carries the stream, when it is not a bare stream file */
    readonly container?: ContainerView,
    prev?: StreamIndex,
  ) {
    const t0 = performance.now();
    this.decoded = decoded ?? decodeStream(src);
    this.decodeMs = decoded && decodeMs !== undefined ? decodeMs : performance.now() - t0;
    if (prev && prev.decoded.root.id === this.decoded.root.id) this.takeOver(prev);
    else this.indexTree(this.decoded.root, undefined, -1);
    if (container && (container.info.kind !== "stream" || container.info.warnings.length)) {
      this.containerNode = containerNode(container.info);
      this.indexTree(this.containerNode, this.decoded.root, 0);
    }
    for (const d of this.decoded.diagnostics) {
      if (d.nodeId === undefined) continue;
      const list = this.diagsByNode.get(d.nodeId);
      if (list) list.push(d);
      else this.diagsByNode.set(d.nodeId, [d]);
      for (let e = this.byId.get(d.nodeId); e; e = e.parent ? this.byId.get(e.parent.id) : undefined) {
        const cur = this.severity.get(e.node.id);
        if (cur && SEVERITY_RANK[cur] >= SEVERITY_RANK[d.severity]) break;
        this.severity.set(e.node.id, d.severity);
      }
    }
  }

  private takeOver(prev: StreamIndex): void {
    this.byId = prev.byId;
    this.lazyKids = prev.lazyKids;
    const root = this.decoded.root;
    const oldTop = prev.decoded.root.children ?? [];
    const newTop = root.children ?? [];
    const kept = new Set(newTop);
    const had = new Set(oldTop);
    for (const n of oldTop) if (!kept.has(n)) this.forget(n);
    this.lazyExpanded = prev.lazyExpanded.filter((n) => this.lazyKids.has(n));
    // entries of kept records name the old root as parent: lookups go by id, so they find this one
    this.byId.set(root.id, { node: root, depth: -1 });
    for (const n of newTop) if (!had.has(n)) this.indexTree(n, root, 0);
  }

  /** Drops a record's entries (and those of lazily made children). */
  private forget(n: VNode): void {
    const stack = [n];
    while (stack.length) {
      const x = stack.pop()!;
      this.byId.delete(x.id);
      for (const c of x.children ?? []) stack.push(c);
      const lazy = this.lazyKids.get(x);
      if (lazy) {
        for (const c of lazy) stack.push(c);
        this.lazyKids.delete(x);
      }
    }
  }

  get nodeCount(): number {
    return this.byId.size;
  }

  private indexTree(node: VNode, parent: VNode | undefined, depth: number): void {
    // Iterative: device trees can be deep and wide.
    const stack: Entry[] = [{ node, depth, ...(parent ? { parent } : {}) }];
    while (stack.length) {
      const e = stack.pop()!;
      this.byId.set(e.node.id, e);
      const kids = e.node.children;
      if (kids)
        for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i]!, parent: e.node, depth: e.depth + 1 });
    }
  }

  /** A node by id; children of lazy nodes that were dropped (or never made) are re-made on demand. */
  node(id: string): VNode | undefined {
    const hit = this.byId.get(id);
    if (hit) return hit.node;
    // Ids are paths: find the nearest known ancestor, and expand it if it is lazy.
    for (let i = id.lastIndexOf("/"); i > 0; i = id.lastIndexOf("/", i - 1)) {
      const anc = this.byId.get(id.slice(0, i));
      if (!anc) continue;
      if (!anc.node.lazy || this.lazyKids.has(anc.node)) return undefined;
      this.childrenOf(anc.node);
      return this.byId.get(id)?.node;
    }
    return undefined;
  }

  dto(n: VNode): NodeDto {
    const d = treeRow(n);
    if (n.valueSpan) {
      d.valueStart = n.valueSpan.start;
      d.valueEnd = n.valueSpan.end;
    }
    if (n.incomplete) d.incomplete = true;
    const sev = this.severity.get(n.id);
    if (sev) d.severity = sev;
    const own = this.diagsByNode.get(n.id);
    if (own) d.diagCount = own.length;
    return d;
  }

  /** Children of a node, producing lazy ones (RAM page runs) on first use. */
  childrenOf(n: VNode): VNode[] {
    if (n.lazy) {
      const at = this.lazyExpanded.indexOf(n);
      if (at >= 0) this.lazyExpanded.splice(at, 1);
      this.lazyExpanded.push(n);
      if (!this.lazyKids.has(n)) {
        const kids = expandNode(this.src, n, this.decoded.pageSize);
        this.lazyKids.set(n, kids);
        const depth = this.byId.get(n.id)?.depth ?? 0;
        for (const k of kids) this.indexTree(k, n, depth + 1);
      }
      while (this.lazyExpanded.length > MAX_LAZY_EXPANDED) this.dropChildren(this.lazyExpanded.shift()!);
      return this.lazyKids.get(n) ?? [];
    }
    return n.children ?? [];
  }

  /** Forgets the produced children of a lazy node (memory stays flat on huge streams). */
  private dropChildren(n: VNode): void {
    const stack = [...(this.lazyKids.get(n) ?? [])];
    while (stack.length) {
      const c = stack.pop()!;
      this.byId.delete(c.id);
      if (c.children) stack.push(...c.children);
    }
    this.lazyKids.delete(n);
  }

  children(id: string, offset = 0, limit = CHILD_CHUNK): ChildrenChunk {
    const n = this.node(id);
    if (!n) throw new Error(`unknown node ${id}`);
    const kids = this.childrenOf(n);
    const start = Math.max(0, Math.min(offset, kids.length));
    const end = Math.min(kids.length, start + Math.max(1, Math.min(limit, 10 * CHILD_CHUNK)));
    return { total: kids.length, offset: start, nodes: kids.slice(start, end).map((c) => this.dto(c)) };
  }

  /** The chunk of a parent's children that holds the child at `index`. */
  private chunkAround(n: VNode, index: number): ChildrenChunk {
    const offset = Math.floor(Math.max(0, index) / CHILD_CHUNK) * CHILD_CHUNK;
    return this.children(n.id, offset, CHILD_CHUNK);
  }

  private revealTarget(target: VNode): RevealTarget {
    const chain: VNode[] = [];
    for (
      let e = this.byId.get(target.id);
      e && e.node !== this.decoded.root;
      e = e.parent ? this.byId.get(e.parent.id) : undefined
    )
      chain.unshift(e.node);
    const children: Record<string, ChildrenChunk> = {};
    // Lazily produced levels: send the chunk holding the path so the webview inserts it in one go.
    chain.slice(0, -1).forEach((n, i) => {
      if (n.lazy) children[n.id] = this.chunkAround(n, this.childrenOf(n).indexOf(chain[i + 1]!));
    });
    return { path: chain.map((n) => n.id), node: this.dto(target), children };
  }

  /** The deepest node owning an offset, expanding lazy nodes on the way. */
  nodeAt(offset: number): RevealTarget | null {
    if (offset < 0 || offset >= this.decoded.size) return null;
    let n = leafAt(this.decoded.root, offset);
    for (let guard = 0; n && n.lazy && guard < 8; guard++) {
      const kids = this.childrenOf(n);
      const inner = kids.find((k) => k.span.start <= offset && offset < k.span.end);
      if (!inner) break;
      n = leafAt(inner, offset) ?? inner;
    }
    if (!n || n === this.decoded.root) return null;
    return this.revealTarget(n);
  }

  reveal(id: string): RevealTarget | null {
    const n = this.node(id);
    return n && n !== this.decoded.root ? this.revealTarget(n) : null;
  }

  filter(query: string, limit = 2000): FilterResult {
    const q = query.trim().toLowerCase();
    const rows: FilterResult["rows"] = [];
    let matches = 0;
    let truncated = false;
    if (!q) return { rows, matches, truncated };
    const emitted = new Set<string>();
    const walk = (n: VNode, chain: VNode[]): boolean => {
      for (const c of n.children ?? []) {
        if (c.name.toLowerCase().includes(q) || c.type?.toLowerCase() === q) {
          if (matches >= limit) {
            truncated = true;
            return false;
          }
          matches++;
          chain.forEach((a, depth) => {
            if (!emitted.has(a.id)) {
              emitted.add(a.id);
              rows.push({ node: this.dto(a), depth, match: false });
            }
          });
          emitted.add(c.id);
          rows.push({ node: this.dto(c), depth: chain.length, match: true });
        }
        if (c.children && !walk(c, [...chain, c])) return false;
      }
      return true;
    };
    walk(this.decoded.root, []);
    // A match that is also an ancestor of a later match was emitted as a match first: fine.
    return { rows, matches, truncated };
  }

  diagnosticsFor(id: string): Diagnostic[] {
    return this.diagsByNode.get(id) ?? [];
  }

  details(id: string): NodeDetails | null {
    if (!this.node(id)) return null;
    const e = this.byId.get(id)!;
    const n = e.node;
    const path: { id: string; name: string }[] = [];
    const ancestors: VNode[] = [];
    for (
      let p = e.parent ? this.byId.get(e.parent.id) : undefined;
      p && p.node !== this.decoded.root;
      p = p.parent ? this.byId.get(p.parent.id) : undefined
    ) {
      path.unshift({ id: p.node.id, name: p.node.name });
      ancestors.unshift(p.node);
    }
    const out: NodeDetails = { node: this.dto(n), path, diagnostics: this.diagnosticsFor(id).map(diagnosticDto) };
    if (n.info) out.info = n.info;
    // offsets are in stream space; say where the bytes are in the file when that differs
    const c = this.container;
    if (c && c.info.kind !== "stream" && !id.startsWith(CONTAINER_NODE_ID) && n.span.end > n.span.start) {
      const f = c.toFileOffset(n.span.start);
      const where =
        f !== undefined
          ? "0x" + f.toString(16)
          : c.info.compression !== "none"
            ? `inside the ${c.info.compression} data`
            : "not stored (a zero cluster)";
      out.info = { ...(out.info ?? {}), "file offset": where };
    }
    if (n.value !== undefined) Object.assign(out, formatValue(n.value, n.enc));
    const hi = this.decoded.helpers.findIndex((h) => h.nodeId === id);
    if (hi >= 0) out.helperIndex = hi;
    // the model's rules (src/model/edits.ts): what applyEdit accepts for this node
    const editable = editInfo(this.decoded, n, ancestors);
    if (editable) out.editable = editable;
    return out;
  }

  read(offset: number, length: number): Uint8Array {
    return this.src.read(offset, length);
  }

  helpers(): HelperDto[] {
    if (this.helperDtos) return this.helperDtos;
    const byHelper = this.diagnosticsByHelper();
    this.helperDtos = this.decoded.helpers.map((h, index) => {
      const blob = this.src.read(h.blob.start, h.blob.end - h.blob.start);
      const idHex = isUtf8(h.idBytes) ? undefined : toHex(h.idBytes);
      const diags = byHelper.get(h.nodeId) ?? [];
      const dto: HelperDto = {
        index,
        id: h.id,
        size: h.size,
        sha256: createHash("sha256").update(blob).digest("hex"),
        blobStart: h.blob.start,
        blobEnd: h.blob.end,
        entryStart: h.entry.start,
        entryEnd: h.entry.end,
        nodeId: h.nodeId,
        isText: isPrintableText(blob.subarray(0, 64 * 1024)),
        diagnostics: diags.map(diagnosticDto),
      };
      if (idHex !== undefined) dto.idHex = idHex;
      return dto;
    });
    return this.helperDtos;
  }

  /**
   * Diagnostics grouped by the helper entry whose node (or a descendant) they name. One pass over
   * the diagnostics, looking each one's id and its ancestors' ids up in a map: linear, where
   * filtering all diagnostics once per helper was quadratic (20,000 helpers: 51 s).
   */
  private diagnosticsByHelper(): Map<string, Diagnostic[]> {
    if (this.helperDiags) return this.helperDiags;
    const out = new Map<string, Diagnostic[]>();
    for (const h of this.decoded.helpers) out.set(h.nodeId, []);
    for (const d of this.decoded.diagnostics) {
      const owner = d.nodeId === undefined ? undefined : helperOwner(out, d.nodeId);
      if (owner) owner.push(d);
    }
    this.helperDiags = out;
    return out;
  }

  helperBlob(index: number): Uint8Array {
    const h = this.decoded.helpers[index];
    if (!h) throw new Error(`no helper #${index}`);
    // Copy (not .slice(): on a Node Buffer that is a view): the source may reuse its pages.
    const view = this.src.read(h.blob.start, h.blob.end - h.blob.start);
    const copy = new Uint8Array(view.length);
    copy.set(view);
    return copy;
  }

  /** The dbus-vmstate section node, found by its idstr. */
  dbusSection(): VNode | undefined {
    const s = this.decoded.sections.find((x) => x.name.startsWith("dbus-vmstate"));
    if (s) return this.node(s.nodeId);
    for (const c of this.decoded.root.children ?? [])
      if (c.kind === "section" && c.name.startsWith("dbus-vmstate")) return c;
    return undefined;
  }

  docInfo(fileName: string, uri: string, pendingEdits = 0): DocInfo {
    const d = this.decoded;
    const summary = { errors: 0, warnings: 0, infos: 0 };
    for (const x of d.diagnostics) {
      if (x.severity === "error") summary.errors++;
      else if (x.severity === "warning") summary.warnings++;
      else summary.infos++;
    }
    const helpers = this.helpers();
    const byHelper = this.diagnosticsByHelper();
    const dbus = this.dbusSection();
    const helperListDiagnostics = d.diagnostics
      .filter((x) => x.code.startsWith("dbus") && !(x.nodeId && helperOwner(byHelper, x.nodeId)))
      .slice(0, MAX_DIAGNOSTICS)
      .map(diagnosticDto);
    const info: DocInfo = {
      fileName,
      uri,
      size: d.size,
      roots: [...(this.containerNode ? [this.containerNode] : []), ...(d.root.children ?? [])].map((c) => this.dto(c)),
      summary,
      diagnostics: d.diagnostics.slice(0, MAX_DIAGNOSTICS).map(diagnosticDto),
      diagnosticsTruncated: d.diagnostics.length > MAX_DIAGNOSTICS,
      helpers,
      helperListDiagnostics,
      pendingEdits,
      capabilities: d.capabilities,
      pageSize: d.pageSize,
      sectionCount: d.sections.length,
      nodeCount: this.nodeCount,
      decodeMs: Math.round(this.decodeMs),
    };
    if (dbus) info.dbusSectionId = dbus.id;
    if (d.machineType !== undefined) info.machineType = d.machineType;
    return info;
  }
}

/** The entry of `byHelper` for `nodeId` or its nearest ancestor id (ids are "/" paths). */
function helperOwner<T>(byHelper: Map<string, T>, nodeId: string): T | undefined {
  for (let id = nodeId; ;) {
    const hit = byHelper.get(id);
    if (hit) return hit;
    const i = id.lastIndexOf("/");
    if (i <= 0) return undefined;
    id = id.slice(0, i);
  }
}

export function formatValue(v: Scalar, enc?: string): Pick<NodeDetails, "value" | "valueKind" | "alternates"> {
  if (v instanceof Uint8Array) {
    const shown = v.subarray(0, MAX_VALUE_CHARS / 2);
    const alternates: { label: string; value: string }[] = [];
    if (isPrintableText(shown)) alternates.push({ label: "text", value: new TextDecoder().decode(shown) });
    return { value: toHex(shown) + (v.length > shown.length ? "…" : ""), valueKind: `bytes[${v.length}]`, alternates };
  }
  if (typeof v === "bigint") {
    const alternates = [{ label: "hex", value: "0x" + BigInt.asUintN(64, v).toString(16) }];
    return { value: v.toString(), valueKind: enc ?? "bigint", alternates };
  }
  if (typeof v === "number") {
    const alternates = Number.isInteger(v)
      ? [{ label: "hex", value: (v < 0 ? "-0x" : "0x") + Math.abs(v).toString(16) }]
      : [];
    return { value: String(v), valueKind: enc ?? "number", alternates };
  }
  if (typeof v === "boolean") return { value: String(v), valueKind: "bool" };
  return { value: v.length > MAX_VALUE_CHARS ? v.slice(0, MAX_VALUE_CHARS) + "…" : v, valueKind: "string" };
}

/** What StreamIndex needs to know about the container: its description and the offset mapping. */
export interface ContainerView {
  info: ContainerInfo;
  toFileOffset(streamOffset: number): number | undefined;
}

export const CONTAINER_NODE_ID = "$container";

function fmtClock(ns: string): string {
  const n = BigInt(ns);
  const sec = n / 1000000000n;
  return `${String(sec / 3600n).padStart(2, "0")}:${String((sec / 60n) % 60n).padStart(2, "0")}:${String(sec % 60n).padStart(2, "0")}.${String((n % 1000000000n) / 1000000n).padStart(3, "0")}`;
}

/** The container node: not part of the stream (empty span), its facts as details info. */
export function containerNode(c: ContainerInfo): VNode {
  const none = { start: 0, end: 0 };
  const kids: VNode[] = [];
  let name: string;
  let detail: string;
  const info: Record<string, string | number | boolean | null> = {};
  if (c.kind === "libvirt-save") {
    const h = c.libvirt!;
    name = "libvirt save image";
    detail = `${h.magic === "LibvirtQemudPart" ? "UNFINISHED, " : ""}v${h.version}, ${c.compression === "none" ? "raw" : c.compression}, ${h.wasRunning ? "was running" : "paused"}`;
    Object.assign(info, {
      magic: h.magic,
      version: h.version,
      was_running: h.wasRunning,
      compressed: `${h.compressed} (${c.compression === "none" ? "raw" : c.compression})`,
      data_len: h.dataLen,
      cookieOffset: h.cookieOffset,
      "stream offset in file": "0x" + c.streamOffset.toString(16),
      "byte order": h.littleEndian ? "little-endian" : "big-endian",
      "zero padding": h.padding,
    });
    kids.push({
      id: `${CONTAINER_NODE_ID}/xml`,
      kind: "opaque",
      name: "domain XML",
      detail: `${c.xml!.length} chars (Show Domain XML)`,
      span: none,
      info: { chars: c.xml!.length, "file offset": "0x" + h.xmlSpan.start.toString(16) },
    });
    if (c.cookie !== undefined)
      kids.push({
        id: `${CONTAINER_NODE_ID}/cookie`,
        kind: "opaque",
        name: "cookie",
        detail: `${c.cookie.length} chars (Show Cookie)`,
        span: none,
        info: { chars: c.cookie.length, "file offset": "0x" + h.cookieSpan!.start.toString(16) },
      });
  } else if (c.kind === "qcow2-snapshot") {
    const s = c.snapshot!;
    name = `qcow2 snapshot ${s.id} ${JSON.stringify(s.tag)}`;
    detail = `${s.vmStateSize} bytes of VM state, ${s.date}, read-only`;
    Object.assign(info, {
      id: s.id,
      tag: s.tag,
      "VM state size": s.vmStateSize,
      date: s.date,
      "VM clock": fmtClock(s.vmClockNs),
      "disk size": s.diskSize,
      "first cluster in file": "0x" + c.streamOffset.toString(16),
    });
    for (const x of c.snapshots ?? []) {
      kids.push({
        id: `${CONTAINER_NODE_ID}/snapshot/${x.id}`,
        kind: "opaque",
        name: `${x.id === s.id ? "▶ " : ""}${x.id} ${x.tag}`,
        detail: `${x.vmStateSize ? `${x.vmStateSize} bytes VM state` : "disk only"}, ${x.date}, VM clock ${fmtClock(x.vmClockNs)}`,
        span: none,
        info: {
          id: x.id,
          tag: x.tag,
          "VM state size": x.vmStateSize,
          date: x.date,
          "VM clock": fmtClock(x.vmClockNs),
          "table entry at": "0x" + x.entryOffset.toString(16),
        },
      });
    }
  } else if (c.kind === "stream") {
    name = "unrecognised file";
    detail = "opened as a stream anyway";
  } else {
    name = `${c.compression}-compressed stream`;
    detail = `${c.fileSize} bytes compressed, ${c.streamSize} decompressed`;
    Object.assign(info, { compression: c.compression, "compressed size": c.fileSize, "stream size": c.streamSize });
  }
  for (const w of c.warnings)
    info[`warning${Object.keys(info).filter((k) => k.startsWith("warning")).length || ""}`] = w;
  return { id: CONTAINER_NODE_ID, kind: "header", name, detail, span: none, info, children: kids };
}
