// Mocha entry point loaded by VS Code's extension host (extensionTestsPath), for both runners:
// @vscode/test-electron (runElectron.js) and code-server's smoke-test driver (test/e2e/exttests.js).
// The suites are bundled by scripts/build.mjs to out/test/integration/**/*.test.js.
const path = require("path");
const fs = require("fs");
const Mocha = require("mocha");

function find(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? find(p) : e.name.endsWith(".test.js") ? [p] : [];
  });
}

exports.run = function run() {
  const mocha = new Mocha({ ui: "tdd", color: false, timeout: 60000, reporter: "spec" });
  if (process.env.MOCHA_GREP) mocha.grep(process.env.MOCHA_GREP);
  const root = path.resolve(__dirname, "../../out/test/integration");
  const files = find(root);
  if (!files.length) return Promise.reject(new Error(`no compiled suites under ${root}: run npm run build`));
  for (const f of files) mocha.addFile(f);
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      console.log(`integration: ${failures ? "FAIL" : "PASS"} (${failures} failed)`);
      if (failures) reject(new Error(`${failures} integration test(s) failed`));
      else resolve();
    });
  });
};
