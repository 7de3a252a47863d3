import type { ImageSpec } from '../manifest/types.js';
import type { GuestReport } from './guest.js';
import { humanBytes } from '../plan/format.js';
import { wholeInside } from '../plan/truncated.js';
import type { BlkidInfo } from '../probe/blkid.js';
import type { BtrfsSubvolumes } from '../probe/btrfs.js';
import type { LvmPv } from '../probe/lvm-metadata.js';
import { ntfsStateName, type NtfsHealth } from '../probe/ntfs.js';
import type { ImageObservation } from '../probe/observed.js';

/**
 * What `imgplan inspect` reports of an image, as plain data (schemas/inspect.schema.json): built
 * from the same read-only probe that plan makes, with every partition and LV read. Every string
 * in it comes from the image and is escaped where it is shown, never interpreted.
 */
export interface InspectReport {
  readonly format_version: '1.2';
  readonly images: readonly ImageReport[];
}

export interface FilesystemReport {
  /** blkid's TYPE: ext4, xfs, ntfs, vfat, LVM2_member, swap, crypto_LUKS, … */
  readonly type: string;
  readonly label?: string;
  readonly uuid?: string;
  /** NTFS: what Windows left (README "Windows guests") */
  readonly windows?: { readonly state: string; readonly dirty: boolean | 'unknown'; readonly version?: string };
  /** an LVM PV: the VG in its metadata */
  readonly vg?: string;
  /** why it cannot be mounted as it is (a PV, swap, LUKS, md) */
  readonly note?: string;
}

export interface PartitionReport {
  readonly number: number;
  readonly start_bytes: number;
  readonly size_bytes: number;
  /** the table's type: MBR id ("83") or GPT type GUID */
  readonly type: string;
  readonly name?: string;
  readonly filesystem?: FilesystemReport;
  /** false: it ends past the end of the image (a truncated copy) */
  readonly whole: boolean;
}

export interface VgReport {
  readonly name: string;
  readonly uuid: string;
  /** where its PVs are in this image ("part2"); a VG may have PVs on other images too */
  readonly pvs: readonly string[];
  readonly pv_count: number;
  readonly lvs: readonly { readonly name: string; readonly uuid: string; readonly size_bytes: number; readonly filesystem?: FilesystemReport }[];
}

export interface ImageReport {
  /** inspect MANIFEST: the image's name there */
  readonly name?: string;
  readonly file: string;
  /** the format it was opened with (--format, raw by default) */
  readonly format: string;
  readonly size_bytes: number;
  /** QEMU's own guess, when it differs from the format used (shown, never used) */
  readonly qemu_probe?: string;
  readonly backing_chain?: readonly { readonly file: string; readonly format: string }[];
  readonly in_use?: string;
  readonly partition_table?: {
    readonly label: string; readonly sector_size: number; readonly partitions: readonly PartitionReport[];
    /** a GPT that sfdisk rejects (it saw only the protective MBR), read from its primary header by imgplan (src/probe/gpt.ts) */
    readonly rejected_by_sfdisk?: true;
  };
  /** the whole image's own filesystem, when it has no partition table */
  readonly filesystem?: FilesystemReport;
  readonly vgs: readonly VgReport[];
  /** who the guest is, from the files of each volume holding a Linux root or Windows (src/core/guest.ts) */
  readonly guests?: readonly GuestReport[];
  /** btrfs volumes with subvolumes: each one's, and the default (what a mount without subvol= shows) */
  readonly btrfs?: readonly ({ readonly volume: string } & BtrfsSubvolumes)[];
  /** volumes whose files were not read, and why (a filesystem that does not mount, an LV only device-mapper reads) */
  readonly unread?: readonly { readonly volume: string; readonly why: string }[];
  /** what could not be read, and why (a truncated copy, a rejected GPT, an image QEMU cannot open) */
  readonly problems: readonly string[];
}

const NOTES: Readonly<Record<string, string>> = {
  LVM2_member: 'LVM physical volume',
  swap: 'swap',
  crypto_LUKS: 'LUKS-encrypted: not opened (not supported yet)',
  linux_raid_member: 'md RAID member: not assembled (not supported yet)',
};

