import { posix } from 'node:path';
import { error, warning, type Diagnostic, type SourcePos } from '../diagnostics.js';
import { needsQemu, type ImageSpec, type Manifest, type MountSpec } from '../manifest/types.js';
import type { NtfsHealth } from '../probe/ntfs.js';
import type { ObservedState } from '../probe/observed.js';
import { MBR_EXTENDED_TYPES, type Partition } from '../probe/sfdisk.js';
import { pathContains } from './graph.js';
import { NON_FILESYSTEM_PARTITIONS, chooseDriver, typeAccepted, windowsVerdict } from './filesystems.js';
import { desiredVgs, lvDevicePath, type DesiredVg, type VgRequest } from './lvm.js';
import { NOT_MOUNTABLE } from '../probe/blkid.js';
import { mountOptions } from './mount-options.js';

/** What a manifest gives the guest by undoing one of imgplan's mount defaults (nosuid, nodev, noexec). */
const TRUSTED_MEANS: Readonly<Record<string, string>> = {
  suid: 'the guest\'s setuid and setgid programs run with their owners\' rights on this host',
  dev: 'device nodes in the guest open this host\'s devices',
  exec: 'programs in the guest can be run on this host',
};
import { formatMismatch, qemuDisks, type DesiredExport, type DesiredNbd, type QemuDisk } from '../qemu/backend.js';
import { missingToolHint } from '../errors.js';
import { pastEndProblem, rejectedGptProblem } from './truncated.js';

/** How an attach exposes the filesystem(s) the manifest needs. */
export type AttachMethod = 'offset-loop' | 'partscan-loop' | 'kpartx-loop' | 'whole-loop';

export interface DesiredAttach {
  readonly kind: 'attach';
  readonly address: string;
  readonly image: ImageSpec;
  /** what losetup attaches: the image file, the raw view of imgplan's storage-daemon export, or an nbd device */
  readonly file: string;
  /** the QEMU export or nbd connection whose view or device this attaches */
  readonly via?: DesiredExport | DesiredNbd;
  readonly method: AttachMethod;
  readonly backDev: string;
  readonly backIno: number;
  readonly imageSize: number;
  readonly offset: number;
  readonly sizelimit: number;
  readonly readOnly: boolean;
  /** partscan: kernel partition numbers the mounts need */
  readonly partitions: readonly number[];
  /** offset loop: the partition it covers, for display */
  readonly partition?: { readonly label: string; readonly part: Partition; readonly sectorSize: number };
}

/** kpartx's device-mapper maps of an attach's partitions (/dev/mapper/loopNpM). */
export interface DesiredPartmap {
  readonly kind: 'partmap';
  readonly address: string;
  readonly attach: string;
  readonly image: ImageSpec;
  readonly readOnly: boolean;
  readonly label: string;
  readonly partitions: readonly number[];
}

export interface DesiredDir {
  readonly kind: 'dir';
  readonly address: string;
  readonly path: string;
  readonly dependsOn: readonly string[];
}

export interface DesiredMount {
  readonly kind: 'mount';
  readonly address: string;
  readonly spec: MountSpec;
  readonly attach: string;
  /** "device" for the attach's own device, "pN" for kernel partition N of it, "lv:NAME" for an LV of a VG */
  readonly sourceAttr: string;
  /** the device path when it is known before apply (an LV's /dev/mapper name) */
  readonly staticSource?: string;
  /** what blkid found (ntfs, ext4, …) */
  readonly fstype: string;
  /** what `mount -t` gets: the blkid type, or the NTFS driver (ntfs-3g, ntfs3) */
  readonly mountType: string;
  /** the driver, where there was a choice to show */
  readonly driver?: string;
  /** NTFS: the state Windows left it in */
  readonly windows?: NtfsHealth;
  readonly label?: string;
  readonly uuid?: string;
  readonly options: readonly string[];
  readonly readOnly: boolean;
  /** the manifest mount this one is nested in, if any */
  readonly parent?: string;
  readonly dependsOn: readonly string[];
}

/** A VG to activate, with the attaches (or kpartx maps) that hold its PVs as dependencies. */
export type DesiredVgNode = DesiredVg & { readonly dependsOn: readonly string[] };

export type Desired = DesiredExport | DesiredNbd | DesiredAttach | DesiredPartmap | DesiredVgNode | DesiredDir | DesiredMount;

