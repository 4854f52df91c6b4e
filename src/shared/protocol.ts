// The typed message protocol between the custom editor's extension host side and its webview.
// PURE: no vscode, fs or DOM imports; bundled into both sides.
//
// Requests carry a scoped method name and get exactly one reply; a throwing handler replies
// { ok: false, error } so the caller's promise always settles. Bytes travel as exactly-sized
// ArrayBuffers, never inside tree DTOs.

import type { InfoValue, NodeKind, Severity } from "../format/types";

/** A tree node as the webview sees it: no values that could be large, no children. */
export interface NodeDto {
  id: string;
  kind: NodeKind;
  name: string;
  detail?: string;
  start: number;
  end: number;
  valueStart?: number;
  valueEnd?: number;
  type?: string;
  /** Has (possibly lazy) children. */
  hasChildren: boolean;
  incomplete?: boolean;
  /** Worst severity of the diagnostics attached to this node or any decoded descendant. */
  severity?: Severity;
  /** Number of diagnostics attached to this node itself. */
  diagCount?: number;
  /** Compare view: how the node differs between the two streams, and how many differences it holds. */
  mark?: "same" | "changed" | "only-a" | "only-b";
  markCount?: number;
}

export interface DiagnosticDto {
  severity: Severity;
  code: string;
  message: string;
  start: number;
  end: number;
  nodeId?: string;
}

export interface HelperDto {
  index: number;
  id: string;
  /** The Id bytes as hex when they are not valid UTF-8 (else undefined). */
  idHex?: string;
  size: number;
  sha256: string;
  blobStart: number;
  blobEnd: number;
  entryStart: number;
  entryEnd: number;
  nodeId: string;
  /** The blob decodes as printable UTF-8 text. */
  isText: boolean;
  /** Decoder diagnostics for this helper (over 1 MiB, empty, bad Id, duplicate...). */
  diagnostics: DiagnosticDto[];
}

export interface DocSummary {
  errors: number;
  warnings: number;
  infos: number;
}

export interface DocInfo {
  fileName: string;
  uri: string;
  size: number;
  /** Top-level nodes (children of the stream root). */
  roots: NodeDto[];
  summary: DocSummary;
  /** All diagnostics, capped (see diagnosticsTruncated). */
  diagnostics: DiagnosticDto[];
  diagnosticsTruncated: boolean;
  helpers: HelperDto[];
  /** Node id of the dbus-vmstate section, when the stream has one. */
  dbusSectionId?: string;
  /** Stream-level diagnostics about the helper list (e.g. count mismatch). */
  helperListDiagnostics: DiagnosticDto[];
  machineType?: string;
  /** Edits not saved yet. */
  pendingEdits: number;
  /** Set when the document is a bare blob (a live helper's Save), not a stream: shown as hex and text only. */
  blob?: { title: string; sha256: string; isText: boolean; text?: string };
  capabilities: string[];
  pageSize: number;
  sectionCount: number;
  nodeCount: number;
  decodeMs: number;
}

export interface NodeDetails {
  node: NodeDto;
  /** Ancestors from the root's child down to the parent (names), for a breadcrumb. */
  path: { id: string; name: string }[];
  /** The value formatted for display (full, possibly long). */
  value?: string;
  /** Raw value kind, e.g. "u32", "bigint", "bytes". */
  valueKind?: string;
  /** Alternate renderings (hex, signed...). */
  alternates?: { label: string; value: string }[];
  /**
   * The node's info as facts to list, by name: its kind's info (format/types.ts NodeInfoMap), the
   * container facts, and where the bytes are in the file when that differs ("file offset").
   */
  info?: Record<string, InfoValue>;
  diagnostics: DiagnosticDto[];
  /** Set when the node is a helper: its index in DocInfo.helpers. */
  helperIndex?: number;
  /** How the node can be edited, when it can. */
  editable?: FieldEditInfo;
}

/** An integer or bool field (set from typed text, range-checked), or bytes replaced at the same length. */
export type FieldEditInfo =
  { kind: "integer"; enc: string; min: string; max: string } | { kind: "bool" } | { kind: "bytes"; length: number };

