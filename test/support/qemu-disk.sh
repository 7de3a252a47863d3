#!/usr/bin/env bash
# Builds small disk images in QEMU formats with the real tools (sfdisk, mkfs.ext4, qemu-img,
# qemu-storage-daemon), on this machine's kernel: offset loop devices only (no partition scan, no
# device-mapper, no NBD); the `chain` kind also needs FUSE for its qemu-storage-daemon export.
#   qemu-disk.sh convert FORMAT OUT       64 MiB MBR disk (label-id 0x1badd15c):
#                                           p1 sectors 2048+32768 (16 MiB) ext4 "boot", grub/grub.cfg "default=0"
#                                           p2 sectors 34816+96256 (47 MiB) ext4 "root", etc/hostname "guest"
#   qemu-disk.sh whole FORMAT OUT         32 MiB, no partition table: one ext4 "data" with
#                                           srv/www/index.html "<h1>ok</h1>"
#       FORMAT: raw, qcow2, vmdk, vdi, vhdx, vpc (vpc is written with force_size=on, so its virtual
#       size stays 64 MiB exactly instead of being rounded up to a CHS geometry: 67,125,248 bytes;
#       vmdk gets a fixed descriptor CID, 1badd15c, instead of qemu-img's random one)
#   qemu-disk.sh chain BASE.qcow2 TOP.qcow2
#                                         BASE: the `convert` disk as qcow2; TOP: a qcow2 overlay of
#                                           BASE holding one more file, p2 etc/motd "from the top layer",
#                                           written through QEMU (qemu-storage-daemon, writable FUSE
#                                           export of TOP, offset loop, mount); BASE's sha256 is checked
#                                           unchanged. Backing name stored in TOP: BASE as given if
#                                           absolute; if relative, BASE's path relative to TOP's folder
#                                           (QEMU resolves a relative backing name against the
#                                           overlay's folder, not the cwd), so `chain d/b.qcow2
#                                           d/t.qcow2` stores "b.qcow2" and the pair can be moved
#                                           together.
#   qemu-disk.sh dirty-ext4 OUT.img       raw, 32 MiB, one ext4 "root" (no partition table) whose journal
#                                           needs recovery: etc/hostname "guest" is checkpointed; the
#                                           file etc/after-crash.txt "written before the crash" is only
#                                           in the journal. `mount -t ext4 -o ro,noload` does not show
#                                           it, a replaying mount (or e2fsck) does. Checked before
#                                           returning (see dirty_ext4 for how it is made).
#   qemu-disk.sh dirty-ext4-qcow2 OUT.qcow2   the same, converted to qcow2
# Filesystem UUIDs are fixed (see below) so recordings stay stable. Every loop, mount, daemon, FUSE
# export and temporary file it makes is gone when it returns (temporary files under $TMPDIR or /tmp).
set -euo pipefail
kind=${1:-}; [ $# -gt 0 ] && shift
usage() {
  echo "usage: qemu-disk.sh convert|whole raw|qcow2|vmdk|vdi|vhdx|vpc OUT | chain BASE.qcow2 TOP.qcow2 | dirty-ext4 OUT.img | dirty-ext4-qcow2 OUT.qcow2" >&2
  exit 2
}

# Partition layout of the `convert` disk, in bytes.
P1_OFF=$((2048 * 512)) P1_SIZE=$((32768 * 512)) P2_OFF=$((34816 * 512)) P2_SIZE=$((96256 * 512))
UUID_BOOT=6b0a7f3e-0000-4000-8000-00000000b007
UUID_ROOT=6b0a7f3e-0000-4000-8000-000000000700
UUID_DATA=6b0a7f3e-0000-4000-8000-00000000da7a
UUID_DIRTY=6b0a7f3e-0000-4000-8000-0000000d1127

work=$(mktemp -d "${TMPDIR:-/tmp}/qemu-disk.XXXXXX")
loops=() mounts=() pidfiles=() exports=()
cleanup() {
  local i m l p pid
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do m=${mounts[i]}; [ -n "$m" ] && { umount "$m" 2>/dev/null || true; }; done
  for l in "${loops[@]}"; do [ -n "$l" ] && { losetup -d "$l" 2>/dev/null || true; }; done
  for p in "${pidfiles[@]}"; do [ -n "$p" ] && { qsd_stop "$p" || true; }; done
  for m in "${exports[@]}"; do
    [ -n "$m" ] || continue
    for i in 1 2 3; do mounted "$m" && { umount "$m" 2>/dev/null || true; }; done
    rm -f "$m"
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# mounted PATH: something is mounted on PATH. findmnt reads mountinfo; mountpoint(1) would stat the
# path, which fails with ENOTCONN on a FUSE export whose daemon died (see qsd_start)
mounted() { findmnt -rn -o TARGET --mountpoint "$1" >/dev/null; }
fail() { echo "qemu-disk.sh: $*" >&2; exit 1; }
forget() { # array-name value: blank the entry (keeps indexes; cleanup skips blanks)
  local -n arr=$1; local i; for i in "${!arr[@]}"; do [ "${arr[i]}" = "$2" ] && arr[i]=; done; return 0
}

# attach FILE [losetup options…]: sets L to the new loop device
attach() { local f=$1; shift; L=$(losetup --find --show "$@" "$f"); loops+=("$L"); }
detach() { losetup -d "$1"; forget loops "$1"; }
# mnt DEV [mount options…]: mounts DEV (ext4) on a new directory, sets M
mnt() { local d=$1; shift; M=$(mktemp -d "$work/mnt.XXXXXX"); mounts+=("$M"); mount -t ext4 "$@" "$d" "$M"; }
unmnt() { umount "$1"; rmdir "$1"; forget mounts "$1"; }
# put DIR path=content…: writes files (with a trailing newline) below DIR
put() { local d=$1 kv; shift; for kv in "$@"; do mkdir -p "$d/$(dirname "${kv%%=*}")"; printf '%s\n' "${kv#*=}" > "$d/${kv%%=*}"; done; }
# ext4 FILE OFFSET SIZE LABEL UUID GUEST-MOUNTPOINT path=content…: makes an ext4 filesystem in that
# byte range and fills it; "last mounted on" is set to where the guest mounts it (instead of our
# temporary directory)
ext4() {
  local f=$1 off=$2 size=$3 label=$4 uuid=$5 where=$6; shift 6
  attach "$f" --offset "$off" --sizelimit "$size"; local dev=$L
  mkfs.ext4 -q -F -L "$label" -U "$uuid" -E "hash_seed=$uuid" "$dev"
  mnt "$dev"; put "$M" "$@"; unmnt "$M"
  tune2fs -M "$where" "$dev" >/dev/null
  detach "$dev"
}

# qsd_start IMAGE FORMAT on|off: qemu-storage-daemon with a FUSE export of IMAGE (writable or not);
# sets EXPORT (the export file, a raw view of the virtual disk) and PIDFILE. The daemon writes its pid
# file (locked with lockf while it runs) before --daemonize returns, once the export is mounted. If
# writing the pid file fails (e.g. locked by another daemon), QEMU 7.2 exits 1 but leaves its export
# mounted with no daemon behind it ("Transport endpoint is not connected"): cleanup unmounts it.
qsd_start() {
  local img fmt=$2 w=$3 ro=on
  img=$(realpath "$1")   # absolute: the daemon chdirs to / (and /proc/PID/cmdline then says which)
  [ "$w" = on ] && ro=off
  EXPORT=$(mktemp "$work/export.XXXXXX") PIDFILE=$(mktemp -u "$work/qsd.XXXXXX.pid")
  exports+=("$EXPORT") pidfiles+=("$PIDFILE")
  # commas in option values are doubled (QEMU's escaping)
  qemu-storage-daemon \
    --blockdev "driver=file,node-name=f0,filename=${img//,/,,},read-only=$ro" \
    --blockdev "driver=$fmt,node-name=n0,file=f0,read-only=$ro" \
    --export "type=fuse,id=e0,node-name=n0,mountpoint=${EXPORT//,/,,},writable=$w" \
    --pidfile "$PIDFILE" --daemonize
  [ -s "$PIDFILE" ] && mounted "$EXPORT" || fail "qemu-storage-daemon: no pid file or no export"
}
# qsd_stop PIDFILE: SIGTERM to the daemon named in PIDFILE (only if it still holds the file's lock,
# i.e. it is that daemon), then wait until it has exited; it unmounts its export and removes the pid
# file itself.
alive() { local st; st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ] && [ "$st" != X ]; }
qsd_stop() {
  local p=$1 pid i
  [ -e "$p" ] || { forget pidfiles "$p"; return 0; }
  pid=$(cat "$p")
  pkill --signal TERM --pidfile "$p" --logpidfile || { echo "qemu-disk.sh: pid file $p not locked by a running daemon" >&2; return 1; }
  # it exits within milliseconds, then stays a zombie until its parent (pid 1, after --daemonize)
  # reaps it: that can take seconds, so a zombie counts as exited
  for i in $(seq 200); do alive "$pid" || break; sleep 0.05; done
  alive "$pid" && { echo "qemu-disk.sh: qemu-storage-daemon $pid still running 10 s after SIGTERM" >&2; return 1; }
  forget pidfiles "$p"
}

# mbr_disk OUT: the partitioned 64 MiB raw disk of `convert`
mbr_disk() {
  local out=$1
  rm -f "$out"; truncate -s 64M "$out"
  printf 'label: dos\nlabel-id: 0x1badd15c\nstart=2048, size=32768, type=83, bootable\nstart=34816, size=96256, type=83\n' | sfdisk -q "$out"
  ext4 "$out" $P1_OFF $P1_SIZE boot $UUID_BOOT /boot grub/grub.cfg=default=0
  ext4 "$out" $P2_OFF $P2_SIZE root $UUID_ROOT / etc/hostname=guest
}
# whole_disk OUT: the unpartitioned 32 MiB raw disk of `whole`
whole_disk() {
  local out=$1
  rm -f "$out"; truncate -s 32M "$out"
  ext4 "$out" 0 $((32 << 20)) data $UUID_DATA /data 'srv/www/index.html=<h1>ok</h1>'
}
# to_format RAW FORMAT OUT
to_format() {
  local raw=$1 fmt=$2 out=$3 opts=()
  case $fmt in
    raw) cp --sparse=always "$raw" "$out"; return ;;
    qcow2|vmdk|vdi|vhdx) ;;
    vpc) opts=(-o force_size=on) ;;
    *) usage ;;
  esac
  rm -f "$out"
  qemu-img convert -f raw -O "$fmt" "${opts[@]}" "$raw" "$out"
  if [ "$fmt" = vmdk ]; then
    # qemu-img picks a random content ID (CID) for the embedded descriptor; fix it, same length
    local off
    off=$(grep -abo -m1 'CID=[0-9a-f]\{8\}' "$out" | head -1 | cut -d: -f1)
    [ -n "$off" ] || fail "$out: no CID in the VMDK descriptor"
    printf 1badd15c | dd of="$out" bs=1 seek=$((off + 4)) conv=notrunc status=none
  fi
}

