import type { Span } from "./types";

/** A decoding failure at a byte offset. Section decoders throw it; the top-level loop turns it into a diagnostic. */
export class DecodeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly offset: number,
    readonly needed?: number,
    readonly available?: number,
  ) {
    super(message);
    this.name = "DecodeError";
  }

  get span(): Span {
    return { start: this.offset, end: this.offset + Math.max(1, this.needed ?? 1) };
  }
}

/** hex() lives in bytes.ts; the decoder modules import it from here. */
export { hex } from "./bytes";
