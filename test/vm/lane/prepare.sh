#!/usr/bin/env bash
# Prepares the VM lane: host packages, Debian's stock kernel (downloaded with apt, unpacked,
# never installed), its storage modules, and a busybox initramfs that mounts this machine's "/"
# read-only over virtio-9p with a tmpfs overlay. Idempotent; prints the kernel directory.
#
#   test/vm/lane/prepare.sh [--no-apt]      cache: $IMGPLAN_VM_CACHE (default /var/cache/imgplan-vm)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${IMGPLAN_VM_CACHE:-/var/cache/imgplan-vm}
say() { printf 'vm-prepare: %s\n' "$*" >&2; }

# what the guest needs from the host's root: QEMU itself, busybox for the initramfs, kmod for
# modprobe in the guest, and the storage tools the VM suite drives
packages=(qemu-system-x86 busybox-static kmod kpartx dmsetup lvm2 udev xz-utils zstd)
if [ "${1:-}" != --no-apt ]; then
  missing=()
  for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
extract_vmlinux() { # VMLINUZ OUT: the ELF kernel inside a bzImage, as the kernel's scripts/extract-vmlinux finds it
  local magic tool at
  for magic in $'\xfd7zXZ\x00':xz $'\x28\xb5\x2f\xfd':zstd; do
    tool=${magic##*:} magic=${magic%:*}
    command -v "$tool" >/dev/null || continue
    for at in $(LC_ALL=C grep -Fabo -- "$magic" "$1" | cut -d: -f1 | head -5 || true); do
      tail -c +"$((at + 1))" "$1" | "$tool" -dc 2>/dev/null >"$2" || true
      is_elf "$2" && return 0
    done
  done
  return 1
}

# the meta package names the ABI package, e.g. linux-image-6.1.0-56-amd64
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(resolve)
[ -n "$pkg" ] || { apt-get update -qq; pkg=$(resolve); }
[ -n "$pkg" ] || { say "cannot resolve linux-image-amd64"; exit 1; }
kver=${pkg#linux-image-}
kdir=$cache/$kver
stamp="$kdir/.ready-$(cat "$here/guest-init" "$here/prepare.sh" | sha256sum | cut -c1-12)"
if [ -f "$stamp" ]; then echo "$kdir"; exit 0; fi

say "preparing kernel $kver in $kdir"
mkdir -p "$kdir"
work=$(mktemp -d "$cache/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -f "$kdir/vmlinux" ]; then
  # apt-get download runs as _apt when it can; give it a folder it may write
  chmod 755 "$work"; id _apt >/dev/null 2>&1 && chown _apt "$work"
  (cd "$work" && apt-get download -qq "$pkg")
  dpkg-deb -x "$work/${pkg}"_*.deb "$work/deb"
  cp "$work/deb/boot/config-$kver" "$kdir/config"
  # only what storage tests can load: block, dm, md, loop, nbd, filesystems, 9p, virtio
  # Debian 13's kernel packages (merged /usr) keep them in /usr/lib/modules, Debian 12's in /lib/modules
  src=$work/deb/lib/modules/$kver dst=$kdir/lib/modules/$kver
  [ -d "$src" ] || src=$work/deb/usr/lib/modules/$kver
  [ -d "$src" ] || { say "no modules for $kver in $pkg"; exit 1; }
  rm -rf "$kdir/lib"; mkdir -p "$dst/kernel/drivers" "$dst/kernel/net"
  cp -a "$src"/modules.builtin* "$src"/modules.order "$dst/"
  for d in arch block crypto fs lib mm; do [ -d "$src/kernel/$d" ] && cp -a "$src/kernel/$d" "$dst/kernel/"; done
  for d in block md virtio char; do [ -d "$src/kernel/drivers/$d" ] && cp -a "$src/kernel/drivers/$d" "$dst/kernel/drivers/"; done
  cp -a "$src/kernel/net/9p" "$dst/kernel/net/"
  # Debian 13 compresses its modules (.ko.xz); the initramfs's busybox insmod loads only plain ones
  find "$dst" -name '*.ko.xz' -exec xz -d {} +
  depmod -b "$kdir" "$kver"
  # QEMU boots the uncompressed ELF through its PVH entry: no real-mode setup and no in-guest
  # xz decompression, which cost seconds under TCG
  # (Debian 12 compresses it with xz, Debian 13 with zstd: tried at each place the magic appears)
  extract_vmlinux "$work/deb/boot/vmlinuz-$kver" "$work/vmlinux" || { say "no vmlinux in $pkg"; exit 1; }
  mv "$work/vmlinux" "$kdir/vmlinux"
fi

# initramfs: static busybox, the modules that reach the 9p root, and our init
ir=$work/initramfs
mkdir -p "$ir"/{bin,dev,proc,sys,lower,upper,root,modules}
cp /bin/busybox "$ir/bin/"
for a in sh mount mkdir insmod switch_root cat poweroff ln; do ln -s busybox "$ir/bin/$a"; done
for m in virtio_pci virtio_console 9pnet_virtio 9p overlay; do
  modprobe -d "$kdir" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$ir/modules/"; basename "$ko" >> "$ir/modules/order"
done
install -m 755 "$here/guest-init" "$ir/init"
echo "$kver" > "$ir/kver"
(cd "$ir" && find . -print0 | sort -z | busybox cpio -0 -o -H newc -R 0:0 2>/dev/null) | gzip -1 > "$kdir/initramfs.gz"
rm -f "$kdir"/.ready-*; touch "$stamp"
say "ready: $(du -sh "$kdir" | cut -f1)"
echo "$kdir"
