// The document model: an original stream plus a list of structural edits. Pure: the editor and the
// CLI both use it; saving copies unchanged spans of the original and writes only what changed.
import { decodeStream } from "../format/decode";
import type { Chunk } from "../format/encode";
import type { ByteSource, DecodedStream } from "../format/types";
import { ChunkSource, rebase } from "./chunkSource";
import { applyEdit, checkEdit, type CheckedEdit, type Edit, type EditTarget } from "./edits";
import { pruneTo, recordOf, redecodeRecord } from "./incremental";

interface State {
  src: ByteSource;
  decoded: DecodedStream;
  /** Chunks over the original source that make this state (undefined for the original). */
  chunks?: Chunk[];
  /** How long decoding this state took (ms). */
  decodeMs: number;
  /** Whether only the edited record was decoded again (see incremental.ts). */
  incremental?: boolean;
}

/** Undone states kept for redo (each holds only what its edit changed). */
const MAX_UNDONE = 64;

function timedDecode(src: ByteSource): { decoded: DecodedStream; decodeMs: number } {
  const t0 = performance.now();
  const decoded = decodeStream(src);
  return { decoded, decodeMs: performance.now() - t0 };
}

export class StreamModel {
  private states: State[];
  private list: Edit[] = [];

  /** `first`: the base already decoded (the editor's worker decodes it with progress and cancel). */
  constructor(
    readonly base: ByteSource,
    first?: { decoded: DecodedStream; decodeMs: number },
  ) {
    this.states = [{ src: base, ...(first ?? timedDecode(base)) }];
  }

  get edits(): readonly Edit[] {
    return this.list;
  }

  private get top(): State {
    return this.states[this.states.length - 1]!;
  }

  /** The stream as edited. */
  get source(): ByteSource {
    return this.top.src;
  }

  get decoded(): DecodedStream {
    return this.top.decoded;
  }

  /** Time the current state's decode took (ms). */
  get decodeMs(): number {
    return this.top.decodeMs;
  }

  get original(): DecodedStream {
    return this.states[0]!.decoded;
  }

  /**
   * Checks `edit` against the current state (checkEdit: what it changes, found once; the warnings
   * to confirm; the inverse edit). Throws EditError when it cannot be applied.
   */
  check(edit: Edit): CheckedEdit {
    return checkEdit(this.decoded, this.source, edit);
  }

  /**
   * Apply one more edit, or one `check` gave for the current state (what it changes is not
   * looked up again). Throws EditError (and changes nothing) when it cannot be applied.
   */
  apply(edit: Edit | CheckedEdit): void {
    const checked = "target" in edit ? edit : undefined;
    const e = checked ? checked.edit : (edit as Edit);
    const next = this.step(this.top, e, checked?.target);
    this.list.push(e);
    this.states.push(next);
    this.undone = [];
  }

  /**
   * The states the last setEdits dropped (undo), with the edit and the state each was made from:
   * a redo of the same edits over the same state takes them back instead of computing them again.
   */
  private undone: { from: State; edit: Edit; state: State }[] = [];

  /** Make the edit list `edits` (undo, redo, backup restore): shared prefixes are not recomputed. */
  setEdits(edits: readonly Edit[]): void {
    let k = 0;
    while (k < edits.length && k < this.list.length && edits[k] === this.list[k]) k++;
    const states = this.states.slice(0, k + 1);
    const list = this.list.slice(0, k);
    const dropped = this.list
      .slice(k)
      .map((edit, i) => ({ from: this.states[k + i]!, edit, state: this.states[k + i + 1]! }));
    for (let i = k; i < edits.length; i++) {
      const from = states[states.length - 1]!;
      const kept = this.undone.find((u) => u.from === from && u.edit === edits[i]);
      states.push(kept ? kept.state : this.step(from, edits[i]!));
      list.push(edits[i]!);
    }
    this.states = states;
    this.list = list;
    this.undone = [...dropped, ...this.undone].filter((u) => !states.includes(u.state)).slice(0, MAX_UNDONE);
  }

  /** Whether the current state came from re-decoding only the edited record. */
  get incremental(): boolean {
    return this.top.incremental === true;
  }

  /**
   * One edit on top of `from`. The encoder walks only the record the edit touches (the rest is
   * copied by span), and only that record is decoded again, later records shifted; states share
   * every unchanged node, so memory grows with what the edits changed, not with the stream.
   * Anything the incremental path cannot vouch for is decoded whole.
   */
  private step(from: State, edit: Edit, target?: EditTarget): State {
    const t0 = performance.now();
    const k = recordOf(from.decoded, edit);
    const chunks = coalesce(
      rebase(applyEdit(k === undefined ? from.decoded : pruneTo(from.decoded, k), edit, target), from.src),
    );
    const src = new ChunkSource(this.base, chunks);
    if (k !== undefined) {
      const decoded = redecodeRecord(from.decoded, src, k);
      if (decoded) return { src, decoded, chunks, decodeMs: performance.now() - t0, incremental: true };
    }
    return { src, ...timedDecode(src), chunks };
  }

  /** What to write for a save: spans of the original to copy, and new bytes. */
  saveChunks(): Chunk[] {
    return this.top.chunks ?? [{ copy: { start: 0, end: this.base.size } }];
  }
}

/**
 * Runs of small literal chunks joined into one (the encoder writes every leaf of the edited
 * section as its own few bytes): each undo state keeps one buffer per run instead of hundreds of
 * tiny ones. Big ones (helper blobs) stay as they are, shared with the edit.
 */
function coalesce(chunks: Chunk[]): Chunk[] {
  const out: Chunk[] = [];
  let run: Uint8Array[] = [];
  const flush = () => {
    if (run.length === 1) out.push({ bytes: run[0]! });
    else if (run.length > 1) {
      const b = new Uint8Array(run.reduce((n, x) => n + x.length, 0));
      let at = 0;
      for (const x of run) {
        b.set(x, at);
        at += x.length;
      }
      out.push({ bytes: b });
    }
    run = [];
  };
  for (const c of chunks) {
    if ("bytes" in c && c.bytes.length < 4096) {
      if (c.bytes.length) run.push(c.bytes);
    } else {
      flush();
      out.push(c);
    }
  }
  flush();
  return out;
}