export const attachAddress = (image: string, part?: number) => (part === undefined ? `attach:${image}` : `attach:${image}/part${part}`);
export const partmapAddress = (image: string) => `partmap:${image}`;
export const dirAddress = (path: string) => `dir:${path}`;
export const mountAddress = (where: string) => `mount:${where}`;

function describeParts(parts: readonly Partition[]): string {
  const usable = parts.filter((p) => !MBR_EXTENDED_TYPES.has(p.type)).map((p) => `part${p.number}`);
  return usable.length ? usable.join(', ') : 'none';
}

/** What a partition that has no filesystem signature is, if its type tells. */
function nonFilesystem(img: ImageSpec, obs: ObservedState, m: MountSpec): string | undefined {
  if (m.source.kind !== 'partition') return undefined;
  const n = m.source.number;
  const part = obs.images[img.name]?.table?.partitions.find((p) => p.number === n);
  return part ? NON_FILESYSTEM_PARTITIONS[part.type.toUpperCase()] : undefined;
}

interface Located {
  /** the QEMU export or nbd connection the image needs (nbd: with the kernel partitions used) */
  readonly qemu?: DesiredExport | DesiredNbd;
  readonly attach?: DesiredAttach;
  readonly partmap?: DesiredPartmap;
  /** the object whose device holds the storage: the device itself, a kernel partition or a kpartx map of it (sourceAttr) */
  readonly provider: string;
  readonly sourceAttr: string;
  readonly contents: Readonly<Record<string, string>>;
}

/** A whole image or one partition of it: what an attach exposes. */
export type Storage = { readonly kind: 'whole' } | { readonly kind: 'partition'; readonly number: number };

/** Where a problem with a storage is reported: the manifest text naming it, and its position. */
export interface Asker {
  readonly what: string;
  readonly at: SourcePos;
}

