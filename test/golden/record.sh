#!/usr/bin/env bash
# Re-records the golden scenarios' system state with the product's own probes
# (`imgplan debug capture-state`), on this machine's real kernel. Run as root after `npm run build`;
# then `npx vitest run test/unit/golden.test.ts -u` and review the diff of every plan.txt.
# Everything lives under /tmp/imgplan-golden, with fixed filesystem UUIDs, so that re-recording
# changes a golden only where imgplan's behaviour changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=(node "$here/../../dist/cli/main.js")
R=/tmp/imgplan-golden
export IMGPLAN_STATE_DIR=$R/state NO_COLOR=1

cleanup() {
  for m in $(findmnt -rn -o TARGET,FSTYPE | awk -v r="$R/" 'index($1, r) == 1 && $2 != "fuse" {print $1}' | sort -r); do umount "$m" || umount -l "$m"; done
  for l in $(losetup --list --noheadings --raw --output NAME,BACK-FILE | awk -v r="$R/" 'index($2, r) == 1 {print $1}'); do losetup -d "$l"; done
  # QEMU daemons last: stopped, they unmount their FUSE views themselves
  pkill -f "qemu-storage-daemon .*$R/" || true
  sleep 0.2
  for m in $(findmnt -rn -o TARGET | grep "^$R/" | sort -r); do umount "$m" || umount -l "$m"; done
}
trap cleanup EXIT
cleanup
rm -rf "$R" && mkdir -p "$R"

fill() { # file offset size mkfs-command... ; then files as path=content via FILES
  local file=$1 off=$2 size=$3; shift 3
  local l; l=$(losetup --find --show --offset "$off" --sizelimit "$size" "$file")
  "$@" "$l" >/dev/null
  if [ -n "${FILES:-}" ]; then
    local m; m=$(mktemp -d "$R/.fill.XXXX"); mount "$l" "$m"
    for kv in $FILES; do mkdir -p "$m/$(dirname "${kv%%=*}")"; printf '%s\n' "${kv#*=}" > "$m/${kv%%=*}"; done
    umount "$m"; rmdir "$m"
  fi
  losetup -d "$l"
}

truncate -s 400M "$R/web01.img"
printf 'label: dos\nsize=16M, type=83\nsize=8M, type=82\ntype=83\n' | sfdisk -q "$R/web01.img"
part() { sfdisk --json "$R/web01.img" | jq -r ".partitiontable.partitions[$1] | \"\(.start * 512) \(.size * 512)\""; }
FILES="grub/grub.cfg=default=0" fill "$R/web01.img" $(part 0) mkfs.ext4 -q -L boot -U 0b00b000-0000-4000-8000-000000000001
TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 FILES="etc/hostname=web01 boot/.keep=" fill "$R/web01.img" $(part 2) mkfs.xfs -q -f -L root -m uuid=0b00b000-0000-4000-8000-000000000003
truncate -s 32M "$R/data.img"
FILES="backup/db.sql=create" fill "$R/data.img" 0 0 mkfs.ext4 -q -L data -U 0b00b000-0000-4000-8000-0000000000da

cp "$here/rescue/manifest.yaml" "$R/rescue.yaml"
capture() { mkdir -p "$here/$1"; "${cli[@]}" debug capture-state "$R/rescue.yaml" "$here/$1/state.json" --scenario "$2" >/dev/null; }

capture rescue/fresh "nothing attached yet"
"${cli[@]}" apply "$R/rescue.yaml" --auto-approve >/dev/null
capture rescue/applied "everything applied by imgplan"
# half-applied: someone unmounted /boot and detached its loop behind imgplan's back
umount "$R/mnt/web01/boot"
losetup -d "$(findmnt -rn -o SOURCE "$R/mnt/web01" >/dev/null; jq -r '.entries[] | select(.address=="attach:web01/part1") | .device' "$IMGPLAN_STATE_DIR"/journal/*.json)"
capture rescue/half "applied, then /boot unmounted and its loop detached by hand"
"${cli[@]}" apply "$R/rescue.yaml" --auto-approve >/dev/null
"${cli[@]}" destroy "$R/rescue.yaml" --auto-approve >/dev/null
# foreign: an admin mounted something else where the manifest wants /mnt/data
mkdir -p "$R/mnt/data" && mount -t tmpfs -o size=1m scratch "$R/mnt/data"
capture rescue/foreign "a tmpfs mounted by hand on a manifest mountpoint"
umount "$R/mnt/data" && rm -rf "$R/mnt"

# Windows guests: the disks test/support/windows-disk.sh builds (fixed serials and UUIDs)
bash "$here/../support/windows-disk.sh" "$R/win7.img" win7 hibernated
bash "$here/../support/windows-disk.sh" "$R/win10.img" win10 unclean
cp "$here/windows/manifest.yaml" "$R/windows.yaml"
cp "$here/windows/manifest-problems.yaml" "$R/windows-problems.yaml"
wcapture() { mkdir -p "$here/$1"; "${cli[@]}" debug capture-state "$R/$3" "$here/$1/state.json" --scenario "$2" >/dev/null; }
wcapture windows/fresh "Windows 7 disk with C: hibernated, Windows 10 disk with C: unclean; nothing attached" windows.yaml
"${cli[@]}" apply "$R/windows.yaml" --auto-approve >/dev/null
wcapture windows/applied "the Windows disks applied read-only by imgplan (ntfs-3g)" windows.yaml
"${cli[@]}" destroy "$R/windows.yaml" --auto-approve >/dev/null
wcapture windows/problems "read-write of a hibernated C:, an MSR partition, vfat on a kernel without it" windows-problems.yaml
rm -rf "$R/mnt"

# QEMU images through qemu-storage-daemon (this kernel has no nbd): test/support/qemu-disk.sh fixes their UUIDs
qd() { bash "$here/../support/qemu-disk.sh" "$@"; }
qd chain "$R/base.qcow2" "$R/top.qcow2"
qd whole vdi "$R/data.vdi"
qd dirty-ext4 "$R/dirty.img"
cp "$here/qemu/manifest.yaml" "$R/qemu.yaml"
wcapture qemu/fresh "a qcow2 with a backing file, a whole vdi, a dirty raw ext4 under access: overlay; nothing attached" qemu.yaml
"${cli[@]}" apply "$R/qemu.yaml" --auto-approve >/dev/null
wcapture qemu/applied "the QEMU images applied by imgplan through qemu-storage-daemon exports" qemu.yaml
"${cli[@]}" destroy "$R/qemu.yaml" --auto-approve >/dev/null
qd whole qcow2 "$R/data.qcow2"
qd whole qcow2 "$R/held.qcow2"
qd chain "$R/gone.qcow2" "$R/orphan.qcow2" && rm "$R/gone.qcow2"
qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$R/held.qcow2" --blockdev driver=qcow2,node-name=q,file=f --pidfile "$R/holder.pid" --daemonize
cp "$here/qemu/manifest-problems.yaml" "$R/qemu-problems.yaml"
wcapture qemu/problems "a qcow2 declared raw, an image held by a writable daemon, a missing backing file" qemu-problems.yaml
pkill --pidfile "$R/holder.pid" --logpidfile
rm -rf "$R/mnt"
echo "recorded into $here"
