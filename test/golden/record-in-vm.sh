#!/usr/bin/env bash
# Records the golden states that need a kernel with partition scan and device-mapper, inside
# the VM lane, after `npm run build`:
#   bash test/vm/lane/run.sh -- bash test/golden/record-in-vm.sh [SCENARIO...]
# partscan/: partitions: auto (the kernel scans); kpartx/: partitions: kpartx; nbd/: QEMU images
# through qemu-nbd. All three unless named. Fixed UUIDs, so re-recording changes a golden only
# where imgplan's behaviour changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qw msdos_partition /proc/kallsyms || { echo "this kernel cannot scan partitions: run me in the VM lane" >&2; exit 2; }
cli=(node dist/cli/main.js)
export NO_COLOR=1

record() { # name partitions-method
  local name=$1 method=$2 R=/tmp/imgplan-golden-$1
  export IMGPLAN_STATE_DIR=$R/state
  mkdir -p "$R" "test/golden/$name/fresh" "test/golden/$name/applied"
  truncate -s 64M "$R/vm01.img"
  printf 'label: gpt\nsize=16M, type=L, name="boot"\ntype=L, name="root"\n' | sfdisk -q "$R/vm01.img"
  local l; l=$(losetup --find --show --partscan "$R/vm01.img")
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e "${l}p2" ] && break; sleep 0.2; done
  mkfs.ext4 -q -L boot -U 0b00b000-0000-4000-8000-0000000000b1 "${l}p1"
  mkfs.ext4 -q -L root -U 0b00b000-0000-4000-8000-0000000000b2 "${l}p2"
  mkdir "$R/fill" && mount "${l}p2" "$R/fill" && mkdir "$R/fill/boot" && umount "$R/fill" && rmdir "$R/fill"
  losetup -d "$l"
  sed "s|@R@|$R|g; s|@METHOD@|$method|g" test/golden/vm-manifest.yaml.in > "$R/vm.yaml"
  cp "$R/vm.yaml" "test/golden/$name/manifest.yaml"
  "${cli[@]}" debug capture-state "$R/vm.yaml" "test/golden/$name/fresh/state.json" --scenario "$name, nothing attached (VM lane, stock kernel)" >/dev/null
  "${cli[@]}" apply "$R/vm.yaml" --auto-approve >/dev/null
  "${cli[@]}" debug capture-state "$R/vm.yaml" "test/golden/$name/applied/state.json" --scenario "$name, applied (VM lane, stock kernel)" >/dev/null
  "${cli[@]}" destroy "$R/vm.yaml" --auto-approve >/dev/null
  rm -rf "$R"
}

# nbd/: a qcow2 with a backing file and a whole vdi through qemu-nbd, starting with the nbd module unloaded
record_nbd() {
  local R=/tmp/imgplan-golden-nbd
  export IMGPLAN_STATE_DIR=$R/state
  mkdir -p "$R" test/golden/nbd/fresh test/golden/nbd/applied
  bash test/support/qemu-disk.sh chain "$R/base.qcow2" "$R/top.qcow2"
  bash test/support/qemu-disk.sh whole vdi "$R/data.vdi"
  sed "s|@R@|$R|g" test/golden/vm-qemu-manifest.yaml.in > "$R/vm.yaml"
  cp "$R/vm.yaml" test/golden/nbd/manifest.yaml
  modprobe -r nbd 2>/dev/null || true
  "${cli[@]}" debug capture-state "$R/vm.yaml" test/golden/nbd/fresh/state.json --scenario "nbd, module not loaded, nothing attached (VM lane, stock kernel)" >/dev/null
  "${cli[@]}" apply "$R/vm.yaml" --auto-approve >/dev/null
  "${cli[@]}" debug capture-state "$R/vm.yaml" test/golden/nbd/applied/state.json --scenario "nbd, applied (VM lane, stock kernel)" >/dev/null
  "${cli[@]}" destroy "$R/vm.yaml" --auto-approve >/dev/null
  modprobe -r nbd
  rm -rf "$R"
}
scenarios=("$@"); [ $# -gt 0 ] || scenarios=(partscan kpartx nbd)
for scenario in "${scenarios[@]}"; do
  case $scenario in
    partscan) record partscan auto ;;
    kpartx) record kpartx kpartx ;;
    nbd) record_nbd ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done
echo "recorded: ${scenarios[*]}"
