#!/usr/bin/env bash
# Runs the VM suite (test/vm) once inside the VM lane: one VM, one vitest start (~30 s under TCG).
#   test/vm/run-suite.sh [--udev]
# Then checks the counts: every test must have run and passed; a skipped test fails the lane,
# since the VM exists to provide what those tests need.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=no-udev; args=()
if [ "${1:-}" = --udev ]; then mode=udev; args=(--udev); fi
mkdir -p .test-results
out=.test-results/vm-$mode.json
rm -f "$out"
start=$(date +%s)
rc=0
# run.sh stops a VM after 1800 s by default; the whole suite took 1783-1802 s on a slow day
bash test/vm/lane/run.sh "${args[@]}" --timeout 3600 -- ./node_modules/.bin/vitest run --config vitest.vm.config.ts \
  --reporter=default --reporter=json --outputFile="$out" || rc=$?
node test/count-results.mjs "VM lane ($mode)" "$out" --no-skips || rc=${rc/#0/1}
echo "== VM lane ($mode) took $(( $(date +%s) - start )) s"
exit "$rc"