/** Works out which objects expose a whole image or a partition, or why they cannot. */
export function locateStorage(src: Storage, img: ImageSpec, obs: ObservedState, diags: Diagnostic[], m: Asker,
  qemu: (img: ImageSpec) => QemuDisk | undefined): Located | undefined {
  const o = obs.images[img.name];
  if (!o || o.stat.kind === 'missing') {
    diags.push(error('image-missing', `image file ${img.file} does not exist`, img.fileAt,
      `check images.${img.name}.file; a relative path resolves against ${posix.dirname(img.at.file)}`));
    return undefined;
  }
  if (o.stat.kind !== 'file') {
    diags.push(error('image-not-file', `image ${img.file} is not a regular file`, img.fileAt, 'give the path of a disk image file'));
    return undefined;
  }
  if (o.qemu?.probe && !needsQemu(img)) {
    diags.push(formatMismatch(img, o.qemu.probe.format));
    return undefined;
  }
  const disk = needsQemu(img) ? qemu(img) : undefined;
  if (needsQemu(img) && !disk) return undefined;
  const view = disk?.kind === 'view' ? disk : undefined;
  const nbd = disk?.kind === 'nbd' ? disk.nbd : undefined;
  const base = {
    image: img,
    file: view?.file ?? nbd?.device ?? img.file,
    ...(disk ? { via: view?.export ?? nbd! } : {}),
    backDev: view ? view.backDev : o.stat.dev ?? '0:0',
    backIno: view ? view.backIno : o.stat.ino ?? 0,
    imageSize: disk ? disk.size : o.stat.size ?? 0,
    readOnly: img.access === 'read-only',
  };
  const qemuObj = view?.export ?? nbd;
  const withQemu = qemuObj ? { qemu: qemuObj } : {};
  const gptProblem = rejectedGptProblem(img, o, base.imageSize, m.at);
  if (gptProblem) {
    diags.push(gptProblem);
    return undefined;
  }
  if (src.kind === 'whole') {
    if (o.table) {
      const parts = describeParts(o.table.partitions);
      diags.push(error('image-has-partitions', `image ${img.name} has a ${o.table.label} partition table, so it is not one filesystem`, m.at,
        parts === 'none'
          ? 'its partition table lists no usable partition'
          : `name a partition: ${parts.split(', ').map((p) => `${img.name}/${p}`).join(', ')}`));
      return undefined;
    }
    // an nbd device is the whole disk already
    if (nbd) return { ...withQemu, provider: nbd.address, sourceAttr: 'device', contents: o.contents.whole ?? {} };
    const attach: DesiredAttach = { kind: 'attach', address: attachAddress(img.name), method: 'whole-loop', offset: 0, sizelimit: 0, partitions: [], ...base };
    return { ...withQemu, attach, provider: attach.address, sourceAttr: 'device', contents: o.contents.whole ?? {} };
  }
  if (!o.table) {
    const found = o.contents.whole?.TYPE;
    diags.push(error('no-partition-table', `image ${img.name} has no partition table${found ? ` (it holds one ${found} filesystem)` : ''}`, m.at,
      found ? `mount the whole image: what: ${img.name}` : 'check that this is the right image and that it is raw'));
    return undefined;
  }
  const part = o.table.partitions.find((p) => p.number === src.number);
  if (!part) {
    diags.push(error('no-such-partition', `image ${img.name} has no partition ${src.number}`, m.at,
      `its ${o.table.label} partition table has: ${describeParts(o.table.partitions)}`));
    return undefined;
  }
  const cut = pastEndProblem(img, o.table, src.number, base.imageSize, m.at);
  if (cut) {
    diags.push(cut);
    return undefined;
  }
  if (o.table.label === 'dos' && MBR_EXTENDED_TYPES.has(part.type)) {
    diags.push(error('extended-partition', `partition ${src.number} of ${img.name} is an extended partition (a container for logical partitions)`, m.at,
      `logical partitions are numbered from 5: ${describeParts(o.table.partitions)}`));
    return undefined;
  }
  const contents = o.contents[`part${src.number}`] ?? {};
  const way = partitionWay(img, o.table.label, obs, diags, nbd);
  if (!way) return undefined;
  if (way === 'kernel' && nbd) return { qemu: { ...nbd, partitions: [src.number] }, provider: nbd.address, sourceAttr: `p${src.number}`, contents };
  if (way === 'kernel') {
    const attach: DesiredAttach = {
      kind: 'attach', address: attachAddress(img.name), method: 'partscan-loop', offset: 0, sizelimit: 0, partitions: [src.number], ...base,
    };
    return { ...withQemu, attach, provider: attach.address, sourceAttr: `p${src.number}`, contents };
  }
  if (way === 'kpartx') {
    // kpartx maps the partitions of a whole-disk loop device, or of the nbd device itself
    const attach: DesiredAttach | undefined = nbd ? undefined : {
      kind: 'attach', address: attachAddress(img.name), method: 'kpartx-loop', offset: 0, sizelimit: 0, partitions: [src.number], ...base,
    };
    const provider = attach?.address ?? nbd!.address;
    const partmap: DesiredPartmap = {
      kind: 'partmap', address: partmapAddress(img.name), attach: provider, image: img, readOnly: base.readOnly, label: o.table.label,
      partitions: [src.number],
    };
    return { ...withQemu, ...(attach ? { attach } : {}), partmap, provider, sourceAttr: `mapper:p${src.number}`, contents };
  }
  const ss = o.table.sectorSize;
  const attach: DesiredAttach = {
    kind: 'attach', address: attachAddress(img.name, src.number), method: 'offset-loop',
    offset: part.start * ss, sizelimit: part.size * ss, partitions: [],
    partition: { label: o.table.label, part, sectorSize: ss }, ...base,
  };
  return { ...withQemu, attach, provider: attach.address, sourceAttr: 'device', contents };
}

/** How a disk's partitions are reached: kernel partition nodes, kpartx maps, or one offset loop each. */
type PartitionWay = 'kernel' | 'kpartx' | 'offset';

/**
 * The manifest's `partitions:` choice, or for auto: the kernel's own partition nodes where it
 * makes them and parses this table type (a loop with partition scan; an nbd device whose module
 * has max_part > 0), else kpartx where device-mapper and kpartx exist, else offset loops. kpartx
 * never runs over an nbd device that has kernel partitions too (every PV would show twice).
 */
