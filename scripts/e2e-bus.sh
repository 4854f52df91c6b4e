#!/usr/bin/env bash
# End-to-end tests of the "D-Bus helpers" view (bus explorer) in a real VS Code workbench
# (code-server), offline, against a private dbus-daemon with real helper processes:
#   1. the extension-host suite test/integration/bus.test.ts (real vscode API, smoke-test driver);
#   2. Playwright (test/e2e/bus.js): the VM State view with the helpers listed, screenshots in
#      light and dark.
# Helpers on the bus: vm-good (dbus-next, primary, a random 4 KiB payload), gd-good (GDBus,
# queued), vm-empty (dbus-next, queued, Save returns 0 bytes: breaks the not-empty rule).
# Last line: e2e-bus: N passed, M failed
# Options: --only=integration|ui. Env: E2E_THEMES (default "light dark"), E2E_PORT,
# E2E_OUT (artifacts, default /tmp/e2e-bus), KEEP=1 (keep the temp dir), SKIP_PACKAGE=1 (reuse the .vsix).
E2E_NAME=e2e-bus E2E_PORT_BASE=18800
source "$(dirname "$0")/lib/e2e-common.sh"
e2e_need /usr/bin/dbus-daemon /usr/bin/python3 /usr/lib/python3/dist-packages/gi=python3-gi
e2e_prepare

W=$(mktemp -d /tmp/vmstate-e2e-bus.XXXXXX)
OUT=${E2E_OUT:-/tmp/e2e-bus}
mkdir -p "$OUT" "$W/ws" "$W/user/User" "$W/bus"
e2e_package

step "private dbus-daemon + helpers"
SOCK=$W/bus/bus.sock
ADDR="unix:path=$SOCK"
setsid dbus-daemon --config-file="$ROOT/test/helpers/dbus-bus.conf" --nofork --print-address \
  --address="$ADDR" >"$W/bus/daemon.out" 2>"$W/bus/daemon.err" </dev/null & track_pgid $!
for i in $(seq 100); do [ -S "$SOCK" ] && [ -s "$W/bus/daemon.out" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "dbus-daemon did not start:"; cat "$W/bus/daemon.err"; failed=1; finish; }
# The helpers exit when their stdin ends; give them a FIFO opened read-write, which never does.
mkfifo "$W/bus/stdin"
head -c 4096 /dev/urandom > "$W/bus/vm-good.payload"
# helper NAME IMPL ARGS...: starts it in its own process group, waits for its "ready" line
helper() {
  local name=$1 impl=$2; shift 2
  local cmd
  if [ "$impl" = gdbus ]; then cmd=(/usr/bin/python3 "$ROOT/test/helpers/gdbus_helper.py"); else cmd=(node "$ROOT/test/helpers/dbusNextHelper.mjs"); fi
  setsid "${cmd[@]}" --address "$ADDR" --id "$name" "$@" >"$W/bus/$name.out" 2>"$W/bus/$name.err" <>"$W/bus/stdin" & track_pgid $!
  for i in $(seq 150); do grep -q '"ready"' "$W/bus/$name.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "helper $name did not get ready:"; cat "$W/bus/$name.err"; return 1
}
helper vm-good dbus-next --payload "hex:$(xxd -p "$W/bus/vm-good.payload" | tr -d '\n')" || { failed=1; finish; }
helper gd-good gdbus --payload "text:hello from GDBus" || { failed=1; finish; }
helper vm-empty dbus-next --mode empty || { failed=1; finish; }
# what the tests expect, in queue order (primary first)
node -e '
  const fs = require("fs"), [info, addr, dir] = process.argv.slice(1);
  const ready = (n) => JSON.parse(fs.readFileSync(`${dir}/${n}.out`, "utf8").split("\n").find((l) => l.includes("\"ready\"")));
  fs.writeFileSync(info, JSON.stringify({ address: addr, helpers: [
    { ...ready("vm-good"), impl: "dbus-next", payloadFile: `${dir}/vm-good.payload` },
    { ...ready("gd-good"), impl: "gdbus", payloadText: "hello from GDBus" },
    { ...ready("vm-empty"), impl: "dbus-next" },
  ] }, null, 2));' "$W/bus/helpers.json" "$ADDR" "$W/bus" || { failed=1; finish; }
sed 's/^/  /' "$W/bus/helpers.json" | grep -E '"(id|unique_name|payload_len|mode)"'

step "workspace + code-server on port $PORT"
write_settings "$W/user/User/settings.json" "{\"qemuVmstate.bus.addresses\": [\"$ADDR\"], \"qemuVmstate.bus.slowSaveMs\": 10000}"
# the extension host inherits this environment: the tests find the bus through it
start_code_server VMSTATE_E2E_BUS="$ADDR" VMSTATE_E2E_BUS_INFO="$W/bus/helpers.json" || { failed=1; finish; }

export CS_PORT=$PORT WS=$W/ws OUT_DIR=$OUT USER_SETTINGS=$W/user/User/settings.json BUS_INFO=$W/bus/helpers.json
if [ -z "$ONLY" ] || [ "$ONLY" = integration ]; then
  run_suite "extension-host bus suite (mocha, real vscode API)" \
    env EXT_TESTS="$ROOT/test/integration/busIndex.js" TIMEOUT_MS=180000 node test/e2e/exttests.js
fi
if [ -z "$ONLY" ] || [ "$ONLY" = ui ]; then
  for theme in ${E2E_THEMES:-light dark}; do
    run_suite "D-Bus helpers view (Playwright, $theme theme)" env THEME=$theme timeout 300 node test/e2e/bus.js
  done
fi
step "done; screenshots in $OUT"
cp "$W/code-server.log" "$OUT/code-server.log" 2>/dev/null
for f in "$W"/bus/*.out "$W"/bus/*.err; do [ -s "$f" ] && cp "$f" "$OUT/" ; done
finish
