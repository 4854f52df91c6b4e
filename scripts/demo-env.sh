#!/usr/bin/env bash
# Live things for `npm start` to show in the VM State side panels: a private D-Bus bus with three
# sample org.qemu.VMState1 helpers and, where qemu-system-x86_64 exists, two small QEMUs (TCG,
# q35, 128M like samples/dbus-vmstate-3helpers.vmstate) with QMP sockets and a dbus-vmstate
# object on that bus: "demo-vm" (paused, -S: capture it) and "demo-incoming" (-incoming defer:
# load a stream into it; restarted when it exits, as QEMU 7.2 does after refusing a stream).
#
# usage: scripts/demo-env.sh SETTINGS_JSON [--parent PID] [--dir DIR]
#   SETTINGS_JSON  a workspace settings file (e.g. the samples copy's .vscode/settings.json);
#                  qemuVmstate.bus.addresses and qemuVmstate.qmp.addresses are set in it (other
#                  keys are kept; the file and its folder are created if missing).
#   --parent PID   everything is stopped when PID exits (default: the caller, $PPID). A caller
#                  that later `exec`s code-server can pass its own $$.
#   --dir DIR      where sockets and logs go (default: a new /tmp/vmstate-demo.XXXXXX, removed
#                  on stop).
# Returns once the bus and helpers (and QEMUs) are ready, printing shell assignments on stdout
# (progress and notes go to stderr), so a caller can `eval "$(scripts/demo-env.sh ...)"`:
#   DEMO_DIR=...  DEMO_BUS=unix:path=...  DEMO_QMP=...  DEMO_QMP_INCOMING=...  (empty without QEMU)
#   DEMO_PIDS="..."       the process (group) ids started (bus, helpers, QEMUs)
#   DEMO_SUPERVISOR=PID   `kill $DEMO_SUPERVISOR` stops everything (it also stops by itself
#                         when --parent exits); demo_env_stop() { kill $DEMO_SUPERVISOR; }
# Every process runs in its own process group; the supervisor ends each group by id.
# Exit status: 0 ready (QEMU is optional: a note on stderr when missing), 1 the bus or a helper
# did not start (nothing is left running).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SETTINGS=""
PARENT=$PPID
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --parent) PARENT=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "demo-env: unknown option $1" >&2; exit 2 ;;
    *) SETTINGS=$1; shift ;;
  esac
done
[ -n "$SETTINGS" ] || { echo "demo-env: usage: demo-env.sh SETTINGS_JSON [--parent PID] [--dir DIR]" >&2; exit 2; }
OWN_DIR=""
if [ -z "$DIR" ]; then DIR=$(mktemp -d /tmp/vmstate-demo.XXXXXX); OWN_DIR=1; fi
mkdir -p "$DIR"
log() { echo "demo-env: $*" >&2; }
PGIDS=()
abort() {
  for p in "${PGIDS[@]}"; do kill -- "-$p" 2>/dev/null; done
  [ -n "$OWN_DIR" ] && rm -rf "$DIR"
  exit 1
}
for need in dbus-daemon node; do command -v $need >/dev/null || { log "missing $need"; abort; }; done

BUS_SOCK=$DIR/bus.sock
BUS="unix:path=$BUS_SOCK"
setsid dbus-daemon --config-file="$ROOT/test/helpers/dbus-bus.conf" --nofork --address="$BUS" \
  >"$DIR/dbus-daemon.log" 2>&1 </dev/null & PGIDS+=($!)
for _ in $(seq 100); do [ -S "$BUS_SOCK" ] && break; sleep 0.05; done
[ -S "$BUS_SOCK" ] || { log "dbus-daemon did not start: $(cat "$DIR/dbus-daemon.log")"; abort; }

# The helpers exit when their stdin ends: a FIFO opened read-write never does.
mkfifo "$DIR/stdin"
helper() { # ID IMPL PAYLOAD
  local id=$1 impl=$2 payload=$3 cmd
  if [ "$impl" = gdbus ] && [ -d /usr/lib/python3/dist-packages/gi ]; then cmd=(/usr/bin/python3 "$ROOT/test/helpers/gdbus_helper.py")
  else cmd=(node "$ROOT/test/helpers/dbusNextHelper.mjs"); fi
  setsid "${cmd[@]}" --address "$BUS" --id "$id" --payload "$payload" --load-out "$DIR/$id.loaded" \
    >"$DIR/$id.out" 2>"$DIR/$id.err" <>"$DIR/stdin" & PGIDS+=($!)
  for _ in $(seq 150); do grep -q '"ready"' "$DIR/$id.out" 2>/dev/null && return 0; sleep 0.1; done
  log "helper $id did not get ready: $(cat "$DIR/$id.err")"; return 1
}
# The Ids of samples/dbus-vmstate-3helpers.vmstate, so that stream loads into demo-incoming.
helper slirp-helper dbus-next 'text:slirp-helper demo state {"hostfwd":["tcp::2222-:22"]}' || abort
helper tpm-emu gdbus "prng:tpm-emu-demo:2048" || abort
helper audio dbus-next "text:audio demo state: 48000 Hz, 2 channels" || abort
log "bus $BUS with helpers slirp-helper, tpm-emu, audio"

