// Bundles the extension host, the CLI, the webview and the unit tests with esbuild.
import { build } from "esbuild";
import { readdirSync, existsSync, rmSync, readFileSync, writeFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";

const common = { bundle: true, sourcemap: true, logLevel: "warning", legalComments: "none" };
const node = { ...common, platform: "node", target: "node20", format: "cjs" };

function entries(dir, suffix) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...entries(p, suffix));
    else if (e.name.endsWith(suffix)) out.push(p);
  }
  return out;
}

rmSync("out", { recursive: true, force: true });

// The CLI's command groups that need much code of their own (bus: dbus-next and its XML
// libraries, half the bundle; qmp; diff) are bundles of their own beside dist/cli.js, loaded by
// its `await import("./busCommand")` only when that group runs: `vmstate dump` and `inspect` start
// ~10 ms sooner (V8 compiles a third of the code). Each is whole (shared modules are copied into
// it), so classes that cross over are branded (args.ts UsageError).
const CLI_GROUPS = { busCommand: "cli-bus", qmpCommand: "cli-qmp", diffCommand: "cli-diff" };
const cliGroups = {
  name: "cli-groups",
  setup(b) {
    b.onResolve({ filter: /^\.\/(busCommand|qmpCommand|diffCommand)$/ }, (a) =>
      a.importer.endsWith(join("src", "cli", "commands.ts"))
        ? { path: `./${CLI_GROUPS[a.path.slice(2)]}.js`, external: true }
        : undefined,
    );
  },
};
const jobs = [
  build({
    ...node,
    entryPoints: { cli: "src/cli/main.ts" },
    outdir: "dist",
    banner: { js: "#!/usr/bin/env node" },
    external: ["x11", "usocket"],
    plugins: [cliGroups],
  }),
  ...Object.entries(CLI_GROUPS).map(([mod, out]) =>
    build({ ...node, entryPoints: { [out]: `src/cli/${mod}.ts` }, outdir: "dist", external: ["x11", "usocket"] }),
  ),
  // the helper thread of vmstate diff and the compare view (decodes one file, compares half the RAM)
  build({ ...node, entryPoints: { diffWorker: "src/io/diffWorkerMain.ts" }, outdir: "dist" }),
];
if (existsSync("src/extension.ts")) {
  // x11: an optional dbus-next transport we never use (see STYLE.md)
  jobs.push(
    build({
      ...node,
      entryPoints: { extension: "src/extension.ts" },
      outdir: "dist",
      external: ["vscode", "x11", "usocket"],
    }),
  );
  // the compare view's worker thread (decodes and compares off the extension host's thread)
  jobs.push(build({ ...node, entryPoints: { compareWorker: "src/editor/compareWorker.ts" }, outdir: "dist" }));
  // the editor's decoding worker thread (new Worker(dist/docWorker.js)): no vscode in it
  jobs.push(build({ ...node, entryPoints: { docWorker: "src/editor/worker/docWorker.ts" }, outdir: "dist" }));
}
if (existsSync("webview/main.ts")) {
  jobs.push(
    build({
      ...common,
      platform: "browser",
      target: "es2022",
      format: "iife",
      entryPoints: { webview: "webview/main.ts" },
      outdir: "dist",
    }),
  );
  if (existsSync("webview/compare.ts"))
    jobs.push(
      build({
        ...common,
        platform: "browser",
        target: "es2022",
        format: "iife",
        entryPoints: { compare: "webview/compare.ts" },
        outdir: "dist",
      }),
    );
}
const tests = [...entries("test/unit", ".test.ts"), ...entries("test/integration", ".test.ts")];
if (tests.length) {
  jobs.push(
    build({
      ...node,
      entryPoints: tests,
      outdir: "out",
      outbase: ".",
      external: ["vscode", "x11", "usocket", "mocha"],
    }),
  );
}
const TEST_EXT = "out/test-extension";
if (existsSync("test/integration/host/extension.ts")) {
  // The integration suites' build of the extension (test/integration/host/extension.ts: the
  // shipped one plus the qemuVmstate._test.* commands and answers to modal questions), loaded as
  // the development extension from out/test-extension: package.json as is; media, test and every other
  // dist file linked. dist/extension.js, what the .vsix ships, has none of it.
  jobs.push(
    build({
      ...node,
      entryPoints: { extension: "test/integration/host/extension.ts" },
      outdir: join(TEST_EXT, "dist"),
      external: ["vscode", "x11", "usocket"],
    }),
  );
}
await Promise.all(jobs);
// codicons for the webview (copied into dist/codicons)
if (existsSync("scripts/webview-assets.mjs")) await import("./webview-assets.mjs");
if (existsSync(join(TEST_EXT, "dist", "extension.js"))) {
  writeFileSync(join(TEST_EXT, "package.json"), readFileSync("package.json"));
  symlinkSync("../../media", join(TEST_EXT, "media"));
  // the suites find their fixtures under the extension's folder
  symlinkSync("../../test", join(TEST_EXT, "test"));
  for (const f of readdirSync("dist"))
    if (f !== "extension.js" && f !== "extension.js.map")
      symlinkSync(join("../../../dist", f), join(TEST_EXT, "dist", f));
}
