#!/bin/sh
# Stage 2, PID 1 of the guest (the host's dash): optional udev, modules, then the command with
# stdout on hvc0 and stderr on hvc1; reports what it left attached; writes its exit status.
lane=/run/lane
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
. $lane/env
uptime() { read -r u _ < /proc/uptime; echo "$u"; }
[ -e /etc/mtab ] || ln -s ../proc/self/mounts /etc/mtab
if [ "$LANE_UDEV" = 1 ]; then
  # the host's own udevd: /dev/disk/by-*, dm and LVM rules, cookies, as on an admin host
  /lib/systemd/systemd-udevd --daemon --resolve-names=never
  udevadm trigger --action=add --subsystem-match=block --subsystem-match=misc
  udevadm settle --timeout=60
else
  # without udev, libdevmapper makes /dev/mapper nodes itself and waits for no cookie
  export DM_DISABLE_UDEV=1
fi
# fuse too: an admin host has /dev/fuse from boot (systemd's static nodes); this guest has no such node
for m in loop dm_mod fuse; do modprobe "$m" 2>/dev/null || echo "lane: no module $m" > /dev/ttyS0; done

# attached state from /proc and /sys only: an exec costs ~0.1 s under TCG
attached() {
  while read -r _ mnt type _; do echo "mount $mnt $type"; done < /proc/self/mounts
  for f in /sys/block/loop*/loop/backing_file; do [ -f "$f" ] && read -r b < "$f" && echo "loop ${f%/loop/backing_file} $b"; done
  for f in /sys/block/dm-*/dm/name; do [ -f "$f" ] && read -r b < "$f" && echo "dm $b"; done
  for f in /sys/block/nbd*/pid; do [ -f "$f" ] && echo "nbd ${f%/pid}"; done
}
attached > /run/before
cd "$LANE_CWD" || { echo 125 > $lane/rc; poweroff -f; }
start=$(uptime)
( . $lane/cmd ) < /dev/null > /dev/hvc0 2> /dev/hvc1
rc=$?
end=$(uptime)
attached | grep -Fxv -f /run/before > $lane/leftovers
echo "boot=$start command=$(awk "BEGIN {print $end - $start}")" > $lane/timing
echo "$rc" > $lane/rc
sync
/bin/busybox poweroff -f
