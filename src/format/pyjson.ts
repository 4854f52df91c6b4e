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

/** Strings with nothing to escape (nearly all of a dump): printable ASCII but the quote and the backslash. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function escape(s: string): string {
  if (PLAIN.test(s)) return '"' + s + '"';
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
  const out = new Out();
  write(v, indent, out);
  return out.text();
}

/** Pieces of text, joined 4096 at a time (huge lists would keep millions of small strings otherwise). */
class Out {
  private done: string[] = [];
  private cur: string[] = [];
  push(s: string): void {
    this.cur.push(s);
    if (this.cur.length === 4096) {
      this.done.push(this.cur.join(""));
      this.cur = [];
    }
  }
  text(): string {
    this.done.push(this.cur.join(""));
    this.cur = [];
    return this.done.join("");
  }
}

/** Appends v's text to `out` (one join at the end instead of a joined string per level). */
function write(v: PyValue, indent: number, out: Out): void {
  if (v === null) out.push("null");
  else if (typeof v === "boolean") out.push(v ? "true" : "false");
  else if (typeof v === "string") out.push(escape(v));
  else if (v instanceof PyLazyList || Array.isArray(v)) {
    if (v.length === 0) {
      out.push("[]");
      return;
    }
    const pad = "\n" + " ".repeat(indent + 4);
    let first = true;
    for (const x of v instanceof PyLazyList ? v.items() : v) {
      out.push(first ? "[" + pad : "," + pad);
      first = false;
      write(x, indent + 4, out);
    }
    out.push("\n" + " ".repeat(indent) + "]");
  } else {
    if (v.size === 0) {
      out.push("{}");
      return;
    }
    const pad = "\n" + " ".repeat(indent + 4);
    let first = true;
    for (const [k, x] of v) {
      out.push((first ? "{" : ",") + pad + escape(k) + ": ");
      first = false;
      write(x, indent + 4, out);
    }
    out.push("\n" + " ".repeat(indent) + "}");
  }
}
