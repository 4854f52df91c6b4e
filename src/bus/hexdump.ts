// A hex + text preview of a blob, for when the editor's blob view is not available.

export const HEXDUMP_MAX_BYTES = 256 * 1024;

export function hexdump(bytes: Uint8Array, maxBytes = HEXDUMP_MAX_BYTES): string {
  const n = Math.min(bytes.length, maxBytes);
  const width = Math.max(8, n.toString(16).length);
  const lines: string[] = [];
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    let hex = "";
    let text = "";
    for (let i = 0; i < 16; i++) {
      if (i === 8) hex += " ";
      const b = row[i];
      hex += b === undefined ? "   " : b.toString(16).padStart(2, "0") + " ";
      if (b !== undefined) text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
    }
    lines.push(`${off.toString(16).padStart(width, "0")}  ${hex} |${text}|`);
  }
  if (bytes.length > n) lines.push(`... ${bytes.length - n} more bytes not shown (export the blob to see all of it)`);
  if (!bytes.length) lines.push("(empty)");
  return lines.join("\n") + "\n";
}
