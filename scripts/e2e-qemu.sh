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
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ONLY=""
for a in "$@"; do case "$a" in --only=*) ONLY=${a#--only=} ;; *) echo "unknown option $a" >&2; exit 2 ;; esac; done
PORT=${E2E_PORT:-$((19700 + RANDOM % 200))}
T0=$(date +%s)
step() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }
passed=0; failed=0
finish() { echo "e2e-qemu: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

for need in /usr/bin/chromium /usr/bin/dbus-daemon /usr/bin/qemu-system-x86_64; do
  [ -x "$need" ] || { echo "missing $need (apt-get install chromium dbus qemu-system-x86)"; failed=1; finish; }
done
[ -x node_modules/.bin/vsce ] && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund >/dev/null

step "node 24 + code-server (cached)"
( source scripts/e2e-env.sh ) || { failed=1; finish; }
source scripts/e2e-env.sh
set +e

W=$(mktemp -d /tmp/vmstate-e2e-qemu.XXXXXX)
OUT=${E2E_OUT:-/tmp/e2e-qemu}
mkdir -p "$OUT" "$W/ws/.vscode" "$W/user/User" "$W/exts"
PGIDS=()
DEMO_SUPERVISOR=""
cleanup() {
  [ -n "$DEMO_SUPERVISOR" ] && kill "$DEMO_SUPERVISOR" 2>/dev/null
  for p in "${PGIDS[@]}"; do kill -- "-$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PGIDS[@]}"; do kill -9 -- "-$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] && { echo "kept $W"; return; }
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${SKIP_PACKAGE:-}" ] || [ ! -f qemu-vmstate.vsix ]; then
  step "build + package the extension"
  if ! npm run -s package >"$W/package.log" 2>&1; then tail -30 "$W/package.log"; failed=1; finish; fi
else
  step "build (reusing qemu-vmstate.vsix)"
  npm run -s build >"$W/package.log" 2>&1 || { tail -30 "$W/package.log"; failed=1; finish; }
fi

step "demo environment (scripts/demo-env.sh)"
DEMO=$(bash scripts/demo-env.sh "$W/ws/.vscode/settings.json" --parent $$ --dir "$W/demo") || { failed=1; finish; }
eval "$DEMO"
[ -n "$DEMO_QMP" ] || { echo "the demo has no QEMU"; failed=1; finish; }
cat "$W/ws/.vscode/settings.json"

step "code-server on port $PORT"
cat > "$W/user/User/settings.json" <<JSON
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "chat.disableAIFeatures": true,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "git.openRepositoryInParentFolders": "never",
  "workbench.tips.enabled": false,
  "files.simpleDialog.enable": true
}
JSON
PATH=$N24/bin:$PATH "$CS" --config "$W/config.yaml" --user-data-dir "$W/user" --extensions-dir "$W/exts" \
  --install-extension "$ROOT/qemu-vmstate.vsix" >"$W/install.log" 2>&1
setsid env PATH=$N24/bin:$PATH VMSTATE_E2E_QMP="$DEMO_QMP" VMSTATE_E2E_QMP_INCOMING="$DEMO_QMP_INCOMING" VMSTATE_E2E_BUS="$DEMO_BUS" \
  "$CS" --config "$W/config.yaml" --bind-addr "127.0.0.1:$PORT" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  --vscode-option enable-smoke-test-driver --reconnection-grace-time 2 \
  --user-data-dir "$W/user" --extensions-dir "$W/exts" >"$W/code-server.log" 2>&1 </dev/null & PGIDS+=($!)
# --reconnection-grace-time: QEMU's QMP socket serves one client at a time, and a closed page's
# extension host (holding its QMP connection) would otherwise live on for 3 hours
for i in $(seq 150); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" || { tail -20 "$W/code-server.log"; failed=1; finish; }

export CS_PORT=$PORT WS=$W/ws OUT_DIR=$OUT USER_SETTINGS=$W/user/User/settings.json QMP=$DEMO_QMP BUS=$DEMO_BUS
# UI first: it needs demo-vm as the demo starts it (the suite captures it, leaving it postmigrate)
if [ -z "$ONLY" ] || [ "$ONLY" = ui ]; then
  for theme in ${E2E_THEMES:-light dark}; do
    step "QEMU view (Playwright, $theme theme)"
    if THEME=$theme timeout 300 node test/e2e/qemu.js; then passed=$((passed+1)); else failed=$((failed+1)); fi
    sleep 4 # the closed page's extension host lets go of the QMP socket
  done
fi
if [ -z "$ONLY" ] || [ "$ONLY" = integration ]; then
  step "extension-host QEMU suite (mocha, real vscode API)"
  if EXT_TESTS=$ROOT/test/integration/qemuIndex.js TIMEOUT_MS=180000 node test/e2e/exttests.js; then passed=$((passed+1)); else failed=$((failed+1)); fi
fi
step "done; screenshots in $OUT"
cp "$W/code-server.log" "$OUT/code-server.log" 2>/dev/null
cp "$W"/demo/*.log "$OUT/" 2>/dev/null
finish
