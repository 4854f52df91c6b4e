// Runs the integration suite in desktop VS Code through @vscode/test-electron (machines with
// VS Code or internet). VSCODE_EXECUTABLE=/path/to/code skips the download.
const path = require("path");
const os = require("os");
const fs = require("fs");
const { runTests } = require("@vscode/test-electron");

(async () => {
  const root = path.resolve(__dirname, "../..");
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-it-"));
  for (const f of fs.readdirSync(path.join(root, "samples")))
    fs.copyFileSync(path.join(root, "samples", f), path.join(ws, f));
  try {
    await runTests({
      // the extension as the suites build it (scripts/build.mjs: test/integration/host/extension.ts)
      extensionDevelopmentPath: path.join(root, "out", "test-extension"),
      extensionTestsPath: path.join(__dirname, "index.js"),
      launchArgs: [ws, "--disable-extensions", "--disable-workspace-trust"],
      ...(process.env.VSCODE_EXECUTABLE ? { vscodeExecutablePath: process.env.VSCODE_EXECUTABLE } : {}),
    });
  } catch (e) {
    console.error("integration (electron): failed:", e && e.message ? e.message : e);
    process.exit(1);
  }
})();
