// Names from a stream (section idstrs, RAM block names, helper Ids) and from other processes
// (/proc cmdlines) are untrusted text: printed raw, an ESC sequence could rewrite the terminal and
// a newline could forge report lines. Everything the CLI prints from such sources goes through here.

/** C0 controls, DEL, C1 controls, line/paragraph separators and bidi overrides/isolates. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `s` with every control character written as a visible escape (`\x1b`, `\n`, `\u202e`), so one
 * name stays on one line and cannot send terminal control sequences. Printable text is unchanged.
 */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default: {
        const n = c.charCodeAt(0);
        return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
      }
    }
  });
}

const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text (from JSON.stringify, which already escapes C0 controls) with DEL, C1 controls and
 * bidi/separator characters escaped too: still the same JSON value, safe to print on a terminal.
 */
export function jsonForTerminal(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
