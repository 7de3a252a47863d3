#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 / Ubuntu machine, as root:
#   sudo bash scripts/test.sh
# Installs what it needs (apt packages, npm ci), builds, then runs unit and real-kernel
# integration tests (`npm test`). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
bash scripts/install-deps.sh
echo "== host lane: unit + integration tests (kernel $(uname -r))"
lane_start=$(date +%s)
npm test
echo "== host lane took $(( $(date +%s) - lane_start )) s; whole run $(( $(date +%s) - start )) s"
