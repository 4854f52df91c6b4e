#!/usr/bin/env bash
# The one place that installs what this project needs on a Debian machine. Safe to run again:
# it installs only what is missing and says which parts were already there.
#   scripts/setup.sh test    Debian packages the tests use (QEMU, dbus, GDBus, Chromium, ...),
#                            npm packages, Node 24 + code-server (the VS Code workbench)
#   scripts/setup.sh start   npm packages, Node 24 + code-server
# Node 24 and code-server go into $VMSTATE_CACHE (default ~/.cache/qemu-vmstate), outside the
# clone; scripts/lib/vscode-env.sh finds them there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source "$ROOT/scripts/lib/vscode-env.sh"

case "${1:-test}" in
  # qemu-system-x86/qemu-utils: real QEMU round trips; dbus + python3-gi: private buses and GDBus
  # helpers; chromium: Playwright UI tests; libkrb5-dev/pkg-config: code-server's native modules;
  # time: peak-memory checks; xxd: e2e-bus writes a helper payload as hex; libvirt-daemon-system +
  # libvirt-clients: virsh restore of edited save images
  test) pkgs="qemu-system-x86 qemu-utils dbus python3-gi chromium libkrb5-dev pkg-config time xxd curl libvirt-daemon-system libvirt-clients" ;;
  # start: code-server's build deps, and dbus for the demo bus of scripts/demo-env.sh (its demo
  # QEMUs run where qemu-system-x86 is installed; npm test installs it)
  start) pkgs="libkrb5-dev pkg-config curl dbus" ;;
  *) echo "usage: scripts/setup.sh test|start" >&2; exit 2 ;;
esac

say() { echo "== setup: $*"; }

# 1. Debian packages
need=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -z "$need" ]; then
  say "Debian packages: all present ($pkgs)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "Debian packages: installing$need"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
else
  echo "== setup: missing Debian packages:$need (run: sudo apt-get install$need)" >&2
  exit 1
fi

# 2. npm packages: npm ci when node_modules is missing or older than the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm packages: npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
else
  say "npm packages: up to date with package-lock.json"
fi

# 3. Node 24 + code-server
vscode_install
