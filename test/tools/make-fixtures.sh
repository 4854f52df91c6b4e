#!/bin/bash
# Regenerate the real QEMU 7.2 migration-stream fixtures of test/fixtures/gen/.
#
#   bash test/tools/make-fixtures.sh [OUTDIR]      (default: test/fixtures/gen)
#
# Environment:
#   SKIP_APT=1        do not apt-get install the Debian packages
#   ANALYZER=PATH     QEMU 7.2's scripts/analyze-migration.py; when set, its
#                     -d state / -x results are stored next to each stream
#   GET_ANALYZER=1    fetch that script with test/tools/get-analyzer.sh
#                     (Debian source package; root, apt) and use it
#   ONLY="a b"        make only these streams (names without .vmstate)
#
# Everything runs paused (-S) guests under TCG; the whole set takes well
# under a minute.  Streams are not byte-identical between runs (timers), but
# their structure, RAM contents, disk data and helper payloads are.
set -euo pipefail
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$TOOLS/../fixtures/gen}"
PY=/usr/bin/python3
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

if [ "${SKIP_APT:-0}" != 1 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-x86 qemu-system-arm \
    qemu-utils dbus python3 python3-gi
fi
if [ "${GET_ANALYZER:-0}" = 1 ] && [ -z "${ANALYZER:-}" ]; then
  ANALYZER=/tmp/analyze-migration-7.2.py
  bash "$TOOLS/get-analyzer.sh" "$ANALYZER"
fi

WORK="$(mktemp -d /tmp/qemu-vmstate-fixtures-XXXXXX)"
SHM_X86=/dev/shm/qemu-vmstate-fixture-mem
SHM_ARM=/dev/shm/qemu-vmstate-fixture-mem-arm
cleanup() { rm -rf "$WORK"; rm -f "$SHM_X86" "$SHM_ARM"; }
trap cleanup EXIT

want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
MK=("$PY" "$TOOLS/mkstream.py")
DB=("$PY" "$TOOLS/dbus_fixture.py")
Q35=(-M pc-q35-7.2 -accel tcg -m 64M)
UUID_X86=6a1c3f8e-2b4d-4e5f-9a0b-c1d2e3f40516
UUID_ARM=0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff

# 1. aarch64 virt: configuration/target-page-bits (12)
want aarch64-virt && "${MK[@]}" --out "$OUT/aarch64-virt.vmstate" --qemu qemu-system-aarch64 --roundtrip \
  --desc "aarch64 virt-7.2, cortex-a57, 64M: configuration/target-page-bits subsection (12)" \
  -- -M virt -cpu cortex-a57 -accel tcg -m 64M

# 1b. aarch64 virt with all three configuration subsections in one stream
if want aarch64-virt-all-config; then
  rm -f "$SHM_ARM"
  "${MK[@]}" --out "$OUT/aarch64-virt-all-config.vmstate" --qemu qemu-system-aarch64 \
    --cap x-ignore-shared --cap validate-uuid --roundtrip \
    --desc "aarch64 virt-7.2, cortex-a57, 64M RAM from a shared memory-backend-file, x-ignore-shared + validate-uuid capabilities and -uuid: all three configuration subsections (target-page-bits, capabilities, uuid) in one stream" \
    -- -M virt,memory-backend=mem -cpu cortex-a57 -accel tcg -m 64M \
    -object memory-backend-file,id=mem,size=64M,mem-path=$SHM_ARM,share=on -uuid $UUID_ARM
fi

# 2. x-ignore-shared: configuration/capabilities + be64 mr_addr per RAM block
if want q35-ignore-shared; then
  rm -f "$SHM_X86"
  "${MK[@]}" --out "$OUT/q35-ignore-shared.vmstate" --cap x-ignore-shared --roundtrip \
    --desc "pc-q35-7.2, 128M RAM from a shared memory-backend-file, x-ignore-shared capability" \
    -- -M pc-q35-7.2,memory-backend=mem -accel tcg -m 128M \
    -object memory-backend-file,id=mem,size=128M,mem-path=$SHM_X86,share=on
fi

# 3. -uuid + validate-uuid: configuration/uuid
want q35-uuid && "${MK[@]}" --out "$OUT/q35-uuid.vmstate" --cap validate-uuid --roundtrip \
  --desc "pc-q35-7.2, 64M, -uuid $UUID_X86 with the validate-uuid capability" \
  -- "${Q35[@]}" -uuid $UUID_X86

# 4. old machine types: no configuration section, no footers (2.2: no vmdesc either)
for v in 1.4 2.2; do
  want pc-i440fx-$v && "${MK[@]}" --out "$OUT/pc-i440fx-$v.vmstate" --roundtrip \
    --desc "old machine type pc-i440fx-$v, 64M" -- -M pc-i440fx-$v -accel tcg -m 64M
done

# 5. legacy block migration (HMP migrate -b) of a 4 MiB raw disk
if want q35-block-migration; then
  qemu-img create -q -f raw "$WORK/disk.raw" 4M
  # first 64 KiB: sha256("qemu-vmstate-block-fixture" || be32 i) blocks; the rest zeros
  "$PY" - "$WORK/disk.raw" "$OUT/q35-block-migration.disk-pattern-64k.bin" <<'PY'
import hashlib, sys
b = bytearray()
i = 0
while len(b) < 65536:
    b += hashlib.sha256(b"qemu-vmstate-block-fixture" + i.to_bytes(4, "big")).digest()
    i += 1
b = bytes(b[:65536])
with open(sys.argv[1], "r+b") as f:
    f.write(b)
open(sys.argv[2], "wb").write(b)
PY
  "${MK[@]}" --out "$OUT/q35-block-migration.vmstate" --cap zero-blocks --hmp-flags=-b --roundtrip \
    --desc "pc-q35-7.2, 64M, legacy block migration (HMP migrate -b) of a 4 MiB raw virtio-blk disk whose first 64 KiB hold a known pattern (q35-block-migration.disk-pattern-64k.bin); zero-blocks capability on" \
    -- "${Q35[@]}" -drive file="$WORK/disk.raw",format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0
fi

# 6. dbus-vmstate with odd Ids and sizes
ID255="$("$PY" -c "
s = 'id255-'; i = 0
while len(s) < 255:
    s += '%d.' % i; i += 1
print(s[:255])")"
want dbus-vmstate-odd-ids && "${DB[@]}" --out "$OUT/dbus-vmstate-odd-ids.vmstate" --roundtrip \
  --desc "pc-q35-7.2, 64M, dbus-vmstate with odd Ids: non-ASCII UTF-8 Id (1-byte blob 00), a 255-byte Id (777 bytes), a 1-byte Id 'x' (1-byte blob ff), plus a helper serving 1048577 bytes (dropped by QEMU: too large) and a helper whose Save fails (dropped): count 5, 3 entries; the reload fails as QEMU 7.2 does" \
  --helper "hélper-ü✓=hex:00" --helper "$ID255=prng:id255:777" --helper "x=hex:ff" \
  --helper "too-big=prng:too-big:1048577" --helper "save-fails=text:never served!fail" \
  -- "${Q35[@]}"
want dbus-vmstate-1mib && "${DB[@]}" --out "$OUT/dbus-vmstate-1mib.vmstate" --roundtrip \
  --desc "pc-q35-7.2, 64M, dbus-vmstate: a helper serving exactly 1048576 bytes (the largest QEMU accepts) plus the valid odd-Id helpers of dbus-vmstate-odd-ids (non-ASCII Id, 255-byte Id, 1-byte Id); count 4, 4 entries, loads back" \
  --helper "hélper-ü✓=hex:00" --helper "$ID255=prng:id255:777" --helper "x=hex:ff" \
  --helper "one-mib=prng:one-mib:1048576" \
  -- "${Q35[@]}"

# 7. modern machine type without the configuration section
want q35-no-config && "${MK[@]}" --out "$OUT/q35-no-config.vmstate" --roundtrip \
  --desc "pc-q35-7.2, 64M, -global migration.send-configuration=off" \
  -- "${Q35[@]}" -global migration.send-configuration=off

if [ -n "${ANALYZER:-}" ]; then
  streams=()
  for f in "$OUT"/*.vmstate; do
    n="$(basename "$f" .vmstate)"; want "$n" && streams+=("$f")
  done
  # the 1 MiB helper blob makes -d state print ~6 MB of hex; do not keep such a file
  "$PY" "$TOOLS/run-analyzer.py" --analyzer "$ANALYZER" --max-state-gz 262144 "${streams[@]}"
fi
"$PY" "$TOOLS/fixture-facts.py" "$OUT"/*.vmstate > "$WORK/facts.json"
echo "facts: $PY $TOOLS/fixture-facts.py $OUT/NAME.vmstate"
ls -l "$OUT"
