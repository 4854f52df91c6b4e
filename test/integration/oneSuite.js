// Mocha entry points for one extension-host suite alone (busIndex.js, qemuIndex.js): what the
// scripts/e2e-*.sh runs point EXT_TESTS at. The suites are bundled by scripts/build.mjs to
// out/test/integration/NAME.test.js.
const path = require("path");
const fs = require("fs");
const Mocha = require("mocha");

/** Runs out/test/integration/NAME.test.js; LABEL names it in the result line and the error. */
exports.runOneSuite = function runOneSuite(name, label) {
  const mocha = new Mocha({ ui: "tdd", color: false, timeout: 60000, reporter: "spec" });
  if (process.env.MOCHA_GREP) mocha.grep(process.env.MOCHA_GREP);
  const file = path.resolve(__dirname, `../../out/test/integration/${name}.test.js`);
  if (!fs.existsSync(file)) return Promise.reject(new Error(`${file} is missing: run npm run build`));
  mocha.addFile(file);
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      console.log(`integration (${name}): ${failures ? "FAIL" : "PASS"} (${failures} failed)`);
      if (failures) reject(new Error(`${failures} ${label} integration test(s) failed`));
      else resolve();
    });
  });
};