# dirty_ext4 OUT: see the header. The technique: write the baseline, `sync` (everything in place),
# then create etc/after-crash.txt and fsync only that file: fsync commits the running transaction
# (the new directory entry, inode, bitmaps) to the journal and waits for it, but does not checkpoint,
# so the metadata blocks in place are still the old ones (dirty in the loop device's page cache; the
# kernel writes them back only after dirty_expire_centisecs, 30 s by default). Copying the backing
# file at that moment gives an image that is exactly what a power cut would leave. (A plain `sync`
# or `sync -f` instead would also write back the block device, i.e. the in-place metadata, and the
# file would be visible without replay.) The result is checked with debugfs, which does not replay:
# should writeback ever win the race (memory pressure), the script fails instead of producing a
# clean image. 65 of 65 runs on the host kernel (6.18) gave the dirty image.
dirty_ext4() {
  local out=$1 src=$work/dirty-src.img dev
  rm -f "$src"; truncate -s 32M "$src"
  mkfs.ext4 -q -F -L root -U $UUID_DIRTY -E "hash_seed=$UUID_DIRTY" "$src"
  attach "$src"; dev=$L
  mnt "$dev"
  put "$M" etc/hostname=guest
  sync
  put "$M" 'etc/after-crash.txt=written before the crash'
  sync "$M/etc/after-crash.txt"
  rm -f "$out"; cp --sparse=always "$src" "$out"
  unmnt "$M"; detach "$dev"; rm -f "$src"
  dumpe2fs -h "$out" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery' || fail "$out: journal does not need recovery"
  # (debugfs exits 0 even for a missing file: compare what it prints)
  [ "$(debugfs -R 'cat /etc/hostname' "$out" 2>/dev/null)" = guest ] || fail "$out: etc/hostname missing"
  if debugfs -R 'ls /etc' "$out" 2>/dev/null | grep -q after-crash; then
    fail "$out: etc/after-crash.txt checkpointed already (visible without journal replay)"
  fi
  # the replayed view, on a scratch copy (e2fsck replays the journal as the kernel would)
  cp --sparse=always "$out" "$work/replayed.img"
  e2fsck -fy "$work/replayed.img" >/dev/null 2>&1 || [ $? -le 1 ] || fail "$out: e2fsck failed on a copy"
  [ "$(debugfs -R 'cat /etc/after-crash.txt' "$work/replayed.img" 2>/dev/null)" = 'written before the crash' ] || fail "$out: journal replay does not give etc/after-crash.txt"
  rm -f "$work/replayed.img"
}

