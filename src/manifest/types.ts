import type { SourcePos } from '../diagnostics.js';

export type ImageFormat = 'raw';
export type Access = 'read-only' | 'read-write';
/** How an image's partitions become block devices; auto picks from the kernel's capabilities. */
export type PartitionMethod = 'auto' | 'partscan' | 'kpartx' | 'offset-loops';

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
  readonly at: SourcePos;
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
