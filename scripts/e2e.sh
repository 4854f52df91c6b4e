#!/usr/bin/env bash
# End-to-end tests of the custom editor in a real VS Code workbench (code-server), offline:
#   1. the extension-host integration suite (test/integration) through the smoke-test driver;
#   2. Playwright UI tests of the webview (test/e2e/ui.js), with screenshots in light and dark.
# Node 24 + code-server are cached under ~/.cache (scripts/e2e-env.sh). Last line:
#   e2e: N passed, M failed
# Options: --only=integration|ui|perf. E2E_THEMES (default "light dark"; also hc). E2E_BIG=stream.vmstate adds the
# performance check (test/e2e/perf.js; --only=perf defaults to /tmp/fixtures-big/*.vmstate). Env: E2E_PORT, E2E_OUT (artifacts dir), KEEP=1 (keep temp dir).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ONLY=""
for a in "$@"; do case "$a" in --only=*) ONLY=${a#--only=} ;; *) echo "unknown option $a" >&2; exit 2 ;; esac; done
PORT=${E2E_PORT:-$((18300 + RANDOM % 500))}
T0=$(date +%s)
step() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }
passed=0; failed=0
finish() { echo "e2e: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if ! dpkg -s chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "missing Debian package chromium (apt-get install chromium)"; failed=1; finish
  fi
fi
[ -x node_modules/.bin/vsce ] && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund >/dev/null

step "node 24 + code-server (cached)"
( source scripts/e2e-env.sh ) || { failed=1; finish; }
source scripts/e2e-env.sh
set +e

step "build + package the extension"
if ! npm run -s package >/tmp/e2e-package.$$.log 2>&1; then tail -30 /tmp/e2e-package.$$.log; failed=1; finish; fi
rm -f /tmp/e2e-package.$$.log

W=$(mktemp -d /tmp/vmstate-e2e.XXXXXX)
OUT=${E2E_OUT:-$W/artifacts}
mkdir -p "$OUT" "$W/ws" "$W/user/User" "$W/exts"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then return; fi
  if [ -n "${E2E_OUT:-}" ]; then rm -rf "$W"; else rm -rf "$W/user" "$W/exts" "$W/ws"; fi
}
trap cleanup EXIT

step "workspace + code-server on port $PORT"
cp samples/*.vmstate "$W/ws/"
# a damaged stream: the first 60% of a real one
head -c 900000 samples/q35-devices.vmstate > "$W/ws/truncated.vmstate"
cp test/fixtures/containers/q35-gzip.save "$W/ws/"
cat > "$W/user/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "chat.disableAIFeatures": true,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "git.openRepositoryInParentFolders": "never",
  "workbench.tips.enabled": false,
  "files.simpleDialog.enable": true,
  "files.autoSave": "off"
}
JSON
PATH=$N24/bin:$PATH "$CS" --config "$W/config.yaml" --user-data-dir "$W/user" --extensions-dir "$W/exts" \
  --install-extension "$ROOT/qemu-vmstate.vsix" >/dev/null 2>&1
# setsid: own process group, so cleanup also ends its children (file watcher, extension hosts)
setsid env PATH=$N24/bin:$PATH "$CS" --config "$W/config.yaml" --bind-addr "127.0.0.1:$PORT" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  --vscode-option enable-smoke-test-driver \
  --user-data-dir "$W/user" --extensions-dir "$W/exts" > "$W/code-server.log" 2>&1 & PIDS+=($!)
for i in $(seq 150); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" || { tail -20 "$W/code-server.log"; failed=1; finish; }

export CS_PORT=$PORT WS=$W/ws OUT_DIR=$OUT
if [ -z "$ONLY" ] || [ "$ONLY" = integration ]; then
  step "extension-host integration suite (mocha, real vscode API)"
  if node test/e2e/exttests.js; then passed=$((passed+1)); else failed=$((failed+1)); fi
fi
if [ -z "$ONLY" ] || [ "$ONLY" = ui ]; then
  for theme in ${E2E_THEMES:-light dark}; do
    step "UI test (Playwright, $theme theme)"
    if THEME=$theme node test/e2e/ui.js; then passed=$((passed+1)); else failed=$((failed+1)); fi
  done
fi
# a timed check: only on request (npm run bench runs it), never as part of npm test
if [ "$ONLY" = perf ] || { [ -z "$ONLY" ] && [ -n "${E2E_BIG:-}" ]; }; then
  BIG=${E2E_BIG:-$(ls /tmp/fixtures-big/*.vmstate 2>/dev/null | head -1)}
  if [ -n "$BIG" ] && [ -f "$BIG" ]; then
    step "performance on $(basename "$BIG") ($(( $(stat -c %s "$BIG") / 1000000 )) MB)"
    if BIG=$BIG CS_PGID=${PIDS[0]} node test/e2e/perf.js; then passed=$((passed+1)); else failed=$((failed+1)); fi
  else
    step "performance: skipped (no big stream; make one with test/tools/make-big.sh or set E2E_BIG)"
  fi
fi
step "done; screenshots and logs in $OUT"
cp "$W/code-server.log" "$OUT/" 2>/dev/null
finish
