#!/bin/bash
# Remake test/fixtures/containers/: real libvirt save images, compressed streams and a qcow2 with
# internal snapshots, all written by the real programs.
#
#   bash test/tools/make-container-fixtures.sh [OUTDIR]   (default: test/fixtures/containers)
#
# Environment:
#   LIBVIRT_DIR=DIR   take the libvirt images from an earlier make-libvirt-fixtures.sh run instead
#                     of running it (it needs root and starts libvirtd; ~2 minutes)
#   SKIP_APT=1        passed on to make-libvirt-fixtures.sh
set -euo pipefail
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$TOOLS/../fixtures/containers}"
mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d /tmp/container-fixtures.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# 1. libvirt 9.0 save images (raw with two dbus-vmstate helpers; gzip, bzip2, xz, lzop)
LV="${LIBVIRT_DIR:-}"
if [ -z "$LV" ]; then LV="$WORK/libvirt"; bash "$TOOLS/make-libvirt-fixtures.sh" "$LV"; fi
for f in q35-dbus-vmstate-raw q35-gzip q35-bzip2 q35-xz q35-lzop; do
  cp "$LV/$f.save" "$LV/$f.save.meta.json" "$OUT/"
done

# 2. a bare stream through each compressor's own command line tool
SRC="$TOOLS/../fixtures/dbus-vmstate-nohelpers.vmstate"
gzip -9 -n -c "$SRC" > "$OUT/nohelpers.vmstate.gz"
xz -9 -c "$SRC" > "$OUT/nohelpers.vmstate.xz"
zstd -19 -q -c "$SRC" > "$OUT/nohelpers.vmstate.zst"
# a decompression bomb: "QEVM" 00000003 then 1 GiB of zeros (33 KB as zstd)
(printf 'QEVM\0\0\0\3'; head -c 1G /dev/zero) | zstd -19 -q -c > "$OUT/bomb-1g.vmstate.zst"

# 3. qcow2 internal snapshots (savevm) + the exec:cat streams of the same moments (only their
#    sha256 is kept: the test compares the extracted stream with them exactly)
python3 "$TOOLS/make-qcow2-snapshots.py" "$WORK/q"
cp "$WORK/q/snapshots.qcow2" "$OUT/"
python3 - "$WORK/q" "$OUT/snapshots.qcow2.json" <<'PY'
import hashlib, json, sys
d, out = sys.argv[1], sys.argv[2]
meta = json.load(open(f"{d}/snapshots.json"))
for t in ("early", "frag"):
    b = open(f"{d}/{t}.vmstate", "rb").read()
    meta[f"{t}_exec_cat_stream"] = {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
json.dump(meta, open(out, "w"), indent=1)
PY
ls -la "$OUT"