/** The helper-panel actions that ask the user something (a file, a stream, an Id) on the host side. */
export type HelperAction = "replaceFromFile" | "replaceFromStream" | "rename" | "remove" | "add";

/** Result of an edit request: whether an edit was applied (the user may cancel a picker or a warning). */
export interface EditResult {
  applied: boolean;
  label?: string;
}

/** Children per tree/children reply (the webview fetches chunks as rows scroll into view). */
export const CHILD_CHUNK = 2000;

/** A window of a node's children: big RAM page runs have hundreds of thousands. */
export interface ChildrenChunk {
  total: number;
  offset: number;
  nodes: NodeDto[];
}

export interface RevealTarget {
  /** Ids from the top-level node down to the target. */
  path: string[];
  /** The target node itself (last of path). */
  node: NodeDto;
  /** For lazily produced levels on the path: the chunk of children around the path's child. */
  children: Record<string, ChildrenChunk>;
}

export interface FilterResult {
  /** Matches and their ancestors, in document order, with depth (0 = top level). */
  rows: { node: NodeDto; depth: number; match: boolean }[];
  matches: number;
  truncated: boolean;
}

export type CopyFormat = "hex" | "base64" | "text";

/** Requests from the webview to the extension host. */
export interface HostRequests {
  "doc/ready": { params: Record<string, never>; result: DocInfo };
  "doc/readRange": { params: { offset: number; length: number }; result: ArrayBuffer };
  "tree/children": { params: { id: string; offset?: number; limit?: number }; result: ChildrenChunk };
  "tree/nodeAt": { params: { offset: number }; result: RevealTarget | null };
  "tree/reveal": { params: { id: string }; result: RevealTarget | null };
  "tree/filter": { params: { query: string; limit?: number }; result: FilterResult };
  "node/details": { params: { id: string }; result: NodeDetails | null };
  "blob/export": { params: { helperIndex: number }; result: { path?: string } };
  "blob/exportAll": { params: Record<string, never>; result: { folder?: string; files?: number } };
  "blob/copy": { params: { helperIndex: number; format: CopyFormat }; result: { bytes: number } };
  "view/goToOffsetPrompt": { params: Record<string, never>; result: { offset?: number } };
  /** Helper-panel actions; the host asks for what it needs (file, stream, Id) and confirms warnings. */
  "edit/helper": { params: { action: HelperAction; helperIndex?: number }; result: EditResult };
  /** Set an integer/bool field from typed text; a bad value rejects with the message to show inline. */
  "edit/setField": { params: { nodeId: string; value: string }; result: EditResult };
  /** Replace a raw field's or opaque payload's bytes from a file of the same length. */
  "edit/replaceBytes": { params: { nodeId: string }; result: EditResult };
}

/** Requests from the extension host to the webview (used by commands and tests). */
export interface WebviewRequests {
  "view/getState": { params: Record<string, never>; result: ViewStateSnapshot };
}

/** Notifications from the extension host to the webview. */
export interface WebviewNotifications {
  /**
   * The document changed (an edit, undo/redo, revert, reload): reload what is shown, keeping the
   * selection by id. `info`: the new DocInfo, pushed so the view updates without asking for it.
   */
  "doc/didChange": { reason?: string; info?: DocInfo; refresh?: DocRefresh };
  /** Select and scroll to a node, or to the node owning an offset. */
  "view/reveal": { id?: string; offset?: number };
  /** Indexing progress (0..1) while the document decodes. */
  "doc/progress": { fraction: number; message: string; roots?: NodeDto[] };
}

/** Notifications from the webview to the extension host. */
export interface HostNotifications {
  /** The webview selection changed (lets commands act on "the selected helper"). */
  "view/selection": { id?: string; helperIndex?: number };
  /** What the view shows (sent as it changes): an edit's reply carries what it needs to update in place. */
  "view/state": ViewReport;
  /** The view has redrawn after a change (the host then tells VS Code of a pending edit). */
  "view/updated": Record<string, never>;
}