function partitionWay(img: ImageSpec, label: string, obs: ObservedState, diags: Diagnostic[], nbd?: DesiredNbd): PartitionWay | undefined {
  const k = obs.kernel;
  const parses = k.partscan.labels.includes(label);
  const kernelParts = parses && (nbd === undefined || nbd.maxPart > 0);
  const dm = k.deviceMapper && k.kpartx;
  const noModuleParts = nbd !== undefined && nbd.maxPart === 0;
  switch (img.partitions) {
    case 'partscan':
      if (kernelParts) return 'kernel';
      diags.push(error('no-partscan', `image ${img.name} asks for partitions: partscan, but ${noModuleParts
        ? 'the nbd module was loaded with max_part=0, so the kernel makes no partitions of nbd devices'
        : `this kernel does not parse ${label} partition tables (${k.partscan.evidence})`}`,
      img.partitionsAt, noModuleParts
        ? 'use partitions: auto, kpartx or offset-loops, or reload the module: modprobe -r nbd && modprobe nbd max_part=16'
        : 'use partitions: auto, kpartx or offset-loops'));
      return undefined;
    case 'kpartx':
      if (dm && !(nbd && kernelParts)) return 'kpartx';
      diags.push(error('no-kpartx', `image ${img.name} asks for partitions: kpartx, but ${!dm
        ? (k.deviceMapper ? 'kpartx is not installed' : 'the kernel has no device-mapper loaded')
        : `the kernel already makes the partitions of ${nbd!.device} (nbd max_part=${nbd!.maxPart}): kpartx maps of them would show every partition twice`}`,
      img.partitionsAt, !dm
        ? (k.deviceMapper ? missingToolHint('kpartx') : 'load it (modprobe dm_mod), or use partitions: auto or offset-loops')
        : 'use partitions: auto'));
      return undefined;
    case 'offset-loops':
      return 'offset';
    case 'auto':
      return kernelParts ? 'kernel' : dm ? 'kpartx' : 'offset';
  }
}

export interface DesiredResult {
  readonly desired: readonly Desired[];
  readonly diagnostics: readonly Diagnostic[];
}