case $kind in
  convert|whole)
    [ $# -eq 2 ] || usage
    fmt=$1 out=$2
    case $fmt in raw|qcow2|vmdk|vdi|vhdx|vpc) ;; *) usage ;; esac
    if [ "$kind" = convert ]; then mbr_disk "$work/disk.raw"; else whole_disk "$work/disk.raw"; fi
    to_format "$work/disk.raw" "$fmt" "$out"
    ;;
  chain)
    [ $# -eq 2 ] || usage
    base=$1 top=$2
    mbr_disk "$work/disk.raw"
    to_format "$work/disk.raw" qcow2 "$base"; rm -f "$work/disk.raw"
    case $base in
      /*) backing=$base ;;
      *) backing=$(realpath -m --relative-to="$(dirname "$(realpath -m "$top")")" "$base") ;;
    esac
    sum=$(sha256sum < "$base")
    rm -f "$top"
    qemu-img create -q -f qcow2 -b "$backing" -F qcow2 "$top"
    qsd_start "$top" qcow2 on
    attach "$EXPORT" --offset $P2_OFF --sizelimit $P2_SIZE; dev=$L
    mnt "$dev"; put "$M" 'etc/motd=from the top layer'; unmnt "$M"
    tune2fs -M / "$dev" >/dev/null
    detach "$dev"
    qsd_stop "$PIDFILE"
    ! mounted "$EXPORT" || fail "export $EXPORT still mounted after the daemon exited"
    rm -f "$EXPORT"; forget exports "$EXPORT"
    [ "$(sha256sum < "$base")" = "$sum" ] || fail "$base changed while writing $top"
    ;;
  dirty-ext4)
    [ $# -eq 1 ] || usage
    dirty_ext4 "$1"
    ;;
  dirty-ext4-qcow2)
    [ $# -eq 1 ] || usage
    dirty_ext4 "$work/dirty.img"
    rm -f "$1"; qemu-img convert -f raw -O qcow2 "$work/dirty.img" "$1"
    ;;
  *) usage ;;
esac
