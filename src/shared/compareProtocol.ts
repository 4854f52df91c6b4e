// The compare view's protocol: its webview asks, the comparison worker (src/editor/compareWorker.ts)
// answers; the extension host only relays (and answers "cmp/open" itself). PURE: no vscode, fs, DOM.
import type { DiffNote, StreamDiff } from "../diff/types";
import type { ChildrenChunk, NodeDto, RevealTarget } from "./protocol";

export type CompareSide = "a" | "b";

export interface CompareSideInfo {
  fileName: string;
  path: string;
  size: number;
  machineType?: string;
  decodeErrors: number;
}

export interface CompareInfo {
  a: CompareSideInfo;
  b: CompareSideInfo;
  same: boolean;
  counts: StreamDiff["counts"];
  notes: DiffNote[];
  /** Top-level nodes of the merged tree. */
  roots: NodeDto[];
  /** Ids of the differences in tree order (next / previous difference walk them), capped. */
  diffIds: string[];
  /** More differences than diffIds lists. */
  diffIdsTruncated: boolean;
  /** Differences counted in the tree (a RAM range counts its pages). */
  diffTotal: number;
  compareMs: number;
}

export interface CompareSideDetails {
  /** The value as shown (full). */
  value?: string;
  type?: string;
  /** The node's bytes in that file. */
  start: number;
  end: number;
  valueStart?: number;
  valueEnd?: number;
  /** The kind of node on that side (a field may be a structure on the other side). */
  kind?: string;
}

export interface CompareDetails {
  node: NodeDto;
  /** Ancestors from the top level to the parent, for a breadcrumb. */
  path: { id: string; name: string }[];
  status: "same" | "changed" | "only-a" | "only-b";
  /** set-field style path of a field ("cpu:0/env.regs[3]"). */
  fieldPath?: string;
  a?: CompareSideDetails;
  b?: CompareSideDetails;
  /** First differing byte, relative to the value start on both sides. */
  firstDiff?: number;
  /** Extra facts (RAM range pages and kind of change, helper sha256...). */
  facts?: {
    label: string;
    a?: string;
    b?: string;
    /** where, not what: never marked as a difference */ offset?: boolean;
  }[];
  diffs: number;
}

export interface CompareRequests {
  "cmp/ready": { params: Record<string, never>; result: CompareInfo };
  /** Children of a merged node ("" = the top level); onlyDiffs leaves out what is the same. */
  "tree/children": {
    params: { id: string; offset?: number; limit?: number; onlyDiffs?: boolean };
    result: ChildrenChunk;
  };
  "tree/reveal": { params: { id: string }; result: RevealTarget | null };
  "cmp/details": { params: { id: string }; result: CompareDetails | null };
  "cmp/readRange": { params: { side: CompareSide; offset: number; length: number }; result: ArrayBuffer };
  /** Answered by the extension host: open one side in the stream editor at an offset. */
  "cmp/open": { params: { side: CompareSide; offset?: number }; result: Record<string, never> };
  /** Answered by the extension host: stop the comparison (the worker) and close the view. */
  "cmp/cancel": { params: Record<string, never>; result: Record<string, never> };
}

export interface CompareNotifications {
  "cmp/progress": { fraction: number; message: string };
  /**
   * The worker finished comparing (error: why it could not). Sent exactly once; the extension host
   * ends its progress notification on it, and treats a worker that exits without it as failed.
   */
  "cmp/done": { error?: string };
}

/** What the webview reports about itself (integration tests). */
export interface CompareViewState {
  selectedId?: string;
  visibleRows: number;
  onlyDiffs: boolean;
  diffIndex: number;
  hexA?: { start: number; end: number };
  hexB?: { start: number; end: number };
  detailsText: string;
  /** Set when the comparison failed (an input is not a migration stream...): the message shown. */
  error?: string;
  /** While comparing: the progress line shown ("decoding… 40%"). */
  progress?: string;
}

export interface CompareWebviewRequests {
  "cmp/getState": { params: Record<string, never>; result: CompareViewState };
  "cmp/step": { params: { direction: 1 | -1 }; result: CompareViewState };
  "cmp/setOnlyDiffs": { params: { on: boolean }; result: CompareViewState };
}
