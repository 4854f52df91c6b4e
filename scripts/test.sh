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
if [ -z "${SKIP_E2E:-}" ] && [ -f scripts/e2e.sh ] && [ -n "${RUN_E2E:-1}" ]; then
  echo "== VS Code tests (code-server + Chromium)"
  bash scripts/e2e.sh | tee test-results/e2e.log
  e2e=${PIPESTATUS[0]}
  line=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed' test-results/e2e.log | tail -1)
  epass=$(echo "$line" | sed -E 's/^e2e: ([0-9]+) passed.*/\1/'); epass=${epass:-0}
  efail=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/'); efail=${efail:-0}
  if [ "$e2e" -ne 0 ] && [ "$efail" -eq 0 ]; then efail=1; fi
  echo "== bus explorer in VS Code (private dbus-daemon, code-server + Chromium)"
  # e2e.sh has just built and packaged the extension: do not package it twice
  reuse=""; [ qemu-vmstate.vsix -nt test-results/unit.tap ] && reuse=1
  SKIP_PACKAGE=$reuse bash scripts/e2e-bus.sh | tee test-results/e2e-bus.log
  bus=${PIPESTATUS[0]}
  line=$(grep -E '^e2e-bus: [0-9]+ passed, [0-9]+ failed' test-results/e2e-bus.log | tail -1)
  bpass=$(echo "$line" | sed -E 's/^e2e-bus: ([0-9]+) passed.*/\1/'); bpass=${bpass:-0}
  bfail=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/'); bfail=${bfail:-0}
  if [ "$bus" -ne 0 ] && [ "$bfail" -eq 0 ]; then bfail=1; fi
  epass=$((epass + bpass)); efail=$((efail + bfail))
  [ "$bus" -ne 0 ] && e2e=1
  echo "== QEMU view in VS Code (demo QEMUs over QMP, code-server + Chromium)"
  SKIP_PACKAGE=$reuse bash scripts/e2e-qemu.sh | tee test-results/e2e-qemu.log
  qrc=${PIPESTATUS[0]}
  line=$(grep -E '^e2e-qemu: [0-9]+ passed, [0-9]+ failed' test-results/e2e-qemu.log | tail -1)
  qpass=$(echo "$line" | sed -E 's/^e2e-qemu: ([0-9]+) passed.*/\1/'); qpass=${qpass:-0}
  qfail=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/'); qfail=${qfail:-0}
  if [ "$qrc" -ne 0 ] && [ "$qfail" -eq 0 ]; then qfail=1; fi
  epass=$((epass + qpass)); efail=$((efail + qfail))
  [ "$qrc" -ne 0 ] && e2e=1
fi
echo
echo "unit: $upass passed, $ufail failed"
echo "e2e: $epass passed, $efail failed"
echo "total: $((upass + epass)) passed, $((ufail + efail)) failed"
[ "$unit" -eq 0 ] && [ "$e2e" -eq 0 ]
