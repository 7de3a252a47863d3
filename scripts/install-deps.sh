#!/usr/bin/env bash
# Installs what imgplan and its tests need on Debian 12 / Ubuntu, then builds imgplan.
# Idempotent: apt runs only when a package is missing, npm ci only when node_modules is
# missing or older than package-lock.json. Run as root (apt needs it); no TTY needed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

# System tools imgplan runs (losetup, mount, lsblk, findmnt, blkid, sfdisk, fuser, mkdir, rmdir)
# and those its tests and the demo use (mkfs.*, git); ntfs-3g mounts NTFS (Windows guests) and
# provides mkntfs and ntfsinfo for the tests; mtools writes files into FAT images without mounting;
# lvm2 (lvchange, vgchange, vgs) activates LVM volume groups found in guest images; qemu-utils
# (qemu-img, qemu-nbd) and qemu-system-common (qemu-storage-daemon) open qcow2 and other QEMU
# formats; procps (pkill) and kmod (modprobe) stop those daemons and load nbd; groff-base, man-db and
# zsh check the generated man pages and shell completion in the tests.
PACKAGES=(mount util-linux fdisk e2fsprogs xfsprogs btrfs-progs dosfstools mtools ntfs-3g lvm2 psmisc procps kmod qemu-utils qemu-system-common coreutils ca-certificates git groff-base man-db zsh)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
node_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

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

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
else
  say "system packages present"
fi

if [ "$(node_major)" -lt 20 ]; then
  say "Node.js 20+ not found (node: $(command -v node >/dev/null && node --version || echo missing)); trying the distribution's nodejs"
  node_pkgs=(nodejs)
  command -v npm >/dev/null 2>&1 || node_pkgs+=(npm)
  apt_install "${node_pkgs[@]}"
  if [ "$(node_major)" -lt 20 ]; then
    die "imgplan needs Node.js 20 or newer, but this system has node $(node --version 2>/dev/null || echo missing).
  Install Node.js 20+ (for example NodeSource's Debian/Ubuntu packages, or nvm), then run this again.
  If Node.js 20+ is installed for your user only (nvm), sudo may not see it: use sudo env PATH=\"\$PATH\" bash scripts/demo.sh (or test.sh)"
  fi
fi
command -v npm >/dev/null 2>&1 || die "npm is missing; install the npm that comes with your Node.js $(node --version)"
say "node $(node --version), npm $(npm --version 2>/dev/null)"

# npm ci writes node_modules/.package-lock.json; a newer package-lock.json means it is out of date
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
else
  say "node_modules up to date"
fi

say "npm run build"
npm run --silent build
say "done"
