// JSON text exactly as Python's json module writes it with indent=4, separators=(',', ': ')
// and ensure_ascii (what QEMU's analyze-migration.py prints), written as it is made: no tree of
// values in between, bytes straight into a growing buffer (`vmstate dump` of a q35 machine is
// ~20,000 fields; building a dict of strings first cost more than decoding them).

/** Strings with nothing to escape (nearly all of a dump): printable ASCII but the quote and the backslash. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

export function escape(s: string): string {
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

/** ASCII codes of the two lowercase hex digits of each byte value (high digit, low digit). */
const HEX_HI = new Uint8Array(256);
const HEX_LO = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  HEX_HI[i] = "0123456789abcdef".charCodeAt(i >> 4);
  HEX_LO[i] = "0123456789abcdef".charCodeAt(i & 15);
}

const QUOTE = 0x22;
const SPACE = 0x20;

/**
 * Writes one JSON value (dicts and lists nested through begin/end) in Python's layout. A dict's
 * entries are key() then one value; a container with no entries comes out as {} or [].
 */
export class PyJsonWriter {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  /** per open container: its opening byte, and how many entries it has so far */
  private openers: number[] = [];
  private counts: number[] = [];
  /** a key was just written: the next value follows it on the same line */
  private afterKey = false;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  /** Text known to be ASCII (JSON punctuation, escaped strings). */
  private ascii(s: string): void {
    this.room(s.length);
    const b = this.buf;
    let p = this.len;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.len = p;
  }

  private newline(level: number): void {
    const n = 1 + 4 * level;
    this.room(n);
    this.buf[this.len] = 0x0a;
    this.buf.fill(SPACE, this.len + 1, this.len + n);
    this.len += n;
  }

  /** Where a value or key starts: after its key, or as the container's next entry on a new line. */
  private entry(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    const depth = this.counts.length;
    if (depth === 0) return;
    this.room(1);
    this.buf[this.len++] = this.counts[depth - 1]!++ === 0 ? this.openers[depth - 1]! : 0x2c;
    this.newline(depth);
  }

  beginDict(): void {
    this.entry();
    this.openers.push(0x7b);
    this.counts.push(0);
  }

  beginList(): void {
    this.entry();
    this.openers.push(0x5b);
    this.counts.push(0);
  }

  end(): void {
    const opener = this.openers.pop()!;
    const count = this.counts.pop()!;
    const closer = opener === 0x7b ? 0x7d : 0x5d;
    if (count === 0) {
      this.room(2);
      this.buf[this.len++] = opener;
      this.buf[this.len++] = closer;
      return;
    }
    this.newline(this.counts.length);
    this.room(1);
    this.buf[this.len++] = closer;
  }

  key(k: string): void {
    this.entry();
    this.ascii(escape(k));
    this.ascii(": ");
    this.afterKey = true;
  }

  string(s: string): void {
    this.entry();
    this.ascii(escape(s));
  }

  bool(v: boolean): void {
    this.entry();
    this.ascii(v ? "true" : "false");
  }

  /** "0x" and two hex digits per byte of b[from, to), big-endian as the bytes are: an integer field. */
  hexInt(b: Uint8Array, from: number, to: number): void {
    this.entry();
    this.room(4 + 2 * (to - from));
    const out = this.buf;
    let p = this.len;
    out[p++] = QUOTE;
    out[p++] = 0x30;
    out[p++] = 0x78;
    for (let i = from; i < to; i++) {
      const x = b[i]!;
      out[p++] = HEX_HI[x]!;
      out[p++] = HEX_LO[x]!;
    }
    out[p++] = QUOTE;
    this.len = p;
  }

  /** Two hex digits per byte of b[from, to), separated by spaces: a buffer field. */
  hexBytes(b: Uint8Array, from: number, to: number): void {
    this.entry();
    this.room(2 + 3 * (to - from));
    const out = this.buf;
    let p = this.len;
    out[p++] = QUOTE;
    for (let i = from; i < to; i++) {
      if (i > from) out[p++] = SPACE;
      const x = b[i]!;
      out[p++] = HEX_HI[x]!;
      out[p++] = HEX_LO[x]!;
    }
    out[p++] = QUOTE;
    this.len = p;
  }

  /** The text so far (all ASCII: ensure_ascii escaped everything else). */
  text(): string {
    return new TextDecoder().decode(this.buf.subarray(0, this.len));
  }
}
