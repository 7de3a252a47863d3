#!/usr/bin/env bash
# imgplan demo: installs what imgplan needs (scripts/install-deps.sh) and imgplan itself on PATH
# (scripts/install.sh: /usr/local/bin/imgplan), builds a small guest disk image in .demo/, then runs
# plan -> apply -> look inside -> destroy with examples/demo.yaml through the installed imgplan,
# and proves that the image is byte-for-byte unchanged and that nothing is left attached. Run as
# root. imgplan stays installed (bash scripts/install.sh --uninstall removes it).
#
#   bash scripts/demo.sh               the quick start: install what is needed, then the demo
#   bash scripts/demo.sh --installed   only the demo, through the imgplan already on PATH (from the
#                                      .deb or the release tarball); needs sfdisk, mkfs.ext4, losetup
set -euo pipefail
installed=0
case ${1:-} in
  '') ;;
  --installed) installed=1 ;;
  *) echo "demo.sh: unknown argument: $1 (none, or --installed)" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
DEMO=$REPO/.demo                 # owned by this script; ignored by git
IMG=$DEMO/demo.img               # examples/demo.yaml names it as ../.demo/demo.img
MANIFEST=examples/demo.yaml
MNT=/mnt/imgplan-demo/guest      # the mountpoint examples/demo.yaml uses (imgplan makes /mnt/imgplan-demo 0700)

step() { printf '\n==> %s\n' "$*"; }
IMGPLAN=                         # the installed launcher, once scripts/install.sh has run
imgplan() { "$IMGPLAN" "$@"; }

[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root: sudo bash scripts/demo.sh" >&2; exit 1; }

# Loop devices of the image (or of the one being built): the demo owns these files.
detach_image() {
  local f dev
  for f in "$IMG" "$IMG.partial"; do
    [ -e "$f" ] || continue
    for dev in $(losetup --noheadings --output NAME --associated "$f"); do
      findmnt --noheadings --raw --output TARGET --source "$dev" | xargs -r -n1 umount || true
      losetup --detach "$dev" || true
    done
  done
}
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] && return
  echo "demo.sh: failed (exit $rc); cleaning up" >&2
  if [ -n "$IMGPLAN" ]; then imgplan destroy --auto-approve "$MANIFEST" >&2 || true; fi
  detach_image
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

if [ "$installed" = 1 ]; then
  IMGPLAN=$(type -P imgplan || true)  # the file on PATH (imgplan is also this script's function)
  [ -n "$IMGPLAN" ] || { echo "demo.sh: --installed, but there is no imgplan on PATH" >&2; exit 1; }
  step "Using the installed imgplan: $IMGPLAN"
else
  step "Installing dependencies and building imgplan"
  bash scripts/install-deps.sh

  step "Installing imgplan on PATH (scripts/install.sh)"
  bash scripts/install.sh
  case ":$PATH:" in
    *:/usr/local/bin:*) ;;
    *) PATH=/usr/local/bin:$PATH; echo "(/usr/local/bin was not on PATH; the demo adds it)" ;;
  esac
  hash -r
  IMGPLAN=$(type -P imgplan || true)
  if [ "$IMGPLAN" != /usr/local/bin/imgplan ]; then
    echo "note: ${IMGPLAN:-nothing} comes first on PATH as imgplan; the demo runs /usr/local/bin/imgplan" >&2
    IMGPLAN=/usr/local/bin/imgplan
  fi
fi
echo "\$ imgplan --version"
imgplan --version

# A 400 MiB sparse raw disk with an MBR table: part1 16 MiB ext4 "boot", part2 ext4 "root".
# The filesystems are made on temporary writable loops of each partition (offset/sizelimit),
# filled from a staging folder by mkfs.ext4 -d, so nothing is ever mounted writable.
mkfs_partition() { # N LABEL DIR
  local start sectors dev
  read -r start sectors < <(partx --show --noheadings --output START,SECTORS --nr "$1" "$IMG.partial")
  dev=$(losetup --find --show --offset $((start * 512)) --sizelimit $((sectors * 512)) "$IMG.partial")
  mkfs.ext4 -q -F -L "$2" -d "$3" "$dev"
  losetup --detach "$dev"
}
build_image() {
  mkdir -p "$DEMO"
  rm -rf "$IMG.partial" "$DEMO/stage"
  truncate -s 400M "$IMG.partial"
  printf 'label: dos\nstart=2048, size=16MiB, type=83\ntype=83\n' | sfdisk --quiet "$IMG.partial"

  mkdir -p "$DEMO/stage/boot/grub" "$DEMO/stage/root/etc" "$DEMO/stage/root/boot"
  printf 'set timeout=5\nmenuentry "demo-guest" {\n  linux /vmlinuz root=LABEL=root ro\n}\n' >"$DEMO/stage/boot/grub/grub.cfg"
  echo demo-guest >"$DEMO/stage/root/etc/hostname"
  printf 'PRETTY_NAME="imgplan demo guest"\nNAME="demo"\nID=demo\n' >"$DEMO/stage/root/etc/os-release"

  mkfs_partition 1 boot "$DEMO/stage/boot"
  mkfs_partition 2 root "$DEMO/stage/root"
  rm -rf "$DEMO/stage"
  mv "$IMG.partial" "$IMG"
}

if [ -f "$IMG" ]; then
  step "Reusing demo image $IMG"
else
  step "Building demo image $IMG"
  build_image
fi
sfdisk --list "$IMG" | sed -n '/^Device/,$p'
SHA_BEFORE=$(sha256sum "$IMG" | cut -d' ' -f1)
echo "sha256 $SHA_BEFORE"

step "imgplan plan $MANIFEST"
imgplan plan "$MANIFEST"

step "imgplan apply --auto-approve $MANIFEST"
imgplan apply --auto-approve "$MANIFEST"

step "Inside the guest (read-only)"
echo "\$ cat $MNT/etc/hostname"
cat "$MNT/etc/hostname"
echo "\$ ls -l $MNT/boot/grub"
ls -l "$MNT/boot/grub"
findmnt --output TARGET,SOURCE,FSTYPE,OPTIONS --submounts "$MNT"

step "imgplan destroy --auto-approve $MANIFEST"
imgplan destroy --auto-approve "$MANIFEST"

step "Checking"
SHA_AFTER=$(sha256sum "$IMG" | cut -d' ' -f1)
[ "$SHA_AFTER" = "$SHA_BEFORE" ] || { echo "image changed: sha256 $SHA_AFTER" >&2; exit 1; }
echo "image unchanged: sha256 $SHA_AFTER"
LEFT=$(losetup --associated "$IMG")
[ -z "$LEFT" ] || { echo "loop devices still attached to the image:" >&2; echo "$LEFT" >&2; exit 1; }
echo "no loop device attached to the image (losetup -j prints nothing)"
! findmnt --noheadings "$MNT" >/dev/null || { echo "$MNT is still mounted" >&2; exit 1; }
[ ! -e /mnt/imgplan-demo ] || { echo "/mnt/imgplan-demo is still there" >&2; exit 1; }
echo "nothing mounted at $MNT, and the directories imgplan made are gone"

printf '\nDemo OK\n'
