// Mocha entry point for the QEMU view's extension-host suite (scripts/e2e-qemu.sh runs it
// through test/e2e/exttests.js with EXT_TESTS pointing here). The suite is bundled by
// scripts/build.mjs to out/test/integration/qemu.test.js.
const path = require("path");
const fs = require("fs");
const Mocha = require("mocha");

exports.run = function run() {
  const mocha = new Mocha({ ui: "tdd", color: false, timeout: 60000, reporter: "spec" });
  if (process.env.MOCHA_GREP) mocha.grep(process.env.MOCHA_GREP);
  const file = path.resolve(__dirname, "../../out/test/integration/qemu.test.js");
  if (!fs.existsSync(file)) return Promise.reject(new Error(`${file} is missing: run npm run build`));
  mocha.addFile(file);
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      console.log(`integration (qemu): ${failures ? "FAIL" : "PASS"} (${failures} failed)`);
      if (failures) reject(new Error(`${failures} QEMU integration test(s) failed`));
      else resolve();
    });
  });
};
