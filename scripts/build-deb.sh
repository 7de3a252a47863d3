#!/usr/bin/env bash
# Builds the Debian package imgplan_VERSION_ARCH.deb with dpkg-deb: the bundle (dist/imgplan.mjs) and
# the pinned Node.js (.runtime/node, byte for byte the official binary scripts/node-runtime.env pins)
# under /usr/lib/imgplan, the launcher /usr/bin/imgplan, the man pages, bash and zsh completion, and
# /usr/share/doc/imgplan (copyright, changelog). Works on any Debian or Ubuntu with dpkg-dev.
#
#   bash scripts/build-deb.sh [--out DIR]      (default DIR: dist/packages)
#
# Run scripts/install-deps.sh first (it builds dist/ and fetches the runtime where this host's node
# is too old); without .runtime/node this script fetches the pinned runtime itself. The package's
# Depends are what every run needs (util-linux, mount, fdisk, e2fsprogs) and the shared libraries the
# node binary links (dpkg-shlibdeps); Recommends and Suggests the tools of the other backends. The
# build is reproducible: SOURCE_DATE_EPOCH (default: the last commit's time) dates every file.
set -euo pipefail
umask 022
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/package.sh
. scripts/lib/package.sh
for t in dpkg-deb dpkg-shlibdeps dpkg-architecture gzip; do
  command -v "$t" >/dev/null || { printf 'build-deb: error: %s is missing: apt-get install dpkg-dev\n' "$t" >&2; exit 1; }
done
pkg_init build-deb 2,13 "$@"
version=$PKG_VERSION
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([~+.][0-9A-Za-z.~+]*)?$ ]] || pkg_die "package.json's version '$version' is not a Debian version"
case $PKG_ARCH in
  x64) arch=amd64 ;;
  arm64) arch=arm64 ;;
esac
[ "$(dpkg-architecture -qDEB_HOST_ARCH)" = "$arch" ] || pkg_die "this host is $(dpkg-architecture -qDEB_HOST_ARCH), the runtime is $arch"
# the project has no mailing address yet: .invalid says so (RFC 2606); packagers set their own
maintainer=${IMGPLAN_DEB_MAINTAINER:-imgplan developers <maintainers@imgplan.invalid>}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
lib=$root/usr/lib/imgplan
doc=$root/usr/share/doc/imgplan
install -d "$root/DEBIAN" "$root/usr/bin" "$lib/node/bin" "$doc" \
  "$root/usr/share/man/man1" "$root/usr/share/man/man5" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/lintian/overrides"

install -m 0644 dist/imgplan.mjs "$lib/imgplan.mjs"
install -m 0755 "$RT_DIR/bin/node" "$lib/node/bin/node"
{
  printf '#!/bin/sh\n# imgplan from the Debian package: the bundle on the Node.js it ships (/usr/lib/imgplan/node).\n'
  rt_compile_cache_lines
  printf 'exec /usr/lib/imgplan/node/bin/node /usr/lib/imgplan/imgplan.mjs "$@"\n'
} >"$root/usr/bin/imgplan"
chmod 0755 "$root/usr/bin/imgplan"