function filesystem(b: BlkidInfo | undefined, ntfs?: NtfsHealth, pv?: LvmPv): FilesystemReport | undefined {
  if (!b?.TYPE) return undefined;
  return {
    type: b.TYPE,
    ...(b.LABEL !== undefined ? { label: b.LABEL } : {}),
    ...(b.UUID !== undefined ? { uuid: b.UUID } : {}),
    ...(ntfs ? { windows: { state: ntfsStateName(ntfs), dirty: ntfs.dirty, ...(ntfs.version ? { version: ntfs.version } : {}) } } : {}),
    ...(pv?.vg ? { vg: pv.vg.name } : {}),
    ...(NOTES[b.TYPE] ? { note: NOTES[b.TYPE] } : {}),
  };
}

function vgs(o: ImageObservation): VgReport[] {
  const byUuid = new Map<string, { vg: NonNullable<LvmPv['vg']>; where: string[] }>();
  for (const [where, pv] of Object.entries(o.lvm ?? {})) {
    if (!pv.vg) continue;
    const seen = byUuid.get(pv.vg.uuid);
    if (seen) seen.where.push(where);
    else byUuid.set(pv.vg.uuid, { vg: pv.vg, where: [where] });
  }
  return [...byUuid.values()].map(({ vg, where }) => ({
    name: vg.name, uuid: vg.uuid, pvs: where, pv_count: vg.pvs.length,
    lvs: vg.lvs.map((lv) => {
      const fs = filesystem(o.lvContents?.[lv.uuid]);
      return {
        name: lv.name, uuid: lv.uuid, size_bytes: lv.segments.reduce((n, s) => n + s.extentCount, 0) * vg.extentSize * 512,
        ...(fs ? { filesystem: fs } : {}),
      };
    }),
  }));
}

/** The report of one image from what collect read of it (collectState with readAll). */
export function imageReport(img: ImageSpec, o: ImageObservation): ImageReport {
  const problems: string[] = [];
  const size = o.qemu?.chain?.[0]?.virtualSize ?? o.stat.size ?? 0;
  if (o.stat.kind === 'missing') problems.push('no such file');
  else if (o.stat.kind !== 'file') problems.push('not a regular file');
  if (o.qemu?.problem) problems.push(`QEMU cannot open it: ${o.qemu.problem.message}`);
  if (o.qemu?.inUse) problems.push(`in use by another process (a running VM?): ${o.qemu.inUse}`);
  const probe = o.qemu?.probe?.format;
  if (probe && probe !== img.format) {
    problems.push(`QEMU's format probe says ${probe}, but it was read as ${img.format}: give --format ${probe} if that is right`);
  }
  const gpt = o.rejectedGpt;
  if (gpt !== undefined) {
    problems.push(gpt && gpt.diskBytes > size
      ? `a GPT disk of ${humanBytes(gpt.diskBytes)} cut to ${humanBytes(size)} (truncated): sfdisk rejects its partition table`
      : 'a GPT\'s protective MBR, but no valid GPT: the partition table is damaged');
  }
  // a rejected GPT: its own partitions, as imgplan read them
  const t = gpt ? { label: 'gpt', sectorSize: gpt.sectorSize, partitions: gpt.partitions } : gpt === undefined ? o.table ?? undefined : undefined;
  const partitions = (t?.partitions ?? []).map((p) => {
    const key = `part${p.number}`;
    const fs = filesystem(o.contents[key], o.ntfs?.[key], o.lvm?.[key]);
    const whole = wholeInside(p, t!.sectorSize, size);
    if (!whole) problems.push(`partition ${p.number} ends past the end of the image: truncated`);
    return {
      number: p.number, start_bytes: p.start * t!.sectorSize, size_bytes: p.size * t!.sectorSize, type: p.type,
      ...(p.name ? { name: p.name } : {}), ...(fs ? { filesystem: fs } : {}), whole,
    };
  });
  const wholeFs = t ? undefined : filesystem(o.contents.whole, o.ntfs?.whole, o.lvm?.whole);
  return {
    file: img.file, format: img.format, size_bytes: size,
    ...(probe && probe !== img.format ? { qemu_probe: probe } : {}),
    ...(o.qemu?.chain && o.qemu.chain.length > 1 ? { backing_chain: o.qemu.chain.slice(1).map((c) => ({ file: c.filename, format: c.format })) } : {}),
    ...(o.qemu?.inUse ? { in_use: o.qemu.inUse } : {}),
    ...(t ? { partition_table: { label: t.label, sector_size: t.sectorSize, partitions, ...(gpt ? { rejected_by_sfdisk: true as const } : {}) } } : {}),
    ...(wholeFs ? { filesystem: wholeFs } : {}),
    vgs: vgs(o),
    problems,
  };
}
