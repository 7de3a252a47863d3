#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 / Ubuntu machine, as root:
#   bash scripts/test.sh        (sudo bash scripts/test.sh as another user)
# Installs what it needs (apt packages, Node.js 22+ (the pinned runtime in .runtime/node where the
# host's node is older: scripts/lib/runtime.sh), npm ci, a stock Debian kernel for the VM lane), then,
# on that Node.js (first on PATH for every lane):
#   1. host lane: unit tests and real-kernel integration tests on this machine's kernel;
#   2. fresh-machine lane: the .deb and the release tarball built, the quick start, the .deb and the
#      tarball in fresh Debian 12 and 13 roots (test/fresh-root/run.sh);
#   3. VM lane, twice: the test/vm suite in a QEMU VM booting Debian's stock kernel (partition
#      scan, device-mapper, kpartx), once without udev (like a container), once with (like an
#      admin host). A VM-lane test that is skipped fails the run.
# CI runs exactly this (.ci/run). IMGPLAN_VM_LANE=0 skips the VM lane (not allowed in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
IMGPLAN_WITH_TEST_TOOLS=1 bash scripts/install-deps.sh
# shellcheck source=lib/runtime.sh
. scripts/lib/runtime.sh
rt_select || { echo "test.sh: $RT_WHY, and no pinned runtime in .runtime/node (scripts/install-deps.sh failed?)" >&2; exit 1; }
echo "== node $(node --version) ($RT_NODE)"
mkdir -p .test-results
rm -f .test-results/*.json .test-results/*.summary .test-results/*.log
summary=()
failed=0

echo "== host lane: unit + integration tests (kernel $(uname -r))"
t=$(date +%s)
npm run --silent typecheck || failed=1
./node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile=.test-results/host.json || failed=1
summary+=("$(node test/count-results.mjs 'host lane' .test-results/host.json || true) ($(( $(date +%s) - t )) s)")

# The lanes after the host lane run one after another: two TCG VMs at once on 2 cores each ran
# 2-3x slower than alone (measured: lvm.test.ts 361 s alone, 714-869 s beside the other VM), so
# running them together saved nothing.
fresh_lane() {
  local t fr_failed=0 s
  t=$(date +%s)
  bash scripts/build-deb.sh || fr_failed=1
  lintian --fail-on error,warning dist/packages/imgplan_*.deb >.test-results/lintian.txt 2>&1 || { echo "lintian: the .deb has errors or warnings"; fr_failed=1; }
  grep -v 'root privileges' .test-results/lintian.txt || true
  bash scripts/build-tarball.sh || fr_failed=1
  for s in quickstart-12 quickstart-13 deb-13 tarball-12; do
    bash test/fresh-root/run.sh "$s" >".test-results/fresh-root-$s.log" 2>&1 || { fr_failed=1; tail -40 ".test-results/fresh-root-$s.log"; }
    tail -1 ".test-results/fresh-root-$s.log"
  done
  echo "fresh-machine lane: $([ "$fr_failed" = 0 ] && echo passed || echo FAILED) (.deb $(du -h dist/packages/imgplan_*.deb 2>/dev/null | cut -f1 | head -1)) ($(( $(date +%s) - t )) s)" >.test-results/fresh.summary
  [ "$fr_failed" = 0 ]
}
vm_lane() { # MODE
  local t rc=0
  t=$(date +%s)
  bash test/vm/run-suite.sh $([ "$1" = udev ] && echo --udev) || rc=1
  echo "$(node test/count-results.mjs "VM lane ($1)" ".test-results/vm-$1.json" --no-skips || true) ($(( $(date +%s) - t )) s)" >".test-results/vm-$1.summary"
  return "$rc"
}

lanes=(fresh)
if [ "${IMGPLAN_VM_LANE:-1}" = 0 ] && [ "${CI:-}" != true ]; then
  summary+=("VM lane: not run (IMGPLAN_VM_LANE=0)")
else
  echo "== VM lane: preparing (QEMU, Debian's stock kernel)"
  t=$(date +%s)
  bash test/vm/lane/prepare.sh >/dev/null
  summary+=("VM lane preparation: $(( $(date +%s) - t )) s")
  lanes+=(vm-no-udev vm-udev)
fi
for l in "${lanes[@]}"; do
  echo "== $l lane"
  case $l in
    fresh) fresh_lane ;;
    vm-*) vm_lane "${l#vm-}" ;;
  esac || failed=1
  summary+=("$(cat ".test-results/$l.summary" 2>/dev/null || echo "$l lane: no summary (it stopped early: see its output above)")")
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "whole run: $(( $(date +%s) - start )) s"
node -e '
  const fs = require("fs");
  let p = 0, f = 0, s = 0;
  for (const n of fs.readdirSync(".test-results").filter((x) => x.endsWith(".json"))) {
    const r = JSON.parse(fs.readFileSync(".test-results/" + n, "utf8"));
    p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + r.numTodoTests;
  }
  console.log(`total: ${p} passed, ${f} failed, ${s} skipped`);'
exit "$failed"
