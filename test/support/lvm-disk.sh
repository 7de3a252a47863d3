#!/usr/bin/env bash
# Builds disk images with LVM inside, as old CentOS/RHEL guests have them, with the real tools
# (sfdisk, pvcreate, vgcreate, lvcreate, mkfs): needs device-mapper and kernel partition scan,
# so it runs in the VM lane.
#   lvm-disk.sh centos OUT.img [VG]          MBR: p1 ext4 /boot, p2 PV of VG (VolGroup) with
#                                             lv_root (ext4: ifcfg-eth0, redhat-release, an fstab
#                                             naming / and /boot) and lv_swap
#   lvm-disk.sh span OUT1.img OUT2.img [VG]  two whole-disk PVs of one VG (datavg) whose lv_data
#                                             (ext4, data/part.txt) has one segment on each
#   lvm-disk.sh centos-offline OUT.img [VG]  as centos, but p1 and lv_root (64 MiB) left for the
#                                             caller to fill: the PV is made on an offset loop and the
#                                             LVs only written into its metadata (no device-mapper, no
#                                             partition scan); prints "P1_OFFSET P1_SIZE LV_OFFSET LV_SIZE" in bytes
#   lvm-disk.sh pv OUT.img [VG]              one small whole-disk PV (16 MiB, 1 MiB extents) of VG
#                                             (VolGroup) with lv_root and lv_swap, never activated
#                                             and empty: real metadata to craft (lvm-craft.mjs);
#                                             needs neither device-mapper nor partition scan
# Every loop, map and VG it makes is gone when it returns; the VG is left inactive.
set -euo pipefail
kind=$1; shift
loops=() vg=
cleanup() {
  if [ -n "$vg" ]; then
    local devs=(); for l in "${loops[@]}"; do for p in "$l" "$l"p*; do [ -b "$p" ] && devs+=(--devices "$p"); done; done
    vgchange -q --activate n "${devs[@]}" "$vg" >/dev/null 2>&1 || true
  fi
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
}
trap cleanup EXIT
settle() { command -v udevadm >/dev/null && [ -e /run/udev/control ] && udevadm settle || true; }
waitdev() { for _ in $(seq 50); do [ -b "$1" ] && return; sleep 0.1; done; echo "no $1" >&2; exit 1; }
fill() { # device  path=content…
  local dev=$1; shift; local m; m=$(mktemp -d); mount "$dev" "$m"
  # content: printf %b, so "\n" makes lines
  for kv in "$@"; do mkdir -p "$m/$(dirname "${kv%%=*}")"; printf '%b\n' "${kv#*=}" > "$m/${kv%%=*}"; done
  umount "$m"; rmdir "$m"
}