for m in dist/share/man/man1/*.1 dist/share/man/man5/*.5; do
  s=${m##*.}
  gzip -9n <"$m" >"$root/usr/share/man/man$s/$(basename "$m").gz"
done
install -m 0644 dist/share/bash-completion/completions/imgplan "$root/usr/share/bash-completion/completions/imgplan"
# Debian's zsh looks in vendor-completions, not site-functions
install -m 0644 dist/share/zsh/site-functions/_imgplan "$root/usr/share/zsh/vendor-completions/_imgplan"

{
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: imgplan
Comment: /usr/lib/imgplan/imgplan.mjs is imgplan bundled with the npm packages it uses, each under
 its own licence (the list below). /usr/lib/imgplan/node is the official Node.js $NODE_VERSION
 binary from the npm package node-linux-$PKG_ARCH, unmodified.

Files: *
Copyright: the imgplan developers
License: MIT

Files: usr/lib/imgplan/node/*
Copyright: Node.js contributors and others (see below)
License: Node.js
EOF
  printf '%s\n' "$(sed 's/^$/./; s/^/ /' "$RT_DIR/LICENSE")"
  echo
  echo "License: MIT"
  sed 's/^$/./; s/^/ /' LICENSE
  echo
  echo "Comment: the packages bundled into /usr/lib/imgplan/imgplan.mjs and their licences:"
  sed 's/^$/./; s/^/ /' dist/imgplan.mjs.licenses.txt
} >"$doc/copyright"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  printf 'imgplan (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Built from commit %s of the imgplan repository.\n\n' "$commit"
  printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"

cat >"$root/usr/share/lintian/overrides/imgplan" <<'EOF'
# The official Node.js binary, unmodified so that it can be checked against the sha512 the repository
# pins (scripts/node-runtime.env); Node.js builds it with its own bundled libraries and flags.
imgplan: unstripped-binary-or-object [usr/lib/imgplan/node/bin/node]
imgplan: embedded-library * [usr/lib/imgplan/node/bin/node]
imgplan: hardening-no-fortify-functions [usr/lib/imgplan/node/bin/node]
imgplan: hardening-no-pie [usr/lib/imgplan/node/bin/node]
imgplan: spelling-error-in-binary * [usr/lib/imgplan/node/bin/node]
# Node.js's LICENSE file, verbatim: it carries the full texts of its bundled parts' licences
imgplan: copyright-file-contains-full-apache-2-license
imgplan: old-fsf-address-in-copyright-file
# run by /usr/bin/imgplan with the node shipped beside it, never by its #! line
imgplan: script-not-executable [usr/lib/imgplan/imgplan.mjs]
EOF

# shared libraries of the node binary, the way dpkg-shlibdeps finds them for a Debian build
mkdir -p "$work/shlibs/debian"
printf 'Source: imgplan\n\nPackage: imgplan\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$lib/node/bin/node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || pkg_die "dpkg-shlibdeps found no libraries for the node binary"

size=$(du -sk --apparent-size "$root/usr" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: imgplan
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $shlibs, util-linux (>= 2.38), mount, fdisk, e2fsprogs
Recommends: lvm2, kpartx, dmsetup, qemu-utils, qemu-system-common, ntfs-3g, libhivex-bin, psmisc, procps, kmod
Suggests: xfsprogs, btrfs-progs, dosfstools
Section: admin
Priority: optional
Description: plan, apply and destroy read-only mounts of KVM guest disk images
 imgplan opens a virtual machine's disk on the host from a YAML manifest:
 which images, which partitions, LVM volumes and filesystems, and where to
 mount them. 'imgplan plan' reads the live state and prints the ordered
 actions with their exact commands, changing nothing; 'imgplan apply' runs
 exactly that plan; 'imgplan destroy' undoes it.
 .
 Read-only by default: nothing is written to an image unless the manifest
 asks. Raw and QEMU images (qcow2 and others), partition tables, LVM kept
 apart from the host's, NTFS and FAT. The package ships its own Node.js
 runtime in /usr/lib/imgplan.
EOF

# what imgplan's runs made (/usr/bin/imgplan's compile cache) goes with the package: on remove, as a
# cache that a later version would not use; the folder only if nothing else is in it
cat >"$root/DEBIAN/postrm" <<EOF
#!/bin/sh
set -e
if [ "\$1" = remove ] || [ "\$1" = purge ]; then
  rm -rf $RT_COMPILE_CACHE
  rmdir ${RT_COMPILE_CACHE%/*} 2>/dev/null || true
fi
EOF
chmod 0755 "$root/DEBIAN/postrm"

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
touch -d "@$SOURCE_DATE_EPOCH" "$root/DEBIAN/md5sums"
deb=$PKG_OUT/imgplan_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
pkg_say "$deb ($(du -h "$deb" | cut -f1), installed $((size / 1024)) MiB)"
