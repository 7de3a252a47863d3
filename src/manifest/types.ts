import type { SourcePos } from '../diagnostics.js';

/** Disk image formats: raw goes to loop devices directly, the others through QEMU (qemu-nbd or qemu-storage-daemon). */
export const QEMU_FORMATS = ['qcow2', 'vmdk', 'vdi', 'vhdx', 'vpc'] as const;
export type ImageFormat = 'raw' | (typeof QEMU_FORMATS)[number];
/** overlay: a throw-away qcow2 overlay takes every write (journal replay), the image stays untouched */
export type Access = 'read-only' | 'read-write' | 'overlay';
/** How an image's partitions become block devices; auto picks from the kernel's capabilities. */
export type PartitionMethod = 'auto' | 'partscan' | 'kpartx' | 'offset-loops';
/** How QEMU presents a non-raw image as a block device: qemu-nbd, or a qemu-storage-daemon FUSE export read by loop devices. */
export type QemuBackend = 'auto' | 'nbd' | 'storage-daemon';

export interface ImageSpec {
  readonly name: string;
  /** absolute path, resolved against the manifest's folder */
  readonly file: string;
  readonly format: ImageFormat;
  readonly access: Access;
  readonly partitions: PartitionMethod;
  /** LVM volume groups to activate even without a mount that needs them */
  readonly volumeGroups: readonly string[];
  readonly volumeGroupsAt: readonly SourcePos[];
  /** a guest VG named like a host VG: refuse, or map its LVs under imgplan-owned dm names */
  readonly vgNameClash: 'refuse' | 'map';
  /** open an image a running VM holds locked, read-only with shared locking (reads may be inconsistent) */
  readonly allowLive: boolean;
  readonly allowLiveAt?: SourcePos;
  /** backing files (exact paths or QEMU file names) the manifest allows to be other than regular files: a block device, a protocol */
  readonly allowBacking: readonly string[];
  readonly allowBackingAt?: SourcePos;
  /** QEMU images: which backend; auto picks nbd where the kernel has it, else qemu-storage-daemon */
  readonly qemuBackend: QemuBackend;
  readonly qemuBackendAt?: SourcePos;
  readonly at: SourcePos;
  readonly formatAt: SourcePos;
  readonly fileAt: SourcePos;
  readonly accessAt: SourcePos;
  readonly partitionsAt: SourcePos;
}

/** What a mount takes its filesystem from: a whole image, or one partition of it. */
export type Source =
  | { readonly kind: 'whole'; readonly image: string }
  | { readonly kind: 'partition'; readonly image: string; readonly number: number }
  | { readonly kind: 'lv'; readonly image: string; readonly vg: string; readonly lv: string };

export interface MountSpec {
  readonly source: Source;
  /** the manifest's text, e.g. "web01/part3" */
  readonly what: string;
  /** normalised absolute path, no trailing slash */
  readonly where: string;
  readonly type?: string;
  readonly options: readonly string[];
  /** position of each option, parallel to options */
  readonly optionsAt: readonly SourcePos[];
  /** NTFS read-write: throw away a hibernated or unclean Windows state (refused otherwise) */
  readonly discardWindowsState: boolean;
  readonly discardWindowsStateAt?: SourcePos;
  readonly at: SourcePos;
  readonly whatAt: SourcePos;
  readonly whereAt: SourcePos;
  readonly typeAt?: SourcePos;
}

export interface Manifest {
  /** absolute path of the manifest file */
  readonly path: string;
  readonly sha256: string;
  readonly images: readonly ImageSpec[];
  readonly mounts: readonly MountSpec[];
}

/** An image imgplan opens through QEMU: a QEMU format, or a raw image under a throw-away overlay. */
export const needsQemu = (img: Pick<ImageSpec, 'format' | 'access'>) => img.format !== 'raw' || img.access === 'overlay';