case $kind in
  centos)
    out=$1 vg=${2:-VolGroup}
    rm -f "$out"; truncate -s 96M "$out"
    printf 'label: dos\nsize=16M, type=83, bootable\ntype=8e\n' | sfdisk -q "$out"
    l=$(losetup --find --show --partscan "$out"); loops+=("$l"); waitdev "${l}p2"
    mkfs.ext4 -q -L boot "${l}p1"
    fill "${l}p1" grub/grub.conf=default=0
    pvcreate -q "${l}p2" --devices "${l}p2"
    vgcreate -q "$vg" "${l}p2" --devices "${l}p2"
    lvcreate -q -y -Wn -L 40M -n lv_root "$vg" --devices "${l}p2"
    lvcreate -q -y -Wn -L 8M -n lv_swap "$vg" --devices "${l}p2"
    settle; waitdev "/dev/mapper/${vg//-/--}-lv_root"
    mkfs.ext4 -q -L root "/dev/mapper/${vg//-/--}-lv_root"
    mkswap -q "/dev/mapper/${vg//-/--}-lv_swap" >/dev/null
    fill "/dev/mapper/${vg//-/--}-lv_root" etc/sysconfig/network-scripts/ifcfg-eth0=DEVICE=eth0 etc/hostname=centos6 boot/.keep= \
      'etc/redhat-release=CentOS release 6.10 (Final)' \
      "etc/fstab=/dev/mapper/${vg//-/--}-lv_root / ext4 defaults 1 1\nLABEL=boot /boot ext4 defaults 1 2\n/dev/mapper/${vg//-/--}-lv_swap swap swap defaults 0 0"
    ;;
  span)
    a=$1 b=$2 vg=${3:-datavg}
    rm -f "$a" "$b"; truncate -s 32M "$a"; truncate -s 32M "$b"
    la=$(losetup --find --show "$a"); loops+=("$la")
    lb=$(losetup --find --show "$b"); loops+=("$lb")
    pvcreate -q "$la" "$lb" --devices "$la" --devices "$lb"
    vgcreate -q -s 4M "$vg" "$la" "$lb" --devices "$la" --devices "$lb"
    # 5 extents on the first PV, then 3 on the second: one LV, two segments, two images
    lvcreate -q -y -Wn -l 5 -n lv_data "$vg" "$la" --devices "$la" --devices "$lb"
    lvextend -q -l +3 "$vg/lv_data" "$lb" --devices "$la" --devices "$lb" >/dev/null
    settle; waitdev "/dev/mapper/${vg//-/--}-lv_data"
    mkfs.ext4 -q -L data "/dev/mapper/${vg//-/--}-lv_data"
    fill "/dev/mapper/${vg//-/--}-lv_data" data/part.txt=spans-two-images
    ;;
  centos-offline)
    out=$1 vg=${2:-VolGroup}
    rm -f "$out"; truncate -s 160M "$out"
    printf 'label: dos\nsize=16M, type=83, bootable\ntype=8e\n' | sfdisk -q "$out"
    read -r s1 n1 s2 n2 < <(sfdisk --json "$out" | python3 -c 'import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"]; print(*[x for q in p for x in (q["start"]*512, q["size"]*512)])')
    l=$(losetup --find --show --offset "$s2" --sizelimit "$n2" "$out"); loops+=("$l")
    lvm_() { local e; e=$(LVM_SUPPRESS_FD_WARNINGS=1 "$@" --devices "$l" 2>&1 >/dev/null) || { echo "$e" >&2; return 1; }; }
    lvm_ pvcreate -q "$l"
    lvm_ vgcreate -q -s 4M "$vg" "$l"
    lvm_ lvcreate -q -y -Wn -an -Zn --driverloaded n -L 64M -n lv_root "$vg"
    lvm_ lvcreate -q -y -Wn -an -Zn --driverloaded n -L 8M -n lv_swap "$vg"
    pe=$(LVM_SUPPRESS_FD_WARNINGS=1 pvs --devices "$l" --noheadings --units b --nosuffix -o pe_start "$l" | tr -d ' ')
    settle
    echo "$s1 $n1 $((s2 + pe)) $((64 << 20))"
    ;;
  pv)
    out=$1 vg=${2:-VolGroup}
    rm -f "$out"; truncate -s 16M "$out"
    l=$(losetup --find --show "$out"); loops+=("$l")
    # --driverloaded n: no device-mapper interaction (this host may have none); -an -Zn: the LVs
    # are only written into the metadata
    lvm_() { local e; e=$(LVM_SUPPRESS_FD_WARNINGS=1 "$@" --devices "$l" 2>&1 >/dev/null) || { echo "$e" >&2; return 1; }; }
    lvm_ pvcreate -q "$l"
    lvm_ vgcreate -q -s 1M "$vg" "$l"
    lvm_ lvcreate -q -y -Wn -an -Zn --driverloaded n -L 4M -n lv_root "$vg"
    lvm_ lvcreate -q -y -Wn -an -Zn --driverloaded n -L 2M -n lv_swap "$vg"
    settle
    ;;
  *) echo "usage: lvm-disk.sh centos OUT.img [VG] | span OUT1.img OUT2.img [VG] | pv OUT.img [VG]" >&2; exit 2 ;;
esac
