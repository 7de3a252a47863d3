#!/usr/bin/env bash
# Runs one command as root in a throw-away QEMU VM booting Debian's stock kernel, with this
# machine's "/" as a read-only root (tmpfs overlay on top) and the current directory shared
# read-write at the same path. Streams the command's stdout/stderr; exits with its status.
#
#   test/vm/lane/run.sh [--udev] [--timeout S] [--mem MB] [--] COMMAND [ARG...]
#
#   --udev     run the host's systemd-udevd in the guest (like an admin host); default: none
#              (like a container), with DM_DISABLE_UDEV=1
# Exit: the command's status; 3 if it exited 0 but left mounts, loops, dm maps or nbd
# devices attached in the guest (listed); 124 timeout; 125 the VM itself failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
udev=0 timeout=1800 mem=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --udev) udev=1 ;;
    --timeout) timeout=$2; shift ;;
    --mem) mem=$2; shift ;;
    --) shift; break ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "usage: run.sh [--udev] [--timeout S] [--mem MB] [--] COMMAND [ARG...]" >&2; exit 2; }

kdir=$("$here/prepare.sh" --no-apt)
kver=$(basename "$kdir")
# KVM only with real VMX/SVM: nested "PVM" KVM cannot run a stock kernel (see test/vm/README.md)
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=(-accel kvm -cpu host); else accel=(-accel tcg,thread=multi -cpu max); fi

ctl=$(mktemp -d /tmp/imgplan-lane.XXXXXX)
qpid= tails=
cleanup() { [ -n "$qpid" ] && kill "$qpid" 2>/dev/null; [ -n "$tails" ] && kill $tails 2>/dev/null; rm -rf "$ctl"; }
trap cleanup EXIT
cp "$here/guest-stage2.sh" "$ctl/stage2"
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "export LANE_UDEV=$udev LANE_CWD=$(quote "$PWD") VMLANE=1"
  for v in PATH CI TERM LANG NO_COLOR NODE_OPTIONS IMGPLAN_DEBUG VITEST_JSON; do
    [ -n "${!v+x}" ] && echo "export $v=$(quote "${!v}")"
  done
} > "$ctl/env"
{ printf 'exec'; for a in "$@"; do printf ' %s' "$(quote "$a")"; done; echo; } > "$ctl/cmd"
echo "cwd $PWD" > "$ctl/shares"
: > "$ctl/out"; : > "$ctl/err"

share() { echo "-fsdev local,id=$1,path=$2,security_model=none,multidevs=remap$3 -device virtio-9p-pci,fsdev=$1,mount_tag=$1"; }
# shellcheck disable=SC2046
timeout --kill-after=10 "$timeout" qemu-system-x86_64 -M q35 -nodefaults -no-user-config -display none -no-reboot \
  "${accel[@]}" -smp 2 -m "$mem" \
  -kernel "$kdir/vmlinux" -initrd "$kdir/initramfs.gz" \
  -append "console=ttyS0 quiet loglevel=4 panic=-1 reboot=t cryptomgr.notests mitigations=off rdinit=/init lane.moddir=$kdir/lib/modules/$kver" \
  -serial "file:$ctl/console" -device virtio-serial-pci \
  -chardev "file,id=out,path=$ctl/out" -device virtconsole,chardev=out \
  -chardev "file,id=err,path=$ctl/err" -device virtconsole,chardev=err \
  $(share host / ,readonly=on) $(share ctl "$ctl" '') $(share cwd "$PWD" '') \
  > "$ctl/qemu.log" 2>&1 &
qpid=$!
# the guest's hvc0/hvc1 land in files; tail streams them and stops once QEMU is gone
tail -n +1 -s 0.2 --pid=$qpid -f "$ctl/out" & tails=$!
tail -n +1 -s 0.2 --pid=$qpid -f "$ctl/err" >&2 & tails="$tails $!"
qrc=0; wait $qpid || qrc=$?; qpid=
wait $tails || true; tails=
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then echo "run.sh: timed out after ${timeout}s" >&2; tail -n 20 "$ctl/console" >&2; exit 124; fi
if [ ! -s "$ctl/rc" ]; then
  echo "run.sh: the VM stopped without a result (qemu exit $qrc); console:" >&2
  tail -n 30 "$ctl/console" "$ctl/qemu.log" >&2 || true
  exit 125
fi
rc=$(cat "$ctl/rc")
echo "run.sh: kernel $kver, udev $([ $udev = 1 ] && echo on || echo off), $(cat "$ctl/timing") s, exit $rc" >&2
if [ -s "$ctl/leftovers" ]; then
  echo "run.sh: the command left these attached in the guest:" >&2
  sed 's/^/  /' "$ctl/leftovers" >&2
  [ "$rc" = 0 ] && rc=3
fi
exit "$rc"
