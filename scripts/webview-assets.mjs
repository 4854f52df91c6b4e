// Copies the codicon font and stylesheet into dist/codicons so the packaged extension is
// self-contained (the .vsix ships without node_modules).
import { cpSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const src = join(dirname(require.resolve("@vscode/codicons/package.json")), "dist");
mkdirSync("dist/codicons", { recursive: true });
for (const f of ["codicon.css", "codicon.ttf"]) cpSync(join(src, f), join("dist/codicons", f));
