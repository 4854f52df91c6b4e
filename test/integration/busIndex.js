// Mocha entry point for the bus explorer's extension-host suite alone (scripts/e2e-bus.sh runs it
// through test/e2e/exttests.js with EXT_TESTS pointing here).
exports.run = () => require("./oneSuite").runOneSuite("bus", "bus");
