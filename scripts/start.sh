#!/usr/bin/env bash
# npm start: build + package the extension, then open samples/ in an editor with it installed.
# With a desktop `code` on PATH (and no USE_CODE_SERVER=1) that is VS Code; otherwise code-server
# (Node 24 + code-server, installed by scripts/setup.sh into ~/.cache/qemu-vmstate), whose URL is printed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PORT=${PORT:-8080}
HOST=${HOST:-127.0.0.1}
SAMPLES=$ROOT/samples

USE_DESKTOP=""
if [ -z "${USE_CODE_SERVER:-}" ] && command -v code >/dev/null 2>&1 && code --version >/dev/null 2>&1; then USE_DESKTOP=1; fi
if [ -n "$USE_DESKTOP" ]; then
  [ -x node_modules/.bin/vsce ] || { echo "== npm ci"; npm ci --no-audit --no-fund >/dev/null; }
else
  bash scripts/setup.sh start
fi
echo "== building and packaging the extension"
npm run -s package >/dev/null
VSIX=$ROOT/qemu-vmstate.vsix

if [ -n "$USE_DESKTOP" ]; then
  code --install-extension "$VSIX" --force
  exec code "$SAMPLES"
fi

source "$ROOT/scripts/lib/vscode-env.sh"
vscode_require
PROFILE=${START_PROFILE:-$VMSTATE_CACHE/start-profile}
mkdir -p "$PROFILE/user/User" "$PROFILE/exts"
# Settings for a quiet workbench, merged into the profile's (the user's own keys are kept).
node -e '
  const fs = require("fs"); const f = process.argv[1];
  let s = {}; try { s = JSON.parse(fs.readFileSync(f, "utf8")); } catch {}
  Object.assign(s, { "workbench.startupEditor": "none", "security.workspace.trust.enabled": false,
    "telemetry.telemetryLevel": "off", "chat.disableAIFeatures": true,
    "workbench.secondarySideBar.defaultVisibility": "hidden", "git.openRepositoryInParentFolders": "never" });
  // On a fresh profile the explorer is up before the extension host has registered our editor, and
  // a quick double-click opened a stream as "binary" text; the association makes VS Code wait for it.
  s["workbench.editorAssociations"] = { "*.vmstate": "qemuVmstate.editor", ...(s["workbench.editorAssociations"] || {}) };
  fs.writeFileSync(f, JSON.stringify(s, null, 2));' "$PROFILE/user/User/settings.json"
echo "== installing the extension into code-server"
PATH=$N24/bin:$PATH "$CS" --config "$PROFILE/config.yaml" --user-data-dir "$PROFILE/user" --extensions-dir "$PROFILE/exts" \
  --install-extension "$VSIX" --force >/dev/null
# Something live for the side panels: a private bus with three sample helpers and, where QEMU is
# installed, a paused QEMU and one waiting with -incoming defer (scripts/demo-env.sh). Their
# addresses go into the profile's settings; they stop when code-server (this process, after exec) does.
DEMO_NOTE="  (no demo bus: NO_DEMO is set)"
if [ -z "${NO_DEMO:-}" ]; then
  echo "== demo environment: private D-Bus bus with sample helpers, QEMU where installed"
  if demo=$(bash scripts/demo-env.sh "$PROFILE/user/User/settings.json" --parent $$); then
    eval "$demo"
    DEMO_NOTE="  VM State view: D-Bus helpers on $DEMO_BUS"
    [ -n "${DEMO_QMP:-}" ] && DEMO_NOTE="$DEMO_NOTE
  QEMU view: demo-vm (paused) at $DEMO_QMP, demo-incoming (waiting for a stream) at $DEMO_QMP_INCOMING"
  else
    DEMO_NOTE="  (the demo bus did not start: the side panels have nothing live to show)"
  fi
fi
URL="http://$HOST:$PORT/?folder=$SAMPLES"
echo
echo "  code-server with qemu-vmstate: $URL"
echo "  (open a .vmstate file from the explorer; Ctrl+C stops the server)"
echo "$DEMO_NOTE"
echo
exec env PATH=$N24/bin:$PATH "$CS" --bind-addr "$HOST:$PORT" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  --config "$PROFILE/config.yaml" --user-data-dir "$PROFILE/user" --extensions-dir "$PROFILE/exts" "$SAMPLES"
