import type { Command } from '../runner/runner.js';

/**
 * Every probe argv in one place. Explicit column lists and --bytes: never -O/--output-all,
 * whose columns and types move between util-linux releases (field-notes P2).
 */
export const LSBLK: Command = {
  argv: ['lsblk', '--json', '--bytes', '--list', '--output', 'NAME,KNAME,MAJ:MIN,TYPE,PKNAME,SIZE,RO,FSTYPE'],
  effect: 'reads',
};

export const LOSETUP: Command = {
  argv: ['losetup', '--list', '--json', '--output', 'NAME,MAJ:MIN,BACK-FILE,BACK-INO,BACK-MAJ:MIN,OFFSET,SIZELIMIT,RO,PARTSCAN,AUTOCLEAR'],
  effect: 'reads',
};

export const FINDMNT: Command = {
  argv: ['findmnt', '--json', '--list', '--output', 'TARGET,SOURCE,MAJ:MIN,FSTYPE,OPTIONS'],
  effect: 'reads',
};

export const DMSETUP_INFO: Command = {
  argv: ['dmsetup', 'info', '--columns', '--noheadings', '--nameprefixes', '--separator', ' ', '--options', 'name,uuid,major,minor,attr,open'],
  effect: 'reads',
};

export const DMSETUP_TABLE: Command = { argv: ['dmsetup', 'table'], effect: 'reads' };

/** Present once the device-mapper driver is loaded. */
export const DM_CONTROL_PATH = '/sys/class/misc/device-mapper';
/** Where Debian and most distributions install kpartx. */
export const KPARTX_PATHS = ['/usr/sbin/kpartx', '/sbin/kpartx'];

/** Reads the partition table from the image file itself, without attaching anything. */
export function sfdisk(file: string): Command {
  return { argv: ['sfdisk', '--json', file], effect: 'reads' };
}

/** Low-level probe of a byte range of a file (or a whole device): no cache, no udev needed. */
export function blkid(file: string, range?: { offset: number; size: number }): Command {
  const r = range ? ['--offset', String(range.offset), '--size', String(range.size)] : [];
  return { argv: ['blkid', '--probe', '--output', 'export', ...r, file], effect: 'reads' };
}

/** The kernel's built-in MBR and GPT parsers, by symbol: readable without the kernel config. */
export const KALLSYMS_PARSERS: Command = {
  argv: ['grep', '--word-regexp', '--extended-regexp', 'msdos_partition|efi_partition', '/proc/kallsyms'],
  effect: 'reads',
};

export const KERNEL_RELEASE_PATH = '/proc/sys/kernel/osrelease';
export const UDEV_CONTROL_PATH = '/run/udev/control';
export function kernelConfigPath(release: string): string {
  return `/boot/config-${release}`;
}

/** Filesystem types the running kernel has registered (built in, or a module already loaded). */
export const PROC_FILESYSTEMS_PATH = '/proc/filesystems';

/**
 * Whether mount(2) could load a driver for `fstype`: the kernel asks modprobe for "fs-TYPE",
 * the alias every filesystem module declares. --dry-run loads nothing; exit 0 means found.
 */
export function modprobeFilesystem(fstype: string): Command {
  return { argv: ['modprobe', '--dry-run', '--quiet', `fs-${fstype}`], effect: 'reads' };
}

/** mount -t ntfs-3g runs this helper (Debian's ntfs-3g package). */
export const NTFS3G_HELPER_PATHS = ['/sbin/mount.ntfs-3g', '/usr/sbin/mount.ntfs-3g', '/usr/bin/mount.ntfs-3g'];

/**
 * The host's volume groups, to find guest VGs named like one of them (field-notes G1). The one
 * LVM command imgplan runs without --devices: it only reads, and it must see the host's VGs.
 */
export const HOST_VGS: Command = {
  argv: ['vgs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '--options', 'vg_name,vg_uuid,lv_count'],
  effect: 'reads',
};

/** FUSE, which qemu-storage-daemon's export needs. */
export const FUSE_DEVICE_PATH = '/dev/fuse';
/** Debian's qemu-system-common package installs it here. */
export const STORAGE_DAEMON_PATHS = ['/usr/bin/qemu-storage-daemon', '/usr/local/bin/qemu-storage-daemon'];

/** qemu-utils installs qemu-nbd here. */
export const QEMU_NBD_PATHS = ['/usr/bin/qemu-nbd', '/usr/local/bin/qemu-nbd'];
/** Present once the nbd driver is loaded (or built in); its parameters say how many devices and partitions. */
export const NBD_MODULE_PATH = '/sys/module/nbd';
export const NBD_MAX_PART_PATH = '/sys/module/nbd/parameters/max_part';
export const NBD_NBDS_MAX_PATH = '/sys/module/nbd/parameters/nbds_max';
/** A connected nbd device has the pid of the process serving it here; a free one has no such file. */
export const nbdPidPath = (n: number) => `/sys/block/nbd${n}/pid`;
export const nbdSysPath = (n: number) => `/sys/block/nbd${n}`;

/** Whether the nbd module could be loaded: --dry-run loads nothing; exit 0 means found. */
export const MODPROBE_NBD: Command = { argv: ['modprobe', '--dry-run', '--quiet', 'nbd'], effect: 'reads' };
