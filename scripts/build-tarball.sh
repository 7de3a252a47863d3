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
# shellcheck source=lib/package.sh
. scripts/lib/package.sh
pkg_init build-tarball 2,17 "$@"
version=$PKG_VERSION
[[ $version =~ ^[0-9A-Za-z.+~-]+$ ]] || pkg_die "package.json's version '$version' cannot name a file"
case $PKG_ARCH in
  x64) arch=x86_64 ;;
  arm64) arch=aarch64 ;;
esac

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

tarball=$PKG_OUT/$name.tar.gz
# reproducible: fixed owner, order and times
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work" -cf - "$name" | gzip -9n >"$tarball.partial"
mv -f "$tarball.partial" "$tarball"
pkg_say "$tarball ($(du -h "$tarball" | cut -f1))"
