// Safe, collision-free file names for helper Ids (which come from the stream: untrusted).

const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

function sanitize(id: string): string {
  let s = id
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, "_")
    .replace(/^[.\s]+/, "_")
    .replace(/[.\s]+$/, "");
  if (s === "" || RESERVED.test(s)) s = `_${s}`;
  // keep names well under common 255-byte limits (Ids may be 255 bytes of UTF-8)
  const enc = new TextEncoder();
  while (enc.encode(s).length > 180) s = Array.from(s).slice(0, -1).join("");
  return s;
}

/** One file name per Id (same order), ending in ".bin"; unique even for duplicate or colliding Ids. */
export function safeHelperFileNames(ids: string[]): string[] {
  const used = new Set<string>();
  return ids.map((id) => {
    const base = sanitize(id);
    let name = `${base}.bin`;
    for (let k = 2; used.has(name.toLowerCase()); k++) name = `${base}~${k}.bin`;
    used.add(name.toLowerCase());
    return name;
  });
}
