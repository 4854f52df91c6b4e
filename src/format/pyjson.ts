// JSON text exactly as Python's json module writes it with indent=4, separators=(',', ': ')
// and ensure_ascii (what QEMU's analyze-migration.py prints).

export type PyValue = string | boolean | null | PyValue[] | PyDict | PyLazyList;

/** A list whose items are made while the JSON is written (huge raw arrays): no array of them in memory. */
export class PyLazyList {
  constructor(
    readonly length: number,
    readonly items: () => Iterable<PyValue>,
  ) {}
}
/** Insertion-ordered; a Map keeps keys like "0" in order where a plain object would not. */
export type PyDict = Map<string, PyValue>;

function escape(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += "\\\\";
        break;
      case 0x0a:
        out += "\\n";
        break;
      case 0x0d:
        out += "\\r";
        break;
      case 0x09:
        out += "\\t";
        break;
      case 0x08:
        out += "\\b";
        break;
      case 0x0c:
        out += "\\f";
        break;
      default:
        // UTF-16 code units, as Python emits surrogate pairs for astral characters
        out += c < 0x20 || c > 0x7e ? "\\u" + c.toString(16).padStart(4, "0") : s[i];
    }
  }
  return out + '"';
}

export function pyJson(v: PyValue, indent = 0): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return escape(v);
  const pad = " ".repeat(indent + 4);
  const end = " ".repeat(indent);
  if (v instanceof PyLazyList) {
    if (v.length === 0) return "[]";
    const parts: string[] = [];
    let block: string[] = [];
    for (const x of v.items()) {
      block.push(pad + pyJson(x, indent + 4));
      if (block.length === 4096) {
        parts.push(block.join(",\n"));
        block = [];
      }
    }
    if (block.length) parts.push(block.join(",\n"));
    return "[\n" + parts.join(",\n") + "\n" + end + "]";
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return "[\n" + v.map((x) => pad + pyJson(x, indent + 4)).join(",\n") + "\n" + end + "]";
  }
  if (v.size === 0) return "{}";
  const parts: string[] = [];
  for (const [k, x] of v) parts.push(pad + escape(k) + ": " + pyJson(x, indent + 4));
  return "{\n" + parts.join(",\n") + "\n" + end + "}";
}