/** What a webview shows, so an edit, undo or redo can send it everything it must redraw in one message. */
export interface ViewReport {
  expanded: string[];
  selectedId?: string;
  /** First byte of the hex view's top row, and how many bytes are on screen. */
  hexTop: number;
  hexBytes: number;
}

/**
 * What changed with an edit, undo or redo (the worker compares the top-level records before and
 * after: unchanged ones are the same objects), with what the reporting view needs to update in
 * place: no tree or hex round trips after the change.
 */
export interface DocRefresh {
  /** Top-level node ids whose subtree changed or moved; the view keeps everything else it has. */
  changedRoots: string[];
  /** Stream bytes that changed or moved, [start, end); absent when no byte changed. */
  changedBytes?: { start: number; end: number };
  /** First chunk of children of each expanded node under a changed root (the reported view's). */
  children: Record<string, ChildrenChunk>;
  /** The reported selection under a changed root: its path and details (null: it went away). */
  selected?: RevealTarget | null;
  details?: NodeDetails | null;
  /** New bytes over the changed part of the reported hex window (64 KiB-aligned pages). */
  bytes?: { offset: number; data: ArrayBuffer };
  /** Epoch ms timestamps along the way (performance tests): host received, worker done, posted. */
  marks?: Record<string, number>;
}

/** What the webview reports about itself (tests, commands). */
export interface ViewStateSnapshot {
  selectedId?: string;
  visibleRows: number;
  expanded: string[];
  hexTopOffset: number;
  highlight?: { start: number; end: number };
}

export type Method<M> = keyof M & string;
export type Params<M, K extends keyof M> = M[K] extends { params: infer P } ? P : never;
export type Result<M, K extends keyof M> = M[K] extends { result: infer R } ? R : never;

/** Wire envelopes. */
export interface RequestMessage {
  kind: "request";
  seq: number;
  method: string;
  params: unknown;
}
export interface ReplyMessage {
  kind: "reply";
  seq: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
export interface NotificationMessage {
  kind: "notify";
  method: string;
  params: unknown;
}
export type WireMessage = RequestMessage | ReplyMessage | NotificationMessage;

export function isWireMessage(m: unknown): m is WireMessage {
  return typeof m === "object" && m !== null && typeof (m as { kind?: unknown }).kind === "string";
}

type Handler = (params: unknown) => unknown;

/**
 * Request/reply and notifications over a postMessage channel, used on both sides.
 * `In` is the request map this side answers, `Out` the one it calls.
 */
export class MessageEndpoint<In, Out, InNotify, OutNotify> {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly handlers = new Map<string, Handler>();
  private readonly notifyHandlers = new Map<string, (params: unknown) => void>();

  constructor(private readonly post: (m: WireMessage) => void) {}

  handle<K extends Method<In>>(method: K, fn: (params: Params<In, K>) => Result<In, K> | Promise<Result<In, K>>): void {
    this.handlers.set(method, fn as Handler);
  }

  onNotify<K extends keyof InNotify & string>(method: K, fn: (params: InNotify[K]) => void): void {
    this.notifyHandlers.set(method, fn as (p: unknown) => void);
  }

  request<K extends Method<Out>>(method: K, params: Params<Out, K>): Promise<Result<Out, K>> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.post({ kind: "request", seq, method, params });
    });
  }

  notify<K extends keyof OutNotify & string>(method: K, params: OutNotify[K]): void {
    this.post({ kind: "notify", method, params });
  }

  /** Feed every incoming message here. */
  async receive(m: unknown): Promise<void> {
    if (!isWireMessage(m)) return;
    if (m.kind === "reply") {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error ?? "request failed"));
    } else if (m.kind === "notify") {
      this.notifyHandlers.get(m.method)?.(m.params);
    } else {
      const h = this.handlers.get(m.method);
      try {
        if (!h) throw new Error(`no handler for ${m.method}`);
        const result = await h(m.params);
        this.post({ kind: "reply", seq: m.seq, ok: true, result });
      } catch (e) {
        this.post({ kind: "reply", seq: m.seq, ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  /** Reject everything still waiting (the other side went away). */
  dispose(): void {
    for (const p of this.pending.values()) p.reject(new Error("channel closed"));
    this.pending.clear();
  }
}