/** What the manifest asks for, in terms of objects on this system. Pure. */
export function buildDesired(manifest: Manifest, obs: ObservedState): DesiredResult {
  const diags: Diagnostic[] = [];
  const attaches = new Map<string, DesiredAttach>();
  const partmaps = new Map<string, DesiredPartmap>();
  const mounts: DesiredMount[] = [];
  const images = new Map(manifest.images.map((i) => [i.name, i]));

  const merge = (a: readonly number[], b: readonly number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y);
  const qemu = qemuDisks(obs, diags);
  const qemuObjects = new Map<string, DesiredExport | DesiredNbd>();
  /** Keeps the objects a mount or a PV needs, merging the partitions they expose; returns the one it waits for. */
  const register = (loc: Located): string => {
    if (loc.qemu) {
      const prev = qemuObjects.get(loc.qemu.address);
      qemuObjects.set(loc.qemu.address, prev?.kind === 'nbd' && loc.qemu.kind === 'nbd'
        ? { ...prev, partitions: merge(prev.partitions, loc.qemu.partitions) }
        : prev ?? loc.qemu);
    }
    if (loc.attach) {
      const prev = attaches.get(loc.attach.address);
      attaches.set(loc.attach.address, prev ? { ...prev, partitions: merge(prev.partitions, loc.attach.partitions) } : loc.attach);
    }
    if (loc.partmap) {
      const pm = partmaps.get(loc.partmap.address);
      partmaps.set(loc.partmap.address, pm ? { ...pm, partitions: merge(pm.partitions, loc.partmap.partitions) } : loc.partmap);
    }
    return loc.partmap?.address ?? loc.attach?.address ?? loc.provider;
  };

  // LVM first: the VGs the mounts and volume_groups need, and the attaches of their PVs
  const requests: VgRequest[] = [];
  for (const m of manifest.mounts) {
    const img = images.get(m.source.image);
    if (img && m.source.kind === 'lv') requests.push({ image: img, vg: m.source.vg, lvs: [m.source.lv], what: m.what, at: m.whatAt });
  }
  for (const img of manifest.images) {
    for (const [i, vg] of img.volumeGroups.entries()) requests.push({ image: img, vg, lvs: [], what: `${img.name}/${vg}`,
      at: img.volumeGroupsAt[i] ?? img.at });
  }
  // a QEMU image that cannot be opened (or looked inside) has its own error, not "no volume group"
  const openable = requests.filter((r) => !needsQemu(r.image) || qemu(r.image) !== undefined);
  const pvSources = new Map<string, string>();
  const vgs = openable.length
    ? desiredVgs(manifest, obs, openable, (image, storage, asker) => {
      const loc = locateStorage(storage === 'whole' ? { kind: 'whole' } : { kind: 'partition', number: Number(storage.slice(4)) },
        image, obs, diags, asker, qemu);
      if (!loc) return undefined;
      pvSources.set(`${loc.provider}|${loc.sourceAttr}`, register(loc));
      return { attach: loc.provider, sourceAttr: loc.sourceAttr };
    }, diags)
    : new Map<string, DesiredVg>();
  const vgList = [...vgs.values()].map((v) => ({ ...v, dependsOn: [...new Set(v.pvs.map((p) => pvSources.get(`${p.attach}|${p.sourceAttr}`)!))].sort() }));

  for (const m of manifest.mounts) {
    const img = images.get(m.source.image);
    if (!img) continue; // reported by the manifest's semantic checks
    let contents: Readonly<Record<string, string>>;
    let attachAddress: string;
    let sourceAttr: string;
    let source: string;
    let staticSource: string | undefined;
    if (m.source.kind === 'lv') {
      const src = m.source;
      const vg = vgList.find((v) => v.name === src.vg && v.pvs.some((p) => p.image === img.name) && v.lvs.some((l) => l.name === src.lv));
      if (!vg) continue; // why is already reported
      const lv = vg.lvs.find((l) => l.name === src.lv)!;
      contents = Object.values(obs.images).map((o) => o.lvContents?.[lv.uuid]).find((c) => c !== undefined) ?? {};
      attachAddress = vg.address;
      sourceAttr = `lv:${lv.name}`;
      source = vg.address;
      staticSource = lvDevicePath(vg, lv.name);
    } else {
      const loc = locateStorage(m.source, img, obs, diags, { what: m.what, at: m.whatAt }, qemu);
      if (!loc) continue;
      contents = loc.contents;
      attachAddress = loc.provider;
      sourceAttr = loc.sourceAttr;
      source = '';
      const special = nonFilesystem(img, obs, m);
      if (!contents.TYPE && special) {
        diags.push(error('not-mountable', `${m.what} is ${special}`, m.whatAt, 'name another partition; sfdisk --list ' + img.file + ' shows them'));
        continue;
      }
      if (!contents.TYPE) {
        diags.push(error('no-filesystem', `no filesystem found in ${m.what} (blkid recognises no signature there)`, m.whatAt,
          'check the partition number with: sfdisk --list ' + img.file));
        continue;
      }
      source = register(loc);
    }
    const fstype = contents.TYPE ?? (m.source.kind === 'lv' ? m.type : undefined);
    if (!fstype) {
      diags.push(error('no-filesystem', `no filesystem found at the start of ${m.what} (blkid recognises no signature there)`, m.whatAt,
        m.source.kind === 'lv' ? 'check the LV name; for an LV imgplan cannot look into before activation (striped), give its type:' : undefined));
      continue;
    }
    const notMountable = NOT_MOUNTABLE[fstype];
    if (notMountable) {
      const vg = fstype === 'LVM2_member' && m.source.kind !== 'lv'
        ? obs.images[img.name]?.lvm?.[m.source.kind === 'whole' ? 'whole' : `part${m.source.number}`]?.vg
        : undefined;
      diags.push(error('not-mountable', `${m.what} holds ${notMountable}`, m.whatAt,
        vg
          ? `it belongs to VG ${vg.name}: what: ${img.name}/${vg.name}/LV, where LV is one of ` +
            `${vg.lvs.filter((l) => l.status.includes('VISIBLE')).map((l) => l.name).join(', ')}`
          : undefined));
      continue;
    }
    if (m.type && contents.TYPE && !typeAccepted(fstype, m.type)) {
      diags.push(error('type-mismatch', `type ${m.type} given, but blkid finds ${fstype} in ${m.what}`, m.typeAt ?? m.at,
        `set "type: ${fstype}" or check that ${m.what} is the right ${m.source.kind === 'lv' ? 'logical volume' : 'partition'}`));
      continue;
    }
    const choice = chooseDriver(fstype, m.type, obs.kernel);
    if ('problem' in choice) {
      diags.push(error(choice.problem.code, `${m.what} holds ${fstype}, but ${choice.problem.message}`, m.typeAt ?? m.whatAt, choice.problem.hint));
      continue;
    }
    const driver = choice.driver;
    // under an overlay the filesystem is mounted read-only unless the manifest says rw, yet it may replay its journal
    const readOnly = img.access === 'read-only' || (img.access === 'overlay' && !m.options.includes('rw'));
    for (const [j, o] of m.options.entries()) {
      const gives = TRUSTED_MEANS[o];
      if (gives) {
        diags.push(warning('guest-trusted', `${m.what} is mounted with ${o}: ${gives}`, m.optionsAt[j] ?? m.at, `drop ${o} unless the guest is trusted`));
      }
    }
    const key = m.source.kind === 'whole' ? 'whole' : m.source.kind === 'partition' ? `part${m.source.number}` : '';
    const health = fstype === 'ntfs' ? obs.images[img.name]?.ntfs?.[key] : undefined;
    const verdict = health
      ? windowsVerdict(`${m.what}${contents.LABEL ? ` ("${contents.LABEL}")` : ''}`, health, readOnly, m.discardWindowsState, driver)
      : undefined;
    for (const w of verdict?.warnings ?? []) diags.push(warning('windows-state', w, m.whatAt));
    if (verdict?.refusal) {
      diags.push(error('windows-state', verdict.refusal.message, m.discardWindowsStateAt ?? m.whatAt, verdict.refusal.hint));
      continue;
    }
    const parent = manifest.mounts
      .filter((p) => pathContains(p.where, m.where))
      .sort((a, b) => b.where.length - a.where.length)[0];
    const others = Object.entries(obs.mountedXfsUuids).filter(([target]) => target !== m.where).map(([, u]) => u);
    const xfsUuidClash = fstype === 'xfs' && contents.UUID !== undefined && others.includes(contents.UUID);
    mounts.push({
      kind: 'mount',
      address: mountAddress(m.where),
      spec: m,
      attach: attachAddress,
      sourceAttr,
      ...(staticSource ? { staticSource } : {}),
      fstype,
      mountType: driver.mountType,
      ...(driver.chosen ? { driver: driver.mountType } : {}),
      ...(health ? { windows: health } : {}),
      ...(contents.LABEL ? { label: contents.LABEL } : {}),
      ...(contents.UUID ? { uuid: contents.UUID } : {}),
      options: mountOptions(driver.mountType, [...(verdict?.options ?? []), ...m.options],
        { readOnly, replay: img.access === 'overlay', kernel: obs.kernel.release, xfsUuidClash }),
      readOnly,
      ...(parent ? { parent: mountAddress(parent.where) } : {}),
      dependsOn: [source, ...(parent ? [mountAddress(parent.where)] : [])],
    });
  }
  // a problem of one image (missing file, backend) is one diagnostic, not one per mount
  const unique = diags.filter((d, i) => diags.findIndex((x) => x.code === d.code && x.message === d.message) === i);
  return {
    desired: [...qemuObjects.values(), ...attaches.values(), ...partmaps.values(), ...vgList, ...mountpointDirs(mounts, obs), ...mounts],
    diagnostics: unique,
  };
}

/**
 * Directories the non-nested mountpoints need made (missing ones), or keep (ones imgplan made
 * earlier, as its journal says), each after its parent.
 */
function mountpointDirs(mounts: readonly DesiredMount[], obs: ObservedState): DesiredDir[] {
  const journaled = new Set((obs.journal?.entries ?? []).flatMap((e) => (e.kind === 'dir' ? [e.path] : [])));
  const dirs = new Map<string, DesiredDir>();
  for (const m of [...mounts].sort((a, b) => a.spec.where.localeCompare(b.spec.where))) {
    if (m.parent) continue;
    const chain: string[] = [];
    for (let p = m.spec.where; p !== '/'; p = posix.dirname(p)) {
      const info = obs.paths[p];
      if (!info) break;
      if (info.kind !== 'missing' && !journaled.has(p)) break;
      chain.push(p);
    }
    chain.reverse().forEach((p, i, all) => {
      if (!dirs.has(p)) dirs.set(p, { kind: 'dir', address: dirAddress(p), path: p, dependsOn: i > 0 ? [dirAddress(all[i - 1]!)] : [] });
    });
  }
  return [...dirs.values()];
}
