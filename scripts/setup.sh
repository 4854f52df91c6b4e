#!/usr/bin/env bash
# Installs what this project needs on a fresh Debian machine: npm packages (npm ci) and, for the
# profile given, Debian packages. Safe to run again: it only installs what is missing.
#   scripts/setup.sh test    qemu, dbus, GDBus for the helpers, chromium, code-server build deps
#   scripts/setup.sh start   code-server build deps
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "${1:-test}" in
  test) pkgs="qemu-system-x86 qemu-utils dbus python3-gi chromium libkrb5-dev pkg-config time libvirt-daemon-system libvirt-clients" ;;
  start) pkgs="libkrb5-dev pkg-config" ;;
  *) echo "usage: scripts/setup.sh test|start" >&2; exit 2 ;;
esac
need=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian packages:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  else
    echo "== missing Debian packages:$need (run: sudo apt-get install$need)" >&2
    exit 1
  fi
fi
# npm ci when node_modules is missing or older than the lock file
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund >/dev/null
fi
