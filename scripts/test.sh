#!/usr/bin/env bash
# npm test: set up, build, type-check, lint, then the unit tests (plain Node, real QEMU and a real
# dbus-daemon) and the VS Code tests (code-server + Chromium). Ends with one summary line.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh test || exit 1
set -e
echo "== build";     npm run -s build
echo "== typecheck"; npm run -s typecheck
echo "== lint";      npm run -s lint
set +e
mkdir -p test-results
echo "== unit tests (node --test)"
node --test --test-reporter=spec --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination=test-results/unit.tap out/test/unit/
unit=$?
upass=$(grep -c '^ok ' test-results/unit.tap 2>/dev/null || true); upass=${upass:-0}
ufail=$(grep -c '^not ok ' test-results/unit.tap 2>/dev/null || true); ufail=${ufail:-0}
if [ "$unit" -ne 0 ] && [ "$ufail" -eq 0 ]; then ufail=1; fi
epass=0; efail=0; e2e=0
# suite SCRIPT NAME TITLE: one VS Code suite; pass/fail from its exit status, counts from its last line
suite() {
  local script=$1 name=$2 title=$3 rc line p f
  echo "== $title"
  SKIP_PACKAGE=$reuse bash "scripts/$script" | tee "test-results/$name.log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "test-results/$name.log" | tail -1)
  p=$(echo "$line" | sed -nE "s/^$name: ([0-9]+) passed.*/\1/p"); p=${p:-0}
  f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p'); f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  epass=$((epass + p)); efail=$((efail + f))
  [ "$rc" -ne 0 ] && e2e=1
  # the first suite built and packaged the extension: the others reuse it
  reuse=1
}
if [ -z "${SKIP_E2E:-}" ]; then
  reuse=""
  suite e2e.sh e2e "VS Code tests: the editor and the compare view (code-server + Chromium)"
  suite e2e-bus.sh e2e-bus "bus explorer in VS Code (private dbus-daemon, code-server + Chromium)"
  suite e2e-qemu.sh e2e-qemu "QEMU view in VS Code (demo QEMUs over QMP, code-server + Chromium)"
fi
echo
echo "unit: $upass passed, $ufail failed"
echo "e2e: $epass passed, $efail failed"
echo "total: $((upass + epass)) passed, $((ufail + efail)) failed"
[ "$unit" -eq 0 ] && [ "$e2e" -eq 0 ]
