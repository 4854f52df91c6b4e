# Source me from an e2e script after setting E2E_NAME (the name in the last line) and
# E2E_PORT_BASE. Gives: ONLY (from --only=...), PORT, step, finish, passed/failed counters,
# e2e_need (the tools a suite needs), e2e_prepare (checks the setup, Node 24 + code-server in
# N24/CS), e2e_package, write_settings, start_code_server and the process-group cleanup of
# everything started with track_pgid.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
ONLY=""
for a in "$@"; do case "$a" in --only=*) ONLY=${a#--only=} ;; *) echo "unknown option $a" >&2; exit 2 ;; esac; done
PORT=${E2E_PORT:-$((E2E_PORT_BASE + RANDOM % 400))}
T0=$(date +%s)
passed=0; failed=0
step() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }
finish() { echo "$E2E_NAME: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
# run_suite LABEL CMD...: one passed or failed suite
run_suite() { local label=$1; shift; step "$label"; if "$@"; then passed=$((passed+1)); else failed=$((failed+1)); fi; }

PGIDS=()
track_pgid() { PGIDS+=("$1"); }
_e2e_cleanup() {
  # every process we started leads its own process group (setsid): end each group
  for p in "${PGIDS[@]}"; do kill -- "-$p" 2>/dev/null; done
  [ "${#PGIDS[@]}" -gt 0 ] && sleep 0.3
  for p in "${PGIDS[@]}"; do kill -9 -- "-$p" 2>/dev/null; done
  [ -n "${W:-}" ] || return 0
  if [ -n "${KEEP:-}" ]; then echo "kept $W"; return 0; fi
  rm -rf "$W"
}
trap _e2e_cleanup EXIT
trap 'exit 130' INT TERM

# e2e_need PATH[=PACKAGE]...: a file or folder the suite needs (named by its Debian package, when
# given, in the message); stops the run when one is missing.
e2e_need() {
  local need path
  for need in "$@"; do
    path=${need%%=*}
    [ -e "$path" ] || { echo "missing ${need#*=} (bash scripts/setup.sh test)"; failed=1; finish; }
  done
}

# e2e_package: builds and packages the extension into qemu-vmstate.vsix (SKIP_PACKAGE=1 with a
# .vsix present: only builds, for the test files in out/). The log goes to $W/package.log.
e2e_package() {
  if [ -z "${SKIP_PACKAGE:-}" ] || [ ! -f qemu-vmstate.vsix ]; then
    step "build + package the extension"
    if ! npm run -s package >"$W/package.log" 2>&1; then tail -30 "$W/package.log"; failed=1; finish; fi
  else
    step "build (reusing qemu-vmstate.vsix)"
    npm run -s build >"$W/package.log" 2>&1 || { tail -30 "$W/package.log"; failed=1; finish; }
  fi
}

# What the suites need is installed by scripts/setup.sh test (npm test runs it first); standalone
# runs (npm run test:e2e) run it here when something is missing.
e2e_prepare() {
  source "$ROOT/scripts/lib/vscode-env.sh"
  if ! vscode_require 2>/dev/null || [ ! -x /usr/bin/chromium ] || [ ! -x node_modules/.bin/vsce ] || [ ! -d node_modules/playwright-core ]; then
    step "setup (something is missing)"
    bash scripts/setup.sh test || { failed=1; finish; }
  fi
  vscode_require || { failed=1; finish; }
  step "using Node 24 and code-server $CS_VERSION from $VMSTATE_CACHE"
}

# write_settings FILE [EXTRA_JSON_OBJECT]: a quiet workbench for tests
write_settings() {
  node -e '
    const fs = require("fs");
    const s = { "workbench.startupEditor": "none", "security.workspace.trust.enabled": false,
      "telemetry.telemetryLevel": "off", "chat.disableAIFeatures": true,
      "workbench.secondarySideBar.defaultVisibility": "hidden", "git.openRepositoryInParentFolders": "never",
      "workbench.tips.enabled": false, "files.simpleDialog.enable": true, "files.autoSave": "off",
      ...JSON.parse(process.argv[2] || "{}") };
    fs.writeFileSync(process.argv[1], JSON.stringify(s, null, 2));' "$1" "${2:-}"
}

# start_code_server [ENV=VALUE...]: (CS_EXTRA_ARGS: more code-server options) installs the .vsix into $W's profile and starts code-server on
# $PORT with the smoke-test driver (the extension-host suites need it); waits for /healthz.
start_code_server() {
  mkdir -p "$W/user/User" "$W/exts"
  PATH=$N24/bin:$PATH "$CS" --config "$W/config.yaml" --user-data-dir "$W/user" --extensions-dir "$W/exts" \
    --install-extension "$ROOT/qemu-vmstate.vsix" >"$W/install.log" 2>&1 || { tail -20 "$W/install.log"; return 1; }
  # setsid: own process group, so the cleanup also ends its children (file watcher, extension hosts)
  setsid env PATH=$N24/bin:$PATH "$@" "$CS" --config "$W/config.yaml" --bind-addr "127.0.0.1:$PORT" --auth none \
    --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
    --vscode-option enable-smoke-test-driver ${CS_EXTRA_ARGS:-} \
    --user-data-dir "$W/user" --extensions-dir "$W/exts" >"$W/code-server.log" 2>&1 </dev/null &
  track_pgid $!
  for _ in $(seq 150); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0; sleep 0.2; done
  tail -20 "$W/code-server.log"; return 1
}
