// Mocha entry point for the QEMU view's extension-host suite (scripts/e2e-qemu.sh runs it
// through test/e2e/exttests.js with EXT_TESTS pointing here).
exports.run = () => require("./oneSuite").runOneSuite("qemu", "QEMU");
