import type { Journal } from '../journal/format.js';
import type { PathInfo } from '../runner/runner.js';
import type { BlkidInfo } from './blkid.js';
import type { DmMap } from './dmsetup.js';
import type { MountEntry } from './findmnt.js';
import type { LvmPv } from './lvm-metadata.js';
import type { HostVg } from './lvm-report.js';
import type { NtfsHealth } from './ntfs.js';
import type { LoopDevice } from './losetup.js';
import type { BlockDevice } from './lsblk.js';
import type { PartitionTable } from './sfdisk.js';

export interface KernelFacts {
  readonly release: string;
  /** partition table labels ("dos", "gpt") for which --partscan makes the kernel create partition nodes, and why we think so */
  readonly partscan: { readonly labels: readonly string[]; readonly evidence: string };
  readonly udev: boolean;
  /** device-mapper driver loaded (kpartx, LVM need it) */
  readonly deviceMapper: boolean;
  /** the kpartx tool is installed */
  readonly kpartx: boolean;
  /**
   * Kernel filesystem drivers the manifest's filesystems need (and, for NTFS, ntfs3 and fuseblk):
   * registered in /proc/filesystems, loadable as a module, or absent. Absent from recordings made
   * before imgplan checked drivers.
   */
  readonly filesystems?: Readonly<Record<string, FilesystemDriver>>;
  /** ntfs-3g's mount helper is installed */
  readonly ntfs3g?: boolean;
}

export type FilesystemDriver = 'registered' | 'module' | 'absent';

export interface ImageObservation {
  readonly file: string;
  readonly stat: PathInfo;
  /** null: the image has no partition table sfdisk recognises */
  readonly table: PartitionTable | null;
  /** blkid of the whole image ("whole") and of each partition the manifest names ("part3") */
  readonly contents: Readonly<Record<string, BlkidInfo>>;
  /** LVM physical volumes among contents (label and VG metadata read from the image), by the same keys */
  readonly lvm?: Readonly<Record<string, LvmPv>>;
  /** blkid of the start of each LV a mount names (its first segment, read from the image file), by LV UUID */
  readonly lvContents?: Readonly<Record<string, BlkidInfo>>;
  /** what Windows left on each NTFS among contents, by the same keys */
  readonly ntfs?: Readonly<Record<string, NtfsHealth>>;
}

/** The live state, captured once per run through the Runner, as plain data. */
export interface ObservedState {
  readonly kernel: KernelFacts;
  readonly blockDevices: readonly BlockDevice[];
  readonly loops: readonly LoopDevice[];
  readonly mounts: readonly MountEntry[];
  /** device-mapper maps (empty without device-mapper) */
  readonly dmMaps: readonly DmMap[];
  readonly images: Readonly<Record<string, ImageObservation>>;
  /** stat of each mountpoint and of its ancestors up to the first that exists */
  readonly paths: Readonly<Record<string, PathInfo>>;
  /** filesystem UUID of each mounted xfs, by mount target (only probed when the manifest has xfs) */
  readonly mountedXfsUuids: Readonly<Record<string, string>>;
  readonly journal: Journal | null;
  readonly journalPath: string;
  /** the host's volume groups (only probed when the manifest uses LVM); null: lvm2 is not installed */
  readonly hostVgs?: readonly HostVg[] | null;
}