QEMU_BIN=$(command -v qemu-system-x86_64 || true)
QMP="" QMP_IN=""
qemu_args=(-display none -nodefaults -no-user-config -M q35 -accel tcg -m 128M -object "dbus-vmstate,id=dv0,addr=$BUS")
start_incoming() {
  rm -f "$DIR/qmp-incoming.sock"
  setsid "$QEMU_BIN" "${qemu_args[@]}" -S -name demo-incoming -incoming defer \
    -qmp "unix:$DIR/qmp-incoming.sock,server=on,wait=off" >/dev/null 2>>"$DIR/demo-incoming.log" </dev/null &
  echo $!
}
if [ -n "$QEMU_BIN" ]; then
  QMP=$DIR/qmp-vm.sock
  QMP_IN=$DIR/qmp-incoming.sock
  # stderr in a file: the QEMU view quotes it when QEMU refuses a stream
  setsid "$QEMU_BIN" "${qemu_args[@]}" -S -name demo-vm -qmp "unix:$QMP,server=on,wait=off" \
    >/dev/null 2>"$DIR/demo-vm.log" </dev/null & PGIDS+=($!)
  IN_PID=$(start_incoming); PGIDS+=("$IN_PID")
  for _ in $(seq 200); do [ -S "$QMP" ] && [ -S "$QMP_IN" ] && break; sleep 0.05; done
  if [ -S "$QMP" ] && [ -S "$QMP_IN" ]; then log "QEMU demo-vm (paused) QMP $QMP; demo-incoming (-incoming defer) QMP $QMP_IN"
  else log "QEMU did not start: $(cat "$DIR"/demo-*.log)"; QMP="" QMP_IN=""; fi
else
  log "qemu-system-x86_64 not found: no demo QEMU (apt-get install qemu-system-x86)"
fi

mkdir -p "$(dirname "$SETTINGS")"
node -e '
  const fs = require("fs"); const [f, bus, ...qmp] = process.argv.slice(1);
  let s = {}; try { s = JSON.parse(fs.readFileSync(f, "utf8")); } catch {}
  s["qemuVmstate.bus.addresses"] = [bus];
  s["qemuVmstate.qmp.addresses"] = qmp.filter(Boolean);
  fs.writeFileSync(f, JSON.stringify(s, null, 2) + "\n");' "$SETTINGS" "$BUS" "$QMP" "$QMP_IN" || abort

# The supervisor: ends every group when the parent exits or on SIGTERM; restarts demo-incoming
# when it exits (QEMU 7.2 exits after refusing a stream).
SUP_SCRIPT='
  DIR=$1 PARENT=$2 OWN=$3; shift 3
  declare -a G=("$@")
  stop() { for p in "${G[@]}"; do kill -- "-$p" 2>/dev/null; done; sleep 0.3
           for p in "${G[@]}"; do kill -9 -- "-$p" 2>/dev/null; done
           [ -n "$OWN" ] && rm -rf "$DIR"; exit 0; }
  trap stop TERM INT HUP
  while kill -0 "$PARENT" 2>/dev/null; do
    if [ -n "${IN_PID:-}" ] && ! kill -0 "$IN_PID" 2>/dev/null; then
      IN_PID=$(start_incoming); G+=("$IN_PID")
    fi
    sleep 1 & wait $!
  done
  stop'
export -f start_incoming
export QEMU_BIN DIR
SUP_ARGS=("$DIR" "$PARENT" "$OWN_DIR" "${PGIDS[@]}")
IN_PID=${IN_PID:-} setsid bash -c "qemu_args=($(printf '%q ' "${qemu_args[@]}")); $SUP_SCRIPT" demo-supervisor "${SUP_ARGS[@]}" \
  >/dev/null 2>>"$DIR/supervisor.log" </dev/null &
SUP=$!
printf 'DEMO_DIR=%q\nDEMO_BUS=%q\nDEMO_QMP=%q\nDEMO_QMP_INCOMING=%q\nDEMO_SUPERVISOR=%q\nDEMO_PIDS=%q\n' "$DIR" "$BUS" "$QMP" "$QMP_IN" "$SUP" "${PGIDS[*]}"
echo 'demo_env_stop() { kill "$DEMO_SUPERVISOR" 2>/dev/null; }'
