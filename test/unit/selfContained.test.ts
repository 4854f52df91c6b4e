// A newcomer's clone has no ../shared beside it (CI has one, for its own tools): nothing the tests,
// the sources, the scripts or CI run may reach a folder outside the repository by a relative path
// or name /work/shared. Imports of the project's own src/shared (spelled "../shared/protocol" from
// src/editor) stay inside and are fine: each relative path is resolved from where it is used.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { ROOT } from "./helpers";

const DIRS = ["test", "src", "scripts", ".ci", "webview"];
const EXT = /\.(ts|js|mjs|cjs|sh|py|json)$|^run$/;

function files(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules" && e.name !== "fixtures") files(p, out);
    } else if (EXT.test(e.name)) out.push(p);
  }
  return out;
}

test("nothing under test/, src/, scripts/, .ci/ or webview/ reads ../shared (outside the repository)", () => {
  const problems: string[] = [];
  let scanned = 0;
  for (const d of DIRS) {
    if (!fs.existsSync(path.join(ROOT, d))) continue;
    for (const f of files(path.join(ROOT, d))) {
      scanned++;
      if (f.endsWith("selfContained.test.ts")) continue; // names what it looks for
      const text = fs.readFileSync(f, "utf8");
      const rel = path.relative(ROOT, f);
      if (/\/work\/shared\b/.test(text)) problems.push(`${rel}: names /work/shared`);
      // scripts run from the repository root; modules resolve from their own folder: both bases
      const bases = /\.(sh|py)$|^run$/.test(path.basename(f)) ? [path.dirname(f), ROOT] : [path.dirname(f)];
      for (const m of text.matchAll(/(?:\.\.\/)+shared\b/g))
        for (const b of bases) {
          const to = path.resolve(b, m[0]);
          if (to !== ROOT && !to.startsWith(ROOT + path.sep)) problems.push(`${rel}: "${m[0]}" is ${to}`);
        }
    }
  }
  assert.ok(scanned > 100, `scanned ${scanned} files`);
  assert.deepEqual(problems, []);
});
