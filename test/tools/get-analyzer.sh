#!/bin/bash
# Fetch QEMU 7.2's own scripts/analyze-migration.py from Debian's source
# package (the version of the installed qemu-system-x86), with Debian's
# v7.2.x stable patches applied (v7.2.7 made read64/32/16 unsigned).
#
#   bash test/tools/get-analyzer.sh [OUTFILE]   (default /tmp/analyze-migration-7.2.py)
#
# Needs root (adds a deb-src entry for Debian bookworm if none exists).
# The script is QEMU's (GPL-2.0); it is not kept in this repository.
set -euo pipefail
OUT="${1:-/tmp/analyze-migration-7.2.py}"
VER="$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null || true)"
if ! apt-cache showsrc qemu >/dev/null 2>&1 || [ -z "$(apt-cache showsrc qemu 2>/dev/null)" ]; then
  cat > /etc/apt/sources.list.d/debian-src-qemu-analyzer.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update
fi
W="$(mktemp -d /tmp/qemu-src-XXXXXX)"
cd "$W"
apt-get source --download-only "qemu${VER:+=$VER}"
tar -xJf qemu_*.orig.tar.xz --wildcards '*/scripts/analyze-migration.py'
tar -xJf qemu_*.debian.tar.xz debian/patches
SRCDIR="$(dirname "$(dirname "$(find . -path '*/scripts/analyze-migration.py' | head -1)")")"
# apply only the analyze-migration.py hunks of Debian's upstream-stable diffs, in series order
while read -r p; do
  case "$p" in v7.2.*.diff) ;; *) continue ;; esac
  /usr/bin/python3 - "debian/patches/$p" > part.diff <<'PY'
import sys
t = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read()
out, keep = [], False
for line in t.splitlines(True):
    if line.startswith("diff --git "):
        keep = line.rstrip().endswith(" b/scripts/analyze-migration.py")
    if keep:
        out.append(line)
sys.stdout.write("".join(out))
PY
  if [ -s part.diff ]; then (cd "$SRCDIR" && patch -p1 < ../part.diff >&2); echo "applied $p" >&2; fi
done < debian/patches/series
cp "$SRCDIR/scripts/analyze-migration.py" "$OUT"
cd /; rm -rf "$W"
echo "$OUT md5 $(md5sum "$OUT" | cut -d' ' -f1)"
