// Safe, collision-free file names for helper Ids and RAM block names (which come from the stream:
// untrusted). Linear in the total length of the names, whatever they are (20,000 equal Ids, one
// 200 KB Id): see docs/LIMITS.md.

const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;
/** Bytes of UTF-8 kept from a name: well under the common 255-byte limit, with room for "~N.bin". */
const MAX_NAME_BYTES = 180;

/** The longest prefix of `s` that is at most `max` bytes of UTF-8, cut at a code point boundary. */
function clipUtf8(s: string, max: number): string {
  // only the first `max` UTF-16 units can matter: each is at least one byte of UTF-8
  const head = s.length > max ? s.slice(0, max) : s;
  const bytes = new TextEncoder().encode(head);
  if (bytes.length <= max && head.length === s.length) return s;
  let end = Math.min(max, bytes.length);
  // back off to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx)
  while (end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end)).replace(/\uFFFD$/, "");
}

function sanitize(id: string): string {
  let s = clipUtf8(id, 4 * MAX_NAME_BYTES)
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069/\\:*?"<>|]/g, "_")
    .replace(/^[.\s]+/, "_")
    .replace(/[.\s]+$/, "");
  if (s === "" || RESERVED.test(s)) s = `_${s}`;
  return clipUtf8(s, MAX_NAME_BYTES);
}

/** One file name per Id (same order), ending in ".bin"; unique even for duplicate or colliding Ids. */
export function safeHelperFileNames(ids: string[]): string[] {
  const used = new Set<string>();
  /** Next suffix to try per base name: duplicates cost O(1) each, not a scan from ~2. */
  const next = new Map<string, number>();
  return ids.map((id) => {
    const base = sanitize(id);
    let name = `${base}.bin`;
    if (used.has(name.toLowerCase())) {
      const key = base.toLowerCase();
      let k = next.get(key) ?? 2;
      while (used.has(`${base}~${k}.bin`.toLowerCase())) k++;
      name = `${base}~${k}.bin`;
      next.set(key, k + 1);
    }
    used.add(name.toLowerCase());
    return name;
  });
}

/** A manifest.json entry: `vmstate helpers FILE --extract DIR` and the editor's Export All write the same. */
export interface HelperManifestEntry {
  id: string;
  file: string;
  size: number;
  offset: number;
  sha256: string;
}

/** manifest.json's bytes: pretty JSON and a final newline (the RAM manifest too). */
export function manifestBytes(manifest: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
}

/**
 * Writes each helper's blob under its safe file name, then manifest.json, through `put` (the
 * caller's safe writer: the CLI's and the editor's differ only there). Returns the manifest.
 */
export async function writeHelperFiles(
  helpers: readonly { id: string; size: number; offset: number }[],
  blob: (index: number) => Uint8Array | Promise<Uint8Array>,
  sha256: (bytes: Uint8Array, index: number) => string,
  put: (name: string, bytes: Uint8Array) => void | Promise<void>,
): Promise<HelperManifestEntry[]> {
  const names = safeHelperFileNames(helpers.map((h) => h.id));
  const manifest: HelperManifestEntry[] = [];
  for (let i = 0; i < helpers.length; i++) {
    const h = helpers[i]!;
    const bytes = await blob(i);
    await put(names[i]!, bytes);
    manifest.push({ id: h.id, file: names[i]!, size: h.size, offset: h.offset, sha256: sha256(bytes, i) });
  }
  await put("manifest.json", manifestBytes(manifest));
  return manifest;
}
