#!/usr/bin/env bash
# Builds real Windows registry hives (SOFTWARE and SYSTEM) for test disks, with hivex's own writer:
#   windows-hives.sh DIR win7|win10|win11|evil
# test/support/mkhive.mjs writes each empty hive (no Debian tool makes one), `hivexsh -w` fills it
# with the keys inspect reads, and hivexget reads each back. What each layout holds:
#   win7:  "Windows 7 Professional", CurrentVersion 6.1, build 7601; Select\Current 1, computer WIN7-PC,
#          one adapter with a DHCP lease (10.0.2.15/24, gateway 10.0.2.2)
#   win10: "Windows 10 Pro", 10.0, 22H2, build 19045.3803; Select\Current 2, computer DESKTOP-TEST,
#          domain corp.example (ControlSet001 holds a stale name: only the current set counts), one
#          static adapter (192.168.50.10/24, gateway 192.168.50.1) and one unused
#   win11: "Windows 10 Pro" (as Windows 11 keeps it), 10.0, 23H2, build 22631.2861, computer WIN11-VM
#   evil:  a ProductName of 1000 characters with an escape sequence, a newline and a quote in it,
#          a computer name with a terminal escape
set -euo pipefail
dir=$1 layout=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"

# REG_SZ as hivexsh's hex:1:… (UTF-16LE with its NUL): string: takes 7-bit ASCII without controls only
sz() { node -e 'process.stdout.write("hex:1:" + [...Buffer.from(process.argv[1] + "\0", "utf16le")].map((b) => b.toString(16).padStart(2, "0")).join(","))' "$1"; }

current_version() { # product edition type version build ubr display major minor
  local n=6 extra=()
  extra+=(ProductName "$(sz "$1")" EditionID "$(sz "$2")" InstallationType "$(sz "$3")" CurrentVersion "$(sz "$4")")
  extra+=(CurrentBuild "$(sz "$5")" CurrentBuildNumber "$(sz "$5")")
  if [ -n "$6" ]; then extra+=(UBR "dword:$6"); n=$((n + 1)); fi
  if [ -n "$7" ]; then extra+=(DisplayVersion "$(sz "$7")" ReleaseId "$(sz 2009)"); n=$((n + 2)); fi
  if [ -n "$8" ]; then extra+=(CurrentMajorVersionNumber "dword:$8" CurrentMinorVersionNumber "dword:$9"); n=$((n + 2)); fi
  printf '%s\n' 'add Microsoft' 'cd Microsoft' 'add Windows NT' 'cd Windows NT' 'add CurrentVersion' 'cd CurrentVersion' "setval $n" "${extra[@]}"
  # a key beside it, as a real SOFTWARE has many
  printf '%s\n' 'cd \Microsoft' 'add Windows' 'cd Windows' 'setval 1' 'Marker' 'string:not read'
}

# REG_MULTI_SZ as hex:7:… (each string ended by a NUL, the list by an empty one)
msz() { node -e 'process.stdout.write("hex:7:" + [...Buffer.from(process.argv.slice(1).join("\0") + "\0\0", "utf16le")].map((b) => b.toString(16).padStart(2, "0")).join(","))' "$@"; }

interface() { # N GUID static|dhcp ADDRESS MASK GATEWAY: one adapter of Tcpip\Parameters\Interfaces
  printf '%s\n' "cd \\ControlSet00$1\\Services\\Tcpip\\Parameters\\Interfaces" "add $2" "cd $2"
  if [ "$3" = static ]; then
    printf '%s\n' 'setval 4' EnableDHCP dword:0 IPAddress "$(msz "$4")" SubnetMask "$(msz "$5")" DefaultGateway "$(msz "$6")"
  elif [ -n "$4" ]; then
    printf '%s\n' 'setval 4' EnableDHCP dword:1 DhcpIPAddress "$(sz "$4")" DhcpSubnetMask "$(sz "$5")" DhcpDefaultGateway "$(msz "$6")"
  else
    printf '%s\n' 'setval 1' EnableDHCP dword:1
  fi
}

control_set() { # N computername hostname domain
  printf '%s\n' "cd \\ " "add ControlSet00$1" "cd ControlSet00$1" 'add Control' 'add Services' 'cd Control' 'add ComputerName' 'cd ComputerName' \
    'add ComputerName' 'cd ComputerName' 'setval 1' ComputerName "$(sz "$2")" \
    "cd \\ControlSet00$1\\Services" 'add Tcpip' 'cd Tcpip' 'add Parameters' 'cd Parameters' 'setval 2' Hostname "$(sz "$3")" Domain "$(sz "$4")" \
    'add Interfaces'
}

select_key() { # current
  printf '%s\n' "cd \\ " 'add Select' 'cd Select' 'setval 4' Current "dword:$1" Default "dword:$1" Failed dword:0 LastKnownGood "dword:$1"
}

software() {
  case $layout in
    win7) current_version 'Windows 7 Professional' Professional Client 6.1 7601 '' '' '' '' ;;
    win10) current_version 'Windows 10 Pro' Professional Client 6.3 19045 0x0edb 22H2 0x0a 0x00 ;;
    win11) current_version 'Windows 10 Pro' Professional Client 6.3 22631 0x0b2d 23H2 0x0a 0x00 ;;
    evil) current_version "$(printf 'Windows\e[2J\e]0;owned\a "q" \\ line\nTWO '; head -c 1000 /dev/zero | tr '\0' A)" Pro Client 6.1 7601 '' '' '' '' ;;
  esac
  echo commit
}

system() {
  case $layout in
    win7) select_key 1; control_set 1 WIN7-PC WIN7-PC ''
      interface 1 '{6A4C1D2E-3B5F-4A7C-9D8E-0F1A2B3C4D5E}' dhcp 10.0.2.15 255.255.255.0 10.0.2.2 ;;
    win10) select_key 2; control_set 1 STALE-NAME STALE-NAME ''; control_set 2 DESKTOP-TEST DESKTOP-TEST corp.example
      interface 2 '{0C2B4A6D-8E1F-4B3A-A5C7-D9E1F3A5B7C9}' static 192.168.50.10 255.255.255.0 192.168.50.1
      interface 2 '{F1E2D3C4-B5A6-4978-8695-A4B3C2D1E0F9}' dhcp '' '' '' ;;
    win11) select_key 1; control_set 1 WIN11-VM win11-vm '' ;;
    evil) select_key 1; control_set 1 "$(printf 'EVIL\e[31mPC')" evil '' ;;
  esac
  echo commit
}

case $layout in win7|win10|win11|evil) ;; *) echo "layout must be win7, win10, win11 or evil" >&2; exit 2 ;; esac
rm -f "$dir/SOFTWARE" "$dir/SYSTEM"
node "$here/mkhive.mjs" "$dir/SOFTWARE" "CMI-CreateHive{199DAFC2-6F16-4946-BF90-5A3FC3A60902}"
node "$here/mkhive.mjs" "$dir/SYSTEM" "CMI-CreateHive{2A7FB991-7BBE-4F9D-B91E-7CB51D4737F5}"
software | hivexsh -w "$dir/SOFTWARE"
system | hivexsh -w "$dir/SYSTEM"
# what inspect will read, read back with hivex itself
hivexget "$dir/SOFTWARE" '\Microsoft\Windows NT\CurrentVersion' ProductName >/dev/null
hivexget "$dir/SYSTEM" '\Select' Current >/dev/null
