#!/usr/bin/env bash
# Benchmark: `vmstate dump` (and inspect, rewrite, diff) on real QEMU streams of ~810 MB and ~4 GB,
# against `cat FILE > /dev/null`, warm, in the same run; peak RSS from /usr/bin/time; then the
# editor in code-server on each (test/e2e/perf.js: time to the tree, edit/undo/redo latency, the
# extension host's lag probe and memory growth, save). The ~4 GB stream is deleted afterwards
# (BENCH_KEEP=1 keeps it); it needs ~9 GB free (the stream and the editor's saved copy).
# First the long fuzz runs that npm test runs a few iterations of (VMSTATE_FUZZ=full).
#   npm run bench                 (BENCH_DIR=/tmp/vmstate-bench, SKIP_APT=1 to skip apt-get,
#                                  SKIP_EDITOR=1, SKIP_FUZZ=1, BENCH_SIZES="768:2G 3840:6G" as SIZE_MIB:RAM)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/vmstate-bench}
mkdir -p "$DIR"
if [ "${SKIP_APT:-0}" != 1 ]; then
  need=""
  for p in qemu-system-x86 openssl time; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
  if [ -n "$need" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null; fi
fi
[ -f "$ROOT/dist/cli.js" ] && [ -f "$ROOT/out/test/unit/hostile.test.js" ] || (cd "$ROOT" && npm run -s build)

if [ -z "${SKIP_FUZZ:-}" ]; then
  echo "fuzz (the long runs; npm test runs a few iterations of each):"
  (cd "$ROOT" && VMSTATE_FUZZ=full node --test --test-name-pattern='fuzz|random byte corruption' \
    out/test/unit/hostile.test.js out/test/unit/robustness.test.js 2>&1 | grep -E '^# (pass|fail)|^not ok|mutated vmdescs' | sed 's/^/  /') || echo "  the fuzz runs FAILED (see above)"
  echo
fi

make_stream() { # SIZE_MIB RAM -> path
  local out="$DIR/big-q35-$2-random-$1m.vmstate"
  if [ ! -s "$out" ]; then
    SIZE_MIB=$1 RAM=$2 SKIP_APT=1 bash "$ROOT/test/tools/make-big.sh" "$DIR" >&2
  fi
  echo "$out"
}

measure() { # label cmd... -> "seconds maxrss_kb"
  local t
  t=$( { /usr/bin/time -f '%e %M' "$@" > /dev/null 2>/dev/null; } 2>&1 | tail -1)
  echo "$t"
}

best_of() { # n cmd... -> best seconds (millisecond clock) and its peak RSS in KB
  local n=$1; shift; local best="" rss="" t0 t1 s m
  for _ in $(seq "$n"); do
    t0=$(date +%s%N)
    /usr/bin/time -o "$DIR/.rss" -f '%M' "$@" > /dev/null 2>&1 || true
    t1=$(date +%s%N)
    m=$(tail -1 "$DIR/.rss")
    s=$(awk "BEGIN{printf \"%.3f\", ($t1 - $t0) / 1e9}")
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$m; fi
  done
  echo "$best $rss"
}

# Node reads NODE_EXTRA_CA_CERTS at every start (Node 20: ~35 ms for Debian's bundle, as much as
# all of inspect's own work on a small file); vmstate makes no TLS connection, so the CLI is timed
# without it, and Node's bare start is shown both ways.
CLI_ENV=(env)
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then CLI_ENV=(env -u NODE_EXTRA_CA_CERTS); fi
NODES=("$(command -v node)")
source "$ROOT/scripts/lib/vscode-env.sh"
if [ -x "$N24/bin/node" ] && [ "$("$N24/bin/node" --version)" != "$(node --version)" ]; then NODES+=("$N24/bin/node"); fi
printf '%-44s %10s %12s %10s %10s\n' stream bytes command seconds peak_RSS_MB
SIZES=${BENCH_SIZES:-768:2G 3840:6G}
made=()
for spec in $SIZES; do
  set -- ${spec/:/ }
  if [ "$1" -gt 1024 ] && [ ! -s "$DIR/big-q35-$2-random-$1m.vmstate" ]; then
    free=$(df -Pk "$DIR" | awk 'NR==2{print $4}')
    need=$(( $1 * 1024 * 5 / 2 ))
    if [ "$free" -lt "$need" ]; then echo "skipping the $1 MiB stream: $((free / 1024)) MiB free in $DIR, $((need / 1024)) MiB needed"; continue; fi
    made+=("$DIR/big-q35-$2-random-$1m.vmstate")
  fi
  f=$(make_stream "$1" "$2")
  size=$(stat -c %s "$f")
  cat "$f" > /dev/null  # warm the page cache
  read -r cs _ < <(best_of 5 sh -c "cat '$f' > /dev/null")
  printf '%-44s %10s %12s %10s %10s\n' "$(basename "$f")" "$size" "cat" "$cs" "-"
  # the CLI on each Node at hand: the one on PATH (users' own) and the Node 24 setup.sh installs
  # (the workbench's); a Node's own start is part of every command's time (Node 20 ~50 ms, 24 ~30 ms)
  for nodebin in "${NODES[@]}"; do
    nv=$("$nodebin" --version)
    read -r s _ < <(best_of 5 "${CLI_ENV[@]}" "$nodebin" -e 0)
    if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
      read -r sc _ < <(best_of 5 "$nodebin" -e 0)
      printf '%-44s %10s %12s %10s %10s   (node -e 0; %s s with NODE_EXTRA_CA_CERTS, which the CLI runs below are without)\n' "" "" "start $nv" "$s" "-" "$sc"
    else
      printf '%-44s %10s %12s %10s %10s   (node -e 0)\n' "" "" "start $nv" "$s" "-"
    fi
    for cmd in dump inspect; do
      read -r s m < <(best_of 5 "${CLI_ENV[@]}" "$nodebin" "$ROOT/dist/cli.js" "$cmd" "$f")
      printf '%-44s %10s %12s %10s %10s   (%.2fx cat)\n' "" "" "$cmd $nv" "$s" "$((m / 1024))" "$(awk "BEGIN{print $s / ($cs > 0 ? $cs : 0.01)}")"
    done
  done
  # saving: rewrite (decode + write all, fsync) and an edited save against cp + sync
  read -r cps _ < <(best_of 1 sh -c "cp '$f' '$DIR/copy.vmstate' && sync '$DIR/copy.vmstate'")
  rm -f "$DIR/copy.vmstate"
  printf '%-44s %10s %12s %10s %10s\n' "" "" "cp+sync" "$cps" "-"
  read -r s m < <(best_of 1 node "$ROOT/dist/cli.js" rewrite "$f" -o "$DIR/rewrite.vmstate")
  cmp -s "$f" "$DIR/rewrite.vmstate" && same=identical || same=DIFFERENT
  printf '%-44s %10s %12s %10s %10s   (%s)\n' "" "" "rewrite" "$s" "$((m / 1024))" "$same"
  rm -f "$DIR/rewrite.vmstate"
  read -r s m < <(best_of 1 node "$ROOT/dist/cli.js" set-field "$f" --section 'cpu:0' --field 'env.regs[3]' --value 0x1234 -o "$DIR/edited.vmstate")
  printf '%-44s %10s %12s %10s %10s   (one field edited)\n' "" "" "set-field" "$s" "$((m / 1024))"
  rm -f "$DIR/edited.vmstate"
done

# vmstate diff: two saves of the same ~810 MB guest (a second make-big run: same RAM, other
# timers) against `cat` of both; RAM is compared page by page, both files read once
f=$(make_stream 768 2G)
fb="$DIR/b/$(basename "$f")"
if [ ! -s "$fb" ]; then mkdir -p "$DIR/b"; SIZE_MIB=768 RAM=2G SKIP_APT=1 bash "$ROOT/test/tools/make-big.sh" "$DIR/b" >&2; rm -f "$DIR/b"/random-*.bin; fi
cat "$f" "$fb" > /dev/null
# best of 5 wall times, with the CPU (user+sys) of that run: on a busy machine the CPU time is the
# steadier number (cat's is its sys time)
best_cpu() { # cmd... -> "seconds cpu_seconds maxrss_kb"
  local best="" cpu="" rss=""
  for _ in 1 2 3 4 5; do
    read -r s u y m < <(/usr/bin/time -f '%e %U %S %M' "$@" 2>&1 >/dev/null | tail -1)
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; cpu=$(awk "BEGIN{print $u + $y}"); rss=$m; fi
  done
  echo "$best $cpu $rss"
}
read -r cs ccpu _ < <(best_cpu sh -c "cat '$f' '$fb' > /dev/null")
echo
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %10s %12s %10s %10s   (cpu %s s)\n' "diff of two $(basename "$f")" "" "cat A B" "$cs" "-" "$ccpu"
# exit status 1: the streams differ (RTC fields); best_cpu ignores it
read -r s dcpu m < <(best_cpu node "$ROOT/dist/cli.js" diff "$f" "$fb")
printf '%-44s %10s %12s %10s %10s   (%.2fx cat; cpu %s s, %.2fx cat)\n' "" "" "diff" "$s" "$((m / 1024))" "$(awk "BEGIN{print $s / ($cs > 0 ? $cs : 0.01)}")" "$dcpu" "$(awk "BEGIN{print $dcpu / ($ccpu > 0 ? $ccpu : 0.01)}")"
{ node "$ROOT/dist/cli.js" diff "$f" "$fb" || true; } | tail -1 | sed "s/^/  /"

# the editor: open each stream in code-server, time the tree, edits and save, measure the extension host
if [ -z "${SKIP_EDITOR:-}" ]; then
  for spec in $SIZES; do
    set -- ${spec/:/ }
    f="$DIR/big-q35-$2-random-$1m.vmstate"
    [ -s "$f" ] || continue
    echo
    echo "editor (code-server) on $(basename "$f"):"
    # the first rows come as the first sections decode (the tree fills in); allow for a slow start at 4 GB
    PERF_TREE_MS=$(( $(stat -c %s "$f") / 250000 + 2000 )) E2E_BIG=$f SKIP_PACKAGE=${SKIP_PACKAGE:-} bash "$ROOT/scripts/e2e.sh" --only=perf 2>&1 | grep -vE '^== ' | sed 's/^/  /' || true
    SKIP_PACKAGE=1
  done
fi
if [ -z "${BENCH_KEEP:-}" ]; then
  for f in "${made[@]}"; do rm -f "$f" "$f.meta.json"; echo "deleted $f"; done
fi
