// A hex + text preview of a blob, for when the editor's blob view is not available.
import { hexdumpLines } from "../format/bytes";

export const HEXDUMP_MAX_BYTES = 256 * 1024;

export function hexdump(bytes: Uint8Array, maxBytes = HEXDUMP_MAX_BYTES): string {
  const lines = hexdumpLines(bytes.subarray(0, maxBytes));
  if (bytes.length > maxBytes)
    lines.push(`... ${bytes.length - maxBytes} more bytes not shown (export the blob to see all of it)`);
  if (!bytes.length) lines.push("(empty)");
  return lines.join("\n") + "\n";
}
