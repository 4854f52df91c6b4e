#!/usr/bin/env bash
# End-to-end tests of the custom editor in a real VS Code workbench (code-server), offline:
#   1. the extension-host integration suite (test/integration) through the smoke-test driver;
#   2. Playwright UI tests of the webview (test/e2e/ui.js), with screenshots in light and dark.
# Last line: e2e: N passed, M failed
# Options: --only=integration|ui|compare|perf. E2E_THEMES (default "light dark"; also hc). E2E_BIG=stream.vmstate
# adds the performance check (test/e2e/perf.js; --only=perf defaults to /tmp/fixtures-big/*.vmstate).
# Env: E2E_PORT, E2E_OUT (screenshots and logs, default /tmp/e2e), KEEP=1 (keep the temp dir),
# SKIP_PACKAGE=1 (reuse qemu-vmstate.vsix).
E2E_NAME=e2e E2E_PORT_BASE=18300
source "$(dirname "$0")/lib/e2e-common.sh"
e2e_prepare

W=$(mktemp -d /tmp/vmstate-e2e.XXXXXX)
OUT=${E2E_OUT:-/tmp/e2e}
mkdir -p "$OUT" "$W/ws" "$W/user/User"
e2e_package
step "workspace + code-server on port $PORT"
cp samples/*.vmstate "$W/ws/"
# a damaged stream: the first 60% of a real one
head -c 900000 samples/q35-devices.vmstate > "$W/ws/truncated.vmstate"
cp test/fixtures/containers/q35-gzip.save "$W/ws/"
write_settings "$W/user/User/settings.json"
# the extension host's lag probe (src/editor/lagProbe.ts): perf.js reads the worst delays
export QEMU_VMSTATE_LAG_FILE=$W/lag.txt
start_code_server || { failed=1; finish; }

export CS_PORT=$PORT WS=$W/ws OUT_DIR=$OUT
if [ -z "$ONLY" ] || [ "$ONLY" = integration ]; then
  run_suite "extension-host integration suite (mocha, real vscode API)" node test/e2e/exttests.js
fi
if [ -z "$ONLY" ] || [ "$ONLY" = ui ]; then
  for theme in ${E2E_THEMES:-light dark}; do
    run_suite "UI test (Playwright, $theme theme)" env THEME=$theme node test/e2e/ui.js
  done
fi
if [ -z "$ONLY" ] || [ "$ONLY" = ui ] || [ "$ONLY" = compare ]; then
  for theme in ${E2E_THEMES:-light dark}; do
    run_suite "compare view UI test (Playwright, $theme theme)" env THEME=$theme node test/e2e/compare.js
  done
fi
# a timed check: only on request (npm run bench runs it), never as part of npm test
if [ "$ONLY" = perf ] || { [ -z "$ONLY" ] && [ -n "${E2E_BIG:-}" ]; }; then
  BIG=${E2E_BIG:-$(ls /tmp/fixtures-big/*.vmstate 2>/dev/null | head -1)}
  if [ -n "$BIG" ] && [ -f "$BIG" ]; then
    run_suite "performance on $(basename "$BIG") ($(( $(stat -c %s "$BIG") / 1000000 )) MB)" \
      env BIG="$BIG" CS_PGID="${PGIDS[0]}" node test/e2e/perf.js
  else
    step "performance: skipped (no big stream; make one with test/tools/make-big.sh or set E2E_BIG)"
  fi
fi
step "done; screenshots and logs in $OUT"
cp "$W/code-server.log" "$OUT/" 2>/dev/null
finish
