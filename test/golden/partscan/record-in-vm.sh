#!/bin/bash
# Records the partscan golden states inside a VM whose stock kernel parses partition tables
# (the host kernel cannot): e.g. ../shared/vmlane/vmlane-run.sh -- bash test/golden/partscan/record-in-vm.sh
# from the repo root after `npm run build`. Also runs apply/apply/destroy/destroy once and
# checks the image's sha256.
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ "$(uname -r)" != "$(cat /proc/sys/kernel/osrelease)" ] || grep -qw msdos_partition /proc/kallsyms || { echo "this kernel cannot scan partitions; run me in the VM lane" >&2; exit 2; }
cli=(node dist/cli/main.js)
R=/tmp/imgplan-golden-partscan
export IMGPLAN_STATE_DIR=$R/state NO_COLOR=1
mkdir -p $R
truncate -s 64M $R/vm01.img
printf 'label: gpt\nsize=16M, type=L, name="boot"\ntype=L, name="root"\n' | sfdisk -q $R/vm01.img
L=$(losetup --find --show --partscan $R/vm01.img)
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e ${L}p2 ] && break; sleep 0.2; done
mkfs.ext4 -q -L boot ${L}p1; mkfs.ext4 -q -L root ${L}p2
mkdir -p $R/fill; mount ${L}p2 $R/fill; mkdir -p $R/fill/boot $R/fill/etc; echo vm01 > $R/fill/etc/hostname; umount $R/fill; rmdir $R/fill
losetup -d $L
cat > $R/vm.yaml <<YAML
version: 1
images:
  vm01: { file: vm01.img, format: raw }
mounts:
  - { what: vm01/part2, where: $R/mnt/root, type: ext4 }
  - { what: vm01/part1, where: $R/mnt/root/boot }
YAML
cp $R/vm.yaml test/golden/partscan/manifest.yaml
sum1=$(sha256sum < $R/vm01.img)
"${cli[@]}" debug capture-state $R/vm.yaml test/golden/partscan/fresh/state.json --scenario "kernel with partition scan (VM lane), nothing attached"
"${cli[@]}" plan $R/vm.yaml
"${cli[@]}" apply $R/vm.yaml --auto-approve
cat $R/mnt/root/etc/hostname
lsblk
"${cli[@]}" debug capture-state $R/vm.yaml test/golden/partscan/applied/state.json --scenario "kernel with partition scan (VM lane), applied"
"${cli[@]}" apply $R/vm.yaml --auto-approve | tail -2
"${cli[@]}" destroy $R/vm.yaml --auto-approve | tail -3
"${cli[@]}" destroy $R/vm.yaml --auto-approve | tail -1
sum2=$(sha256sum < $R/vm01.img)
[ "$sum1" = "$sum2" ] && echo "SHA SAME"
losetup -l
