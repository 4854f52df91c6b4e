// Small byte and text helpers that the editor, the CLI, the bus view and the webview all use: one
// copy each. Pure (no Node, no DOM), so every layer may import it, the webview bundle included.

/** An offset or size as the messages print it: 0x1f. */
export function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** Bytes as lower-case hex digits, two a byte, joined by `sep` ("" or " "). */
export function toHex(b: Uint8Array, sep = ""): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (i && sep ? sep : "") + b[i]!.toString(16).padStart(2, "0");
  return s;
}

export interface HexdumpOptions {
  /** Bytes a line (16). */
  perLine?: number;
  /** An extra space before this byte of each line (8; 0 for none). */
  gapAt?: number;
  /** Written before each offset ("" ; "+" for blob-relative offsets). */
  offsetPrefix?: string;
  /** At least this many hex digits in the offsets (8). */
  minDigits?: number;
  /** The text column between bars, |like this| (true), or after a space. */
  bars?: boolean;
}

/** The lines of a hex + text dump: offset, bytes in hex, printable ASCII (others as "."). */
export function hexdumpLines(b: Uint8Array, o: HexdumpOptions = {}): string[] {
  const perLine = o.perLine ?? 16;
  const gapAt = o.gapAt ?? 8;
  const digits = Math.max(o.minDigits ?? 8, Math.max(0, b.length - 1).toString(16).length);
  const lines: string[] = [];
  for (let off = 0; off < b.length; off += perLine) {
    const row = b.subarray(off, off + perLine);
    let hexText = "";
    let text = "";
    for (let i = 0; i < perLine; i++) {
      if (gapAt && i === gapAt) hexText += " ";
      const v = row[i];
      hexText += v === undefined ? "   " : v.toString(16).padStart(2, "0") + " ";
      if (v !== undefined) text += v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : ".";
    }
    lines.push(
      `${o.offsetPrefix ?? ""}${off.toString(16).padStart(digits, "0")}  ${hexText} ${o.bars === false ? text : `|${text}|`}`,
    );
  }
  return lines;
}

const utf8Fatal = new TextDecoder("utf-8", { fatal: true });

/** The text, or undefined when the bytes are not valid UTF-8 (no U+FFFD substitution). */
export function utf8Strict(b: Uint8Array): string | undefined {
  try {
    return utf8Fatal.decode(b);
  } catch {
    return undefined;
  }
}

export function isUtf8(b: Uint8Array): boolean {
  return utf8Strict(b) !== undefined;
}

/**
 * A copy in its own exactly-sized ArrayBuffer, for posting to a webview or another thread. The
 * source may be a view of a larger shared page, and for a Node Buffer even .slice() is a view:
 * its .buffer would carry the whole page.
 */
export function exactCopy(b: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return copy.buffer;
}

/** "Go to offset" input: decimal or 0x hex, "_" separators allowed; undefined unless inside [0, size). */
export function parseOffset(text: string, size: number): number | undefined {
  const t = text.trim().replace(/_/g, "");
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? parseInt(t, 10) : NaN;
  return Number.isSafeInteger(n) && n >= 0 && n < Math.max(size, 1) ? n : undefined;
}
