#!/usr/bin/env bash
# Installs what imgplan and its tests need on Debian 12 / Ubuntu, then builds imgplan.
# Node.js: this host's own node if it is 22 or newer (scripts/node-runtime.env, IMGPLAN_NODE_MIN), else
# the pinned Node.js LTS that scripts/lib/runtime.sh fetches from the npm registry, checks against its
# pinned sha512 and unpacks into .runtime/node/ (the host's node is left alone); npm ci and the build
# run on that node. Callers put the same node first on PATH with rt_select (scripts/lib/runtime.sh).
# Idempotent: apt runs only when a package is missing, the runtime is fetched only when .runtime/node
# is not the pinned one, npm ci only when node_modules is missing, older than package-lock.json or
# installed by another node. Run as root (apt needs it); no TTY needed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/runtime.sh
. scripts/lib/runtime.sh
say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

# System tools imgplan runs (losetup, mount, lsblk, findmnt, blkid, sfdisk, fuser, mkdir, rmdir)
# and those its tests and the demo use (mkfs.*, git); ntfs-3g mounts NTFS (Windows guests) and
# provides mkntfs and ntfsinfo for the tests; libhivex-bin (hivexget, hivexsh) reads Windows'
# registry hives for inspect and writes the tests' hives; mtools writes files into FAT images without mounting;
# lvm2 (lvchange, vgchange, vgs) activates LVM volume groups found in guest images; qemu-utils
# (qemu-img, qemu-nbd) and qemu-system-common (qemu-storage-daemon) open qcow2 and other QEMU
# formats; procps (pkill) and kmod (modprobe) stop those daemons and load nbd; curl fetches the
# pinned Node.js where this host has none new enough; groff-base, man-db and zsh check the
# generated man pages and shell completion in the tests.
PACKAGES=(mount util-linux fdisk e2fsprogs xfsprogs btrfs-progs dosfstools mtools ntfs-3g libhivex-bin lvm2 psmisc procps kmod qemu-utils qemu-system-common coreutils ca-certificates curl git groff-base man-db zsh)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() {
  [ "$(id -u)" -eq 0 ] || die "these packages are missing: $*; run as root (sudo) to install them"
  if [ -z "${APT_UPDATED:-}" ]; then
    say "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  hash -r
}

# scripts/test.sh also needs these (IMGPLAN_WITH_TEST_TOOLS=1): dpkg-dev builds the .deb, lintian checks it, debootstrap
# makes the fresh roots of the fresh-machine lane (test/fresh-root/run.sh)
if [ "${IMGPLAN_WITH_TEST_TOOLS:-}" = 1 ]; then PACKAGES+=(dpkg-dev lintian debootstrap); fi

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
else
  say "system packages present"
fi

if ! rt_select; then
  say "$RT_WHY: using the pinned Node.js $NODE_VERSION (scripts/node-runtime.env) in .runtime/node"
  rt_fetch || die "could not set up the pinned Node.js $NODE_VERSION"
  rt_select || die "the pinned Node.js in .runtime/node does not run here"
fi
say "node $(node --version) ($RT_NODE), npm $(npm --version 2>/dev/null)"

# npm ci writes node_modules/.package-lock.json; a newer package-lock.json means it is out of date,
# and node_modules/.imgplan-node names the node it was installed with (packages may hold binaries)
stamp="$RT_NODE $(node --version)"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
  || [ "$(cat node_modules/.imgplan-node 2>/dev/null)" != "$stamp" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --no-update-notifier --loglevel=error
  printf '%s\n' "$stamp" >node_modules/.imgplan-node
else
  say "node_modules up to date"
fi

say "npm run build"
npm run --silent build
say "done"
