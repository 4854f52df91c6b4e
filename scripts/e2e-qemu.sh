#!/usr/bin/env bash
# End-to-end tests of the "QEMU" view in a real VS Code workbench (code-server), offline, against
# the demo environment of scripts/demo-env.sh (private bus + three helpers, a paused QEMU demo-vm
# and a QEMU demo-incoming waiting with -incoming defer, real QEMU 7.2 TCG):
#   1. Playwright (test/e2e/qemu.js): the VM State container with the QEMU view, connect, the
#      dbus-vmstate object linked to the D-Bus helpers view; screenshots in light and dark;
#   2. the extension-host suite test/integration/qemu.test.ts (real vscode API): capture into a
#      file opened in the editor, load it into demo-incoming, failures.
# Last line: e2e-qemu: N passed, M failed
# Options: --only=integration|ui. Env: E2E_THEMES (default "light dark"), E2E_PORT,
# E2E_OUT (artifacts, default /tmp/e2e-qemu), KEEP=1, SKIP_PACKAGE=1 (reuse the .vsix).
E2E_NAME=e2e-qemu E2E_PORT_BASE=19700
source "$(dirname "$0")/lib/e2e-common.sh"
e2e_need /usr/bin/dbus-daemon /usr/bin/qemu-system-x86_64
e2e_prepare

W=$(mktemp -d /tmp/vmstate-e2e-qemu.XXXXXX)
OUT=${E2E_OUT:-/tmp/e2e-qemu}
mkdir -p "$OUT" "$W/ws/.vscode" "$W/user/User"
DEMO_SUPERVISOR=""
trap '[ -n "$DEMO_SUPERVISOR" ] && kill "$DEMO_SUPERVISOR" 2>/dev/null; _e2e_cleanup' EXIT
e2e_package

step "demo environment (scripts/demo-env.sh)"
DEMO=$(bash scripts/demo-env.sh "$W/ws/.vscode/settings.json" --parent $$ --dir "$W/demo") || { failed=1; finish; }
eval "$DEMO"
[ -n "$DEMO_QMP" ] || { echo "the demo has no QEMU"; failed=1; finish; }
cat "$W/ws/.vscode/settings.json"

step "code-server on port $PORT"
write_settings "$W/user/User/settings.json"
# --reconnection-grace-time: QEMU's QMP socket serves one client at a time, and a closed page's
# extension host (holding its QMP connection) would otherwise live on for 3 hours
CS_EXTRA_ARGS="--reconnection-grace-time 2" start_code_server VMSTATE_E2E_QMP="$DEMO_QMP" \
  VMSTATE_E2E_QMP_INCOMING="$DEMO_QMP_INCOMING" VMSTATE_E2E_BUS="$DEMO_BUS" || { failed=1; finish; }

export CS_PORT=$PORT WS=$W/ws OUT_DIR=$OUT USER_SETTINGS=$W/user/User/settings.json QMP=$DEMO_QMP BUS=$DEMO_BUS
# UI first: it needs demo-vm as the demo starts it (the suite captures it, leaving it postmigrate)
if [ -z "$ONLY" ] || [ "$ONLY" = ui ]; then
  for theme in ${E2E_THEMES:-light dark}; do
    run_suite "QEMU view (Playwright, $theme theme)" env THEME=$theme timeout 300 node test/e2e/qemu.js
    sleep 4 # the closed page's extension host lets go of the QMP socket
  done
fi
if [ -z "$ONLY" ] || [ "$ONLY" = integration ]; then
  run_suite "extension-host QEMU suite (mocha, real vscode API)" \
    env EXT_TESTS="$ROOT/test/integration/qemuIndex.js" TIMEOUT_MS=180000 node test/e2e/exttests.js
fi
step "done; screenshots in $OUT"
cp "$W/code-server.log" "$OUT/code-server.log" 2>/dev/null
cp "$W"/demo/*.log "$OUT/" 2>/dev/null
finish
