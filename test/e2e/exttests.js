// Runs the integration suite (test/integration/index.js) inside code-server's Node extension host,
// with the real vscode API, through the smoke-test driver payload. code-server must be started
// with --vscode-option enable-smoke-test-driver, or the payload is silently ignored.
const path = require("path");
const { launch } = require("./browser");

const PORT = process.env.CS_PORT;
const AUTH = `127.0.0.1:${PORT}`;
const root = path.resolve(__dirname, "../..");
// EXT_TESTS: another mocha entry point (scripts/e2e-bus.sh runs test/integration/busIndex.js)
const tests = process.env.EXT_TESTS
  ? path.resolve(process.env.EXT_TESTS)
  : path.join(root, "test", "integration", "index.js");

(async () => {
  const t0 = Date.now();
  const browser = await launch();
  const page = await browser.newPage();
  const exit = new Promise((resolve) => {
    void page.exposeFunction("codeAutomationLog", (type, args) => {
      const text = (Array.isArray(args) ? args : [args]).map(String).join(" ");
      if (process.env.VERBOSE || !/^(%c|\s+at )/.test(text)) console.log(`  [exthost ${type}] ${text.slice(0, 600)}`);
    });
    void page.exposeFunction("codeAutomationExit", (code) => resolve(code));
  });
  const payload = [
    // the extension as the suites build it (scripts/build.mjs: test/integration/host/extension.ts)
    ["extensionDevelopmentPath", `vscode-remote://${AUTH}${path.join(root, "out", "test-extension")}`],
    ["extensionTestsPath", `vscode-remote://${AUTH}${tests}`],
  ];
  if (process.env.EXT_ENV) payload.push(["extensionEnvironment", process.env.EXT_ENV]);
  await page.goto(
    `http://${AUTH}/?folder=${encodeURIComponent(process.env.WS)}&payload=${encodeURIComponent(JSON.stringify(payload))}`,
  );
  const code = await Promise.race([
    exit,
    new Promise((r) => setTimeout(() => r("timeout"), Number(process.env.TIMEOUT_MS || 240000))),
  ]);
  console.log(`integration (code-server): codeAutomationExit(${code}) after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  await browser.close();
  process.exit(code === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
