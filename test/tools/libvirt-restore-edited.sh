#!/bin/bash
# Edit a real libvirt save image with the vmstate CLI (replace dbus-vmstate helper B's blob with
# one of another length) and `virsh restore` it with real libvirtd + QEMU, with both helpers on
# the private bus the image's domain XML names. Prints one JSON line: the restore's rc and state,
# and what each helper's Load received (length, sha256).
#
#   bash test/tools/libvirt-restore-edited.sh IMAGE NEW_BLOB OUTDIR
#
# Root only. Starts virtlogd/libvirtd by hand when none runs (no systemd here), as
# make-libvirt-fixtures.sh does, and stops only what it started. IMAGE is
# test/fixtures/containers/q35-dbus-vmstate-raw.save (domain lvfix-dbus, bus /run/lvfix-dbus/bus).
set -euo pipefail
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMG=$1; BLOB=$2; W=$3
# One machine-wide libvirtd, one domain name and one bus directory (both fixed by the image): two
# runs at once (two checkouts' npm test on one machine) would restore the same domain twice and
# stop each other's libvirtd. Take turns on a lock; the holder is done in well under a minute.
exec 9>/tmp/vmstate-libvirt-restore.lock
if ! flock -w 90 9; then
  echo "another libvirt restore check held /tmp/vmstate-libvirt-restore.lock for 90 s" >&2
  exit 1
fi
CONN=qemu:///system
DOM=lvfix-dbus
DBUSDIR=/run/lvfix-dbus
PIDS=(); LIBVIRTD_PID=; VIRTLOGD_PID=
mkdir -p "$W"
cleanup() {
  set +e
  virsh -q -c $CONN destroy $DOM >/dev/null 2>&1
  virsh -q -c $CONN destroy lvfix-tiny >/dev/null 2>&1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "$LIBVIRTD_PID" ] && { kill "$LIBVIRTD_PID"; wait "$LIBVIRTD_PID"; }
  [ -n "$VIRTLOGD_PID" ] && { kill "$VIRTLOGD_PID"; wait "$VIRTLOGD_PID"; }
  rm -rf "$DBUSDIR"
}
trap cleanup EXIT

if ! virsh -c $CONN version >/dev/null 2>&1; then
  if ! pgrep -x virtlogd >/dev/null; then (cd / && exec virtlogd >"$W/virtlogd.out" 2>&1) & VIRTLOGD_PID=$!; sleep 0.5; fi
  (cd / && exec libvirtd >"$W/libvirtd.out" 2>&1) & LIBVIRTD_PID=$!
  for _ in $(seq 100); do virsh -c $CONN version >/dev/null 2>&1 && break; sleep 0.2; done
fi
virsh -q -c $CONN destroy $DOM >/dev/null 2>&1 || true

rm -rf "$DBUSDIR"; mkdir -p "$DBUSDIR"; chmod 755 "$DBUSDIR"
cp "$TOOLS/dbus-bus.conf" "$W/bus.conf" 2>/dev/null || true
cat > "$W/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$DBUSDIR/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$W/bus.conf" --nofork >"$W/dbus.out" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do [ -S "$DBUSDIR/bus" ] && break; sleep 0.1; done
ADDR="unix:path=$DBUSDIR/bus"
: > "$W/helpers.log"
/usr/bin/python3 "$TOOLS/vmstate_helper.py" --address "$ADDR" --id lvfix-helper-a --payload "text:restore check A" --log "$W/helpers.log" >"$W/ha.out" & PIDS+=($!)
/usr/bin/python3 "$TOOLS/vmstate_helper.py" --address "$ADDR" --id lvfix-helper-b --payload "text:restore check B" --log "$W/helpers.log" >"$W/hb.out" & PIDS+=($!)
for _ in $(seq 50); do [ -s "$W/ha.out" ] && [ -s "$W/hb.out" ] && break; sleep 0.1; done

node "$TOOLS/../../dist/cli.js" set-helper "$IMG" --id lvfix-helper-b --from "$BLOB" -o "$W/edited.save" >"$W/edit.out"
rc=0; msg=$(virsh -q -c $CONN restore "$W/edited.save" 2>&1) || rc=$?
st=$(virsh -c $CONN domstate --reason $DOM 2>/dev/null | sed -n 1p || true)
sleep 0.3
virsh -q -c $CONN destroy $DOM >/dev/null 2>&1 || true

# Images written back by vmstate rewrite: gzip recompressed by node:zlib, xz written raw (--raw)
OTHERS=()
for spec in "q35-gzip.save:" "q35-xz.save:--raw"; do
  f=${spec%%:*}; flag=${spec#*:}
  [ -f "$(dirname "$IMG")/$f" ] || continue
  node "$TOOLS/../../dist/cli.js" rewrite "$(dirname "$IMG")/$f" $flag -o "$W/rw-$f" >/dev/null 2>&1
  orc=0; omsg=$(virsh -q -c $CONN restore "$W/rw-$f" 2>&1) || orc=$?
  ost=$(virsh -c $CONN domstate --reason lvfix-tiny 2>/dev/null | sed -n 1p || true)
  virsh -q -c $CONN destroy lvfix-tiny >/dev/null 2>&1 || true
  OTHERS+=("$f" "$flag" "$orc" "$omsg" "$ost" "$(od -An -tu4 -j28 -N4 "$W/rw-$f" | tr -d ' ')")
done
/usr/bin/python3 - "$W/helpers.log" "$rc" "$msg" "$st" "${OTHERS[@]}" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
o = sys.argv[5:]
others = [{"file": o[i], "flag": o[i + 1], "rc": int(o[i + 2]), "message": o[i + 3].strip(), "state": o[i + 4], "compressed": int(o[i + 5])} for i in range(0, len(o), 6)]
print(json.dumps({"rc": int(sys.argv[2]), "message": sys.argv[3].strip(), "state": sys.argv[4],
                  "loads": [{k: e.get(k) for k in ("id", "len", "sha256")} for e in ev if e.get("event") == "Load"],
                  "others": others}))
PY
