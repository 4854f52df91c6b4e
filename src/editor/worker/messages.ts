// The messages between a VmstateDocument (extension host) and its decoding worker thread
// (docWorker.ts). Requests get exactly one reply; long operations (decoding, saving) post
// progress and stop when the host sets the shared cancel flag. Edits are named by ids the host
// gives them, so undo and redo send id lists, not edits.
import type { ContainerInfo, WriteMode } from "../../container";
import type { DocumentLocation } from "../../io/openDocumentSource";
import type { Edit } from "../../model/edits";
import type {
  ChildrenChunk,
  DocInfo,
  DocRefresh,
  NodeDto,
  FilterResult,
  HelperDto,
  NodeDetails,
  RevealTarget,
  ViewReport,
} from "../../shared/protocol";

/** Sent with apply/setEdits: the reply then carries the new DocInfo and a refresh for this view. */
export interface RefreshRequest {
  fileName: string;
  uri: string;
  pendingEdits: number;
  view?: ViewReport;
}
/** What apply/setEdits return with a RefreshRequest (bytes as a Uint8Array; the host makes it an ArrayBuffer). */
export type WorkerRefresh = {
  info: DocInfo;
  refresh: Omit<DocRefresh, "bytes"> & { bytes?: { offset: number; data: Uint8Array } };
};

export interface WorkerRequests {
  /**
   * Open (through the container opener: decompression with progress), decode (with progress;
   * both cancellable); then apply `edits` (a restored backup). `container`: what carries the
   * stream (local files). Fails with code "snapshot-ambiguous" for a qcow2 with several snapshots
   * and none named.
   */
  open: {
    params: { where: DocumentLocation; edits: { id: number; edit: Edit }[] };
    result: { size: number; decodeMs: number; restoreError?: string; container?: ContainerInfo };
  };
  docInfo: { params: { fileName: string; uri: string; pendingEdits: number }; result: DocInfo };
  children: { params: { id: string; offset?: number; limit?: number }; result: ChildrenChunk };
  nodeAt: { params: { offset: number }; result: RevealTarget | null };
  reveal: { params: { id: string }; result: RevealTarget | null };
  filter: { params: { query: string; limit?: number }; result: FilterResult };
  details: { params: { id: string }; result: NodeDetails | null };
  read: { params: { offset: number; length: number }; result: Uint8Array };
  helpers: { params: Record<string, never>; result: HelperDto[] };
  helperBlob: { params: { index: number }; result: Uint8Array };
  /**
   * Apply one edit on top; returns the edit that undoes it across a save (model/edits inverseOf).
   * An edit QEMU would refuse (editWarnings) is not applied unless `confirmed`: its warnings come
   * back instead, for the user to confirm. `refresh`: what the view shows, answered in `refreshed`.
   */
  apply: {
    params: { id: number; edit: Edit; confirmed?: boolean; refresh?: RefreshRequest };
    result: { warnings?: string[]; inverse?: Edit; ms: number; size: number; refreshed?: WorkerRefresh };
  };
  /** Make the edit list these ids (undo, redo); every id was applied or restored before. */
  setEdits: {
    params: { ids: number[]; refresh?: RefreshRequest };
    result: { ms: number; size: number; refreshed?: WorkerRefresh };
  };
  /**
   * Write the edited stream to `target` (temp file + rename), with progress; cancellable. With
   * `container`, inside the container it came from (src/container writeEdited: a libvirt image
   * keeps header, XML and cookie; "raw" writes it uncompressed); without, the bare stream.
   */
  save: { params: { target: string; container?: WriteMode }; result: { written: number } };
  /** "Edit Domain XML": writes `xml` into the open libvirt save image at `target` (the stream copied unchanged). */
  writeDomainXml: { params: { xml: string; target: string }; result: Record<string, never> };
  /** Closes the input (removes a decompressed temp file); the worker can then be ended. */
  close: { params: Record<string, never>; result: Record<string, never> };
  /** The whole edited stream (Save As to a non-file scheme). */
  readAll: { params: Record<string, never>; result: Uint8Array };
}

export type WorkerMethod = keyof WorkerRequests;

export type ToWorker = { seq: number; method: WorkerMethod; params: unknown } | { init: { cancel: SharedArrayBuffer } };

export type FromWorker =
  | { seq: number; ok: true; result: unknown }
  | { seq: number; ok: false; error: string; cancelled?: boolean; code?: string }
  | { progress: { op: "decompress" | "decode" | "save"; done: number; total: number; roots?: NodeDto[] } };
