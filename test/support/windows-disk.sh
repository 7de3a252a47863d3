#!/usr/bin/env bash
# Builds a small disk image shaped like a Windows guest, with real tools (sfdisk, mkntfs, ntfs-3g,
# mkfs.vfat, mtools), on this machine's kernel (loop + FUSE; no partition scan needed):
#   windows-disk.sh OUT.img win7|win10 [clean|hibernated|unclean|fast-startup|dirty] [HIVES]
# win7:  MBR, p1 NTFS "System Reserved", p2 NTFS "Windows" (C:)
# win10: GPT, p1 EFI system partition (FAT, "SYSTEM"), p2 Microsoft reserved (no filesystem),
#        p3 NTFS "Windows" (C:)
# C: holds Windows/, Users/, Program Files/ and pagefile.sys; the last argument is the state Windows
# left C: in (test/support/ntfs-state.mjs writes what Linux tools cannot). Fixed volume serials
# and UUIDs keep recordings stable. Windows/System32/config holds real SOFTWARE and SYSTEM registry
# hives (test/support/windows-hives.sh: win7's or win10's identity); HIVES changes them:
#   win11     Windows 11's (its ProductName still says Windows 10, build 22631)
#   caseless  the layout's, under WINDOWS/system32/CONFIG/software and …/system (Windows ignores case)
#   evil      a ProductName of 1000 characters with terminal escapes, a computer name with one
#   link      SOFTWARE a symlink to the host's /etc/passwd, SYSTEM one that climbs out: ../../../../../etc/shadow
#   junk      SOFTWARE is 64 KiB of random bytes with a regf signature, SYSTEM is the layout's
set -euo pipefail
out=$1 layout=$2 state=${3:-clean} hives=${4:-$2}
here=$(cd "$(dirname "$0")" && pwd)
loops=() mnt= reg=
cleanup() {
  [ -n "$mnt" ] && { umount "$mnt" 2>/dev/null || true; rmdir "$mnt" 2>/dev/null || true; }
  [ -n "$reg" ] && rm -rf "$reg"
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
}
trap cleanup EXIT

rm -f "$out"
truncate -s 64M "$out"
case $layout in
  win7) printf 'label: dos\nlabel-id: 0x0badc0de\nsize=8M, type=7, bootable\ntype=7\n' | sfdisk -q "$out"; cpart=2 ;;
  win10) printf 'label: gpt\nlabel-id: 0BADC0DE-0000-4000-8000-000000000010\nsize=8M, type=U, name="EFI system partition"\nsize=8M, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE, name="Microsoft reserved partition"\ntype=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="Basic data partition"\n' | sfdisk -q "$out"; cpart=3 ;;
  *) echo "layout must be win7 or win10" >&2; exit 2 ;;
esac
start() { sfdisk --json "$out" | node -e 'const t=JSON.parse(require("fs").readFileSync(0)).partitiontable; const p=t.partitions.find((p)=>p.node.endsWith(process.argv[1])); console.log(p.start, p.size)' "$1"; }

hives() { # C:'s registry, as HIVES says
  local config="$mnt/Windows/System32/config" software=SOFTWARE system=SYSTEM
  reg=$(mktemp -d)
  case $hives in
    win7|win10|win11|evil) bash "$here/windows-hives.sh" "$reg" "$hives" ;;
    caseless|link|junk) bash "$here/windows-hives.sh" "$reg" "$layout" ;;
    *) echo "unknown hives $hives" >&2; exit 2 ;;
  esac
  [ "$hives" = caseless ] && { config="$mnt/WINDOWS/system32/CONFIG"; software=software system=system; }
  mkdir -p "$config"
  cp "$reg/SOFTWARE" "$config/$software"
  cp "$reg/SYSTEM" "$config/$system"
  case $hives in
    link) rm "$config/SOFTWARE" "$config/SYSTEM"; ln -s /etc/passwd "$config/SOFTWARE"; ln -s ../../../../../etc/shadow "$config/SYSTEM" ;;
    junk) { printf 'regf'; head -c 65532 /dev/urandom; } > "$config/SOFTWARE" ;;
  esac
  rm -rf "$reg"; reg=
}

ntfs() { # partition label serial [files…]
  local n=$1 label=$2 serial=$3 s size l
  read -r s size < <(start "$n")
  l=$(losetup --find --show --offset $((s * 512)) --sizelimit $((size * 512)) "$out"); loops+=("$l")
  mkntfs --quick --force --label "$label" --partition-start "$s" --heads 255 --sectors-per-track 63 "$l" >/dev/null
  # a fixed volume serial number (boot sector offset 0x48), as blkid reports it as UUID
  printf "$serial" | dd of="$l" bs=1 seek=$((0x48)) conv=notrunc status=none
  if [ "$n" = "$cpart" ]; then
    mnt=$(mktemp -d)
    mount -t ntfs-3g "$l" "$mnt"
    mkdir -p "$mnt/Users/Public/Documents" "$mnt/Program Files/Common Files"
    hives
    printf 'evidence\r\n' > "$mnt/Users/Public/Documents/notes.txt"
    head -c 1048576 /dev/zero > "$mnt/pagefile.sys"
    case $state in
      hibernated) { printf 'HIBR'; head -c 16380 /dev/zero; } > "$mnt/hiberfil.sys" ;;
      clean) { printf 'wake'; head -c 16380 /dev/zero; } > "$mnt/hiberfil.sys" ;;
    esac
    umount "$mnt"; rmdir "$mnt"; mnt=
    case $state in
      unclean|fast-startup|dirty) node "$here/ntfs-state.mjs" "$l" "$state" ;;
      clean|hibernated) ;;
      *) echo "unknown state $state" >&2; exit 2 ;;
    esac
  fi
  losetup -d "$l"; loops=("${loops[@]/$l}")
}

if [ "$layout" = win7 ]; then
  ntfs 1 "System Reserved" '\x11\x11\x11\x11\x11\x11\x11\x11'
  ntfs 2 "Windows" '\x22\x22\x22\x22\x22\x22\x22\x22'
else
  read -r s size < <(start 1)
  mkfs.vfat -n SYSTEM -i 0badc0de --offset "$s" "$out" $((size / 2)) >/dev/null 2>&1
  mmd -i "$out@@$((s * 512))" ::/EFI ::/EFI/Microsoft ::/EFI/Microsoft/Boot ::/EFI/Boot
  printf 'MZ stand-in for the Windows boot manager\n' | mcopy -i "$out@@$((s * 512))" - ::/EFI/Microsoft/Boot/bootmgfw.efi
  ntfs 3 "Windows" '\x33\x33\x33\x33\x33\x33\x33\x33'
fi
