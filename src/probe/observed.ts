import type { GptLayout } from './gpt.js';
import type { Journal, OtherJournals } from '../journal/format.js';
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
import type { QemuImageInfo, QemuOpenProblem } from '../qemu/img-info.js';
import type { ExportPaths } from '../qemu/paths.js';

/** What QEMU says about an image imgplan opens through QEMU (non-raw formats, access: overlay). */
export interface QemuObservation {
  /** the top image as QEMU's format probe sees it (the guess is shown, never used) */
  readonly probe?: QemuImageInfo;
  /** the backing chain, top image first, opened with the manifest's format */
  readonly chain?: readonly QemuImageInfo[];
  /** backing files of the chain that are not regular files, opened because allow_backing names them */
  readonly allowedBacking?: readonly { readonly file: string; readonly what: string }[];
  /** another process holds the image locked (QEMU's message); only probed further with allow_live */
  readonly inUse?: string;
  /** why QEMU could not open it */
  readonly problem?: QemuOpenProblem;
  /** how plan read the guest's partition table and filesystems: through imgplan's live export or nbd device, or plan's own probe view (qemu-img) */
  readonly readVia?: 'export' | 'nbd' | 'probe-view';
}

/** One /dev/nbdN: free, or connected to the server whose client thread is in /sys/block/nbdN/pid. */
export interface NbdDevice {
  readonly device: string;
  /** /sys/block/nbdN/pid exists: in use (also when half torn down, its thread gone) */
  readonly connected: boolean;
  /** the serving process: the thread group of the thread in /sys/block/nbdN/pid (absent when that thread is gone) */
  readonly pid?: number;
  /** that process's /proc/PID/cmdline (NUL-separated): qemu-nbd's says what it serves */
  readonly cmdline?: string;
}

/** The kernel's nbd driver and its devices (probed when the manifest has QEMU images or imgplan has nbd connections). */
export interface NbdState {
  /** loaded (or built in), loadable (modprobe finds the module), or absent */
  readonly module: 'loaded' | 'loadable' | 'absent';
  /** partitions per device; 0: the kernel makes no nbdNpM nodes */
  readonly maxPart?: number;
  readonly devices: readonly NbdDevice[];
  /** the qemu-nbd tool is installed */
  readonly qemuNbd: boolean;
}

/** imgplan's qemu-storage-daemon export of one image: where it lives and whether it serves. */
export interface ExportObservation extends ExportPaths {
  /** from the pid file */
  readonly pid?: number;
  /** the daemon is alive, its command line serves this view, and the view is mounted */
  readonly serving: boolean;
  /** the view is a mountpoint (FUSE) */
  readonly mounted: boolean;
  /** the view file (while serving: the FUSE file losetup reports as BACK-MAJ:MIN and BACK-INO) */
  readonly viewStat: PathInfo;
}

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
  /** QEMU formats and overlays: what qemu-img found */
  readonly qemu?: QemuObservation;
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
  /**
   * sfdisk saw only a GPT's protective MBR (it rejected the GPT): the primary GPT as imgplan reads
   * it (src/probe/gpt.ts), or null when there is none whose header checks out
   */
  readonly rejectedGpt?: GptLayout | null;
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
  /** the other manifests' journals in the state directory (read by the operation, not probed; absent in recordings) */
  readonly others?: OtherJournals;
  /** imgplan's QEMU exports, by image name: of the manifest's QEMU images and of journaled exports */
  readonly exports?: Readonly<Record<string, ExportObservation>>;
  /** qemu-storage-daemon and FUSE are available (probed when the manifest has QEMU images) */
  readonly qemuBackends?: { readonly storageDaemon: boolean; readonly fuse: boolean };
  /** the nbd driver and devices (probed when the manifest has QEMU images or the journal nbd connections) */
  readonly nbd?: NbdState;
  /** the host's volume groups (only probed when the manifest uses LVM); null: lvm2 is not installed */
  readonly hostVgs?: readonly HostVg[] | null;
}
