#!/usr/bin/env bash
# Builds the release tarball imgplan-VERSION-linux-ARCH.tar.gz (ARCH as uname -m says: x86_64,
# aarch64) for any glibc Linux (RHEL, Rocky, Alma, Fedora, SUSE, Debian, Ubuntu), with no Node.js
# needed on the target:
#
#   imgplan-VERSION-linux-ARCH/
#     install.sh, lib/runtime.sh, node-runtime.env   the install script (bash and coreutils only)
#     imgplan.mjs, imgplan.mjs.licenses.txt          the bundle and the licences of what it bundles
#     node/bin/node, node/LICENSE                    the pinned Node.js, the official binary as pinned
#     share/man, share/bash-completion, share/zsh    man pages and completion
#     README.md, LICENSE
#
# On the target, as root: tar -xzf imgplan-….tar.gz && bash imgplan-…/install.sh   (--prefix DIR,
# --uninstall: see install.sh --help). The node is installed only where the host has no Node.js 22+.
#
#   bash scripts/build-tarball.sh [--out DIR]      (default DIR: dist/packages)
set -euo pipefail
umask 022
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf 'build-tarball: %s\n' "$*"; }
die() { printf 'build-tarball: error: %s\n' "$*" >&2; exit 1; }

out=$PWD/dist/packages
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h | --help) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[ -f dist/imgplan.mjs ] && [ -d dist/share/man ] || die "dist/imgplan.mjs or dist/share is missing: run bash scripts/install-deps.sh (or npm run build) first"

# shellcheck source=lib/runtime.sh
. scripts/lib/runtime.sh
if ! rt_ready; then
  say "the pinned Node.js is not in .runtime/node: fetching it"
  rt_fetch || die "could not fetch the pinned Node.js $NODE_VERSION"
fi
version=$("$RT_DIR/bin/node" -p 'require("./package.json").version')
[[ $version =~ ^[0-9A-Za-z.+~-]+$ ]] || die "package.json's version '$version' cannot name a file"
case $(rt_arch) in
  x64) arch=x86_64 ;;
  arm64) arch=aarch64 ;;
esac
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

name=imgplan-$version-linux-$arch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
top=$work/$name
install -d "$top/lib" "$top/node/bin" "$top/share"
install -m 0755 scripts/install.sh "$top/install.sh"
install -m 0644 scripts/lib/runtime.sh "$top/lib/runtime.sh"
install -m 0644 scripts/node-runtime.env "$top/node-runtime.env"
install -m 0644 dist/imgplan.mjs "$top/imgplan.mjs"
install -m 0644 dist/imgplan.mjs.licenses.txt "$top/imgplan.mjs.licenses.txt"
install -m 0755 "$RT_DIR/bin/node" "$top/node/bin/node"
install -m 0644 "$RT_DIR/LICENSE" "$top/node/LICENSE"
# the stamp says which pin this node is (rt_ready checks it, as in a clone)
install -m 0644 "$RT_STAMP" "$top/node/imgplan-runtime.txt"
cp -R dist/share/. "$top/share/"
install -m 0644 README.md LICENSE "$top/"

mkdir -p "$out"
tarball=$out/$name.tar.gz
# reproducible: fixed owner, order and times
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work" -cf - "$name" | gzip -9n >"$tarball.partial"
mv -f "$tarball.partial" "$tarball"
say "$tarball ($(du -h "$tarball" | cut -f1))"
