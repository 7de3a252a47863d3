import type { ImageSpec } from '../manifest/types.js';
import { chooseDriver } from '../plan/filesystems.js';
import { baseMountOptions } from '../plan/mount-options.js';
import { parseFstab, specRef, type FstabEntry } from '../probe/fstab.js';
import {
  parseIfcfg, parseInterfaces, parseNetplan, parseNetworkd, parseNmKeyfile, parsePersistentNetRules, type NetInterface,
} from '../probe/guest-network.js';
import {
  parseDebianVersion, parseHostname, parseLsbRelease, parseMachineId, parseOsRelease, parseRedhatRelease, parseSysconfigNetwork, type OsIdentity,
} from '../probe/guest-os.js';
import { parseSubvolumes, type BtrfsSubvolumes } from '../probe/btrfs.js';
import { linearLvRange } from '../probe/lvm-metadata.js';
import { storageDaemonArgv } from '../qemu/storage-daemon.js';
import type { ImageObservation, KernelFacts } from '../probe/observed.js';
import {
  computerNameKey, CURRENT_VERSION_KEY, interfaceKeys, interfacesKey, parseHivexValues, tcpipKey, windowsInterface, windowsNames, windowsVersion,
  type RegValues, type WindowsNames, type WindowsVersion,
} from '../probe/windows-registry.js';
import type { FilesystemReport, ImageReport } from './inspect.js';

/**
 * Who a guest is, from the files of its filesystems: `inspect` mounts each Linux filesystem of an
 * image read-only, with the hostile-image defaults, in a private mount namespace of a short-lived
 * process (src/cli/read-guest.ts), reads the files below, and this module turns what was read into
 * the guest's identity. Everything here comes from the image: parsed, bounded, never interpreted.
 */

/** Filesystems whose files inspect reads (a Linux root or /boot can be on any of them). */
const LINUX_FILESYSTEMS: ReadonlySet<string> = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);
/** Filesystems inspect reads Windows' registry from (README "Windows guests"). */
const WINDOWS_FILESYSTEMS: ReadonlySet<string> = new Set(['ntfs']);
/** The most volumes of one inspect run that are mounted to be read. */
export const MAX_GUEST_VOLUMES = 64;

/** What is read of each filesystem: files, and directories whose entries are listed (and read, those whose names match). */
export const GUEST_FILES: readonly string[] = [
  '/etc/os-release', '/usr/lib/os-release', '/etc/redhat-release', '/etc/centos-release', '/etc/system-release', '/etc/lsb-release',
  '/etc/debian_version', '/etc/hostname', '/etc/HOSTNAME', '/etc/sysconfig/network', '/etc/machine-id', '/var/lib/dbus/machine-id',
  '/etc/fstab', '/etc/network/interfaces', '/etc/udev/rules.d/70-persistent-net.rules',
];
export const GUEST_DIRS: readonly { readonly path: string; readonly read?: RegExp }[] = [
  { path: '/' },
  { path: '/boot' },
  { path: '/etc/sysconfig/network-scripts', read: /^ifcfg-(?!lo$)[^~]+$/ },
  { path: '/etc/NetworkManager/system-connections', read: /^[^.].*$/ },
  { path: '/etc/netplan', read: /^[^.].*\.ya?ml$/ },
  { path: '/etc/systemd/network', read: /^[^.].*\.(network|link)$/ },
  { path: '/etc/network/interfaces.d', read: /^[a-zA-Z0-9_-]+$/ },
];
/** Where Ubuntu ("@"), Fedora ("root") and others put / in a btrfs subvolume of the volume's top level. */
const ROOT_SUBVOLUMES = ['@', 'root', '@root', '@rootfs'];

/** The subvolume to read a guest's / from, when the top level has no etc/ but one of the usual root subvolumes. */
export function rootSubvolume(topLevel: readonly { readonly name: string; readonly kind: string }[]): string | undefined {
  const dir = (name: string) => topLevel.some((e) => e.name === name && e.kind === 'directory');
  return dir('etc') ? undefined : ROOT_SUBVOLUMES.find(dir);
}

/** The most files read from one listed directory. */
export const MAX_DIR_READS = 64;

export interface GuestVolume {
  /** "image1:part2", "image1:VolGroup/lv_root", "image1:whole" */
  readonly key: string;
  /** the whole `mount` argv, without the target directory (the reader adds its own) */
  readonly mount: readonly string[];
  /** an NTFS volume: the reader looks for Windows' registry hives on it, not for Linux files */
  readonly windows?: true;
}

export interface GuestDir {
  readonly entries: readonly { readonly name: string; readonly kind: string }[];
  readonly truncated?: true;
  readonly error?: string;
}

/** What was read of one volume (the reader's answer), file data in base64. */
export interface VolumeRead {
  readonly key: string;
  /** read below this btrfs subvolume of the volume's top level (rootSubvolume), not from the top level itself */
  readonly subvolume?: string;
  /** a btrfs volume: what `btrfs subvolume list` and `btrfs subvolume get-default` printed, or why they did not */
  readonly btrfs?: { readonly list: string; readonly default: string } | { readonly error: string };
  readonly error?: string;
  readonly files: Readonly<Record<string, { readonly data?: string; readonly size?: number; readonly truncated?: true; readonly error?: string }>>;
  readonly dirs: Readonly<Record<string, GuestDir>>;
  /** an NTFS volume holding Windows\System32\config: what was read of its registry */
  readonly windows?: WindowsRead;
}

/** A hive file of Windows\System32\config, as the reader found it. */
export interface HiveFile {
  readonly name: 'SOFTWARE' | 'SYSTEM';
  /** the guest path found, in the guest's own case: /Windows/System32/config/SOFTWARE */
  readonly path?: string;
  readonly size?: number;
  /** why it was not read */
  readonly error?: string;
}

/** One `hivexget HIVE KEY`: its output (all values of the key), or why there is none. */
export interface HiveQuery {
  readonly hive: 'SOFTWARE' | 'SYSTEM';
  readonly key: string;
  /** hivexsh's `ls` of the key (its subkeys' names), not its values */
  readonly subkeys?: true;
  readonly output?: string;
  readonly error?: string;
}

export interface WindowsRead {
  /** the guest path of Windows\System32\config, in the guest's own case */
  readonly config: string;
  readonly hives: readonly HiveFile[];
  readonly queries: readonly HiveQuery[];
  /** nothing was read (no hivexget on this host): the volume is listed as not read, with this */
  readonly error?: string;
}

export interface GuestReadRequest {
  /** a directory of imgplan's own; inside the namespace a tmpfs is mounted over it, and the volumes below that */
  readonly base: string;
  /** QEMU images' raw views, served in the reader's namespace before its volumes are mounted from them */
  readonly views?: readonly GuestView[];
  readonly volumes: readonly GuestVolume[];
}

/**
 * A QEMU image as a raw file, for the reader to mount from: qemu-storage-daemon's read-only FUSE
 * export onto `path`, a file in the reader's own tmpfs. The daemon runs in the reader's PID
 * namespace and its FUSE mount is in its mount namespace: both end with the reader.
 */
export interface GuestView {
  readonly image: string;
  readonly path: string;
  /** the daemon's whole argv (--daemonize: it returns once the export is served) */
  readonly serve: readonly string[];
  readonly pidfile: string;
}

/** The view of a QEMU image at `path` (read-only; a running VM's lock is respected, never forced). */
export function guestView(img: ImageSpec, path: string): GuestView {
  const pidfile = `${path}.pid`;
  return { image: img.name, path, pidfile, serve: storageDaemonArgv({ file: img.file, format: img.format, view: path, pidfile, writable: false }) };
}

export type ResolvedFstabEntry = FstabEntry & {
  /** the volume of this image it names ("part1", "VolGroup/lv_root"), when it is here */
  readonly volume?: string;
  readonly note?: string;
};

/** Who a Windows guest is, from its registry (SOFTWARE's CurrentVersion, SYSTEM's current control set). */
export type WindowsIdentity = WindowsVersion & WindowsNames & {
  /** the guest path its hives were read from, in the guest's own case (/Windows/System32/config) */
  readonly config: string;
  /** SYSTEM's current control set (ControlSet001), from \\Select */
  readonly control_set?: string;
};

export interface GuestReport {
  readonly kind: 'linux' | 'windows';
  /** the volume holding the guest's / ("part2", "VolGroup/lv_root", "whole"), or Windows' C: */
  readonly root: string;
  /** the btrfs subvolume of that volume holding / ("@", "root"), when / is not its top level */
  readonly subvolume?: string;
  /** a Windows guest */
  readonly windows?: WindowsIdentity;
  readonly os?: OsIdentity;
  readonly hostname?: string;
  readonly machine_id?: string;
  /** a Linux guest: kernel versions found in /boot (vmlinuz-VERSION) */
  readonly kernels?: readonly string[];
  /** the volume whose files the kernels were listed from, when /boot is its own filesystem */
  readonly boot?: string;
  readonly fstab?: readonly ResolvedFstabEntry[];
  readonly network: readonly NetInterface[];
  readonly problems: readonly string[];
}

/** Volumes of an image inspect reads, and those it cannot (why). */
export interface GuestPlan {
  readonly volumes: readonly GuestVolume[];
  readonly unread: readonly { readonly volume: string; readonly why: string }[];
}

function mountArgv(file: string, offset: number, size: number, fs: FilesystemReport, kernel: KernelFacts): string[] | string {
  const choice = chooseDriver(fs.type, undefined, kernel);
  if ('problem' in choice) return choice.problem.message;
  const type = choice.driver.mountType;
  // xfs refuses a second filesystem with a UUID already mounted (a clone, or this image applied): nouuid, as read-only needs no log
  const options = [...baseMountOptions(type, { readOnly: true, kernel: kernel.release, xfsUuidClash: type === 'xfs' })];
  // mount's own loop (libmount) is read-only with ro and autoclear: it goes when the mount does, with the namespace
  return ['mount', '-t', type, '-o', ['loop', `offset=${offset}`, `sizelimit=${size}`, ...options].join(','), '--', file];
}

/** Which volumes of a raw image inspect mounts to read the guest's files. */
export function guestVolumes(img: ImageSpec, o: ImageObservation, report: ImageReport, kernel: KernelFacts, source = img.file): GuestPlan {
  const volumes: GuestVolume[] = [];
  const unread: { volume: string; why: string }[] = [];
  const consider = (volume: string, offset: number, size: number, fs: FilesystemReport | undefined, whole: boolean) => {
    const windows = fs !== undefined && WINDOWS_FILESYSTEMS.has(fs.type);
    if (!fs || (!LINUX_FILESYSTEMS.has(fs.type) && !windows)) return;
    if (!whole) return unread.push({ volume, why: 'it ends past the end of the image (truncated)' });
    const argv = mountArgv(source, offset, size, fs, kernel);
    if (typeof argv === 'string') return unread.push({ volume, why: argv });
    volumes.push({ key: `${img.name}:${volume}`, mount: argv, ...(windows ? { windows: true as const } : {}) });
  };
  const parts = report.partition_table?.partitions ?? [];
  for (const p of parts) consider(`part${p.number}`, p.start_bytes, p.size_bytes, p.filesystem, p.whole);
  if (!report.partition_table) consider('whole', 0, report.size_bytes, report.filesystem, true);
  for (const [where, pv] of Object.entries(o.lvm ?? {})) {
    const base = where === 'whole' ? 0 : parts.find((p) => `part${p.number}` === where)?.start_bytes;
    for (const lv of pv.vg?.lvs ?? []) {
      const fs = o.lvContents?.[lv.uuid];
      if (base === undefined || !fs?.TYPE || !LINUX_FILESYSTEMS.has(fs.TYPE)) continue;
      const range = linearLvRange(pv, lv);
      const name = `${pv.vg!.name}/${lv.name}`;
      if (!range) {
        unread.push({ volume: name, why: 'it is not one linear segment on one PV here: its files can be read only through device-mapper' });
        continue;
      }
      consider(name, base + range.offset, range.size, { type: fs.TYPE }, base + range.offset + range.size <= report.size_bytes);
    }
  }
  return { volumes, unread };
}

const text = (f: { readonly data?: string } | undefined) => (f?.data === undefined ? undefined : Buffer.from(f.data, 'base64').toString('utf8'));

/** The first of these files that is there and parses, parsed. */
function firstParsed<T>(r: VolumeRead, paths: readonly string[], parse: (text: string, path: string) => T | undefined): T | undefined {
  for (const p of paths) {
    const t = text(r.files[p]);
    const v = t === undefined ? undefined : parse(t, p);
    if (v) return v;
  }
  return undefined;
}

const osOf = (r: VolumeRead): OsIdentity | undefined => firstParsed(r, ['/etc/os-release', '/usr/lib/os-release'], parseOsRelease)
  ?? firstParsed(r, ['/etc/redhat-release', '/etc/centos-release', '/etc/system-release'], parseRedhatRelease)
  ?? firstParsed(r, ['/etc/lsb-release'], parseLsbRelease)
  ?? firstParsed(r, ['/etc/debian_version'], parseDebianVersion);

/** Read files of a directory, as the reader stores them: "DIR/NAME". */
function dirFiles(r: VolumeRead, dir: string): { path: string; text: string }[] {
  return (r.dirs[dir]?.entries ?? []).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    const t = text(r.files[path]);
    return t === undefined ? [] : [{ path, text: t }];
  });
}

function networkOf(r: VolumeRead): NetInterface[] {
  const out: NetInterface[] = [];
  for (const f of dirFiles(r, '/etc/sysconfig/network-scripts')) out.push(...parseIfcfg(f.text, f.path));
  for (const f of dirFiles(r, '/etc/NetworkManager/system-connections')) out.push(...parseNmKeyfile(f.text, f.path));
  for (const f of dirFiles(r, '/etc/netplan')) out.push(...parseNetplan(f.text, f.path));
  for (const f of dirFiles(r, '/etc/systemd/network')) out.push(...parseNetworkd(f.text, f.path));
  const interfaces = text(r.files['/etc/network/interfaces']);
  if (interfaces !== undefined) out.push(...parseInterfaces(interfaces, '/etc/network/interfaces'));
  for (const f of dirFiles(r, '/etc/network/interfaces.d')) out.push(...parseInterfaces(f.text, f.path));
  const rules = text(r.files['/etc/udev/rules.d/70-persistent-net.rules']);
  if (rules !== undefined) out.push(...parsePersistentNetRules(rules, '/etc/udev/rules.d/70-persistent-net.rules'));
  // loopback says nothing about which guest this is
  return out.filter((n) => n.name !== 'lo');
}

const KERNEL = /^vmlinuz-(.+)$/;
const kernelsIn = (r: VolumeRead | undefined, dir: string) => (r?.dirs[dir]?.entries ?? []).flatMap((e) => KERNEL.exec(e.name)?.slice(1, 2) ?? []);

export interface VolumeFacts {
  readonly volume: string;
  readonly fs?: FilesystemReport;
  readonly partNumber?: number;
  readonly vg?: string;
  readonly lv?: string;
}

export function volumeFacts(report: ImageReport): VolumeFacts[] {
  const out: VolumeFacts[] = [];
  for (const p of report.partition_table?.partitions ?? []) out.push({ volume: `part${p.number}`, fs: p.filesystem, partNumber: p.number });
  if (!report.partition_table) out.push({ volume: 'whole', fs: report.filesystem });
  for (const vg of report.vgs) for (const lv of vg.lvs) out.push({ volume: `${vg.name}/${lv.name}`, fs: lv.filesystem, vg: vg.name, lv: lv.name });
  return out;
}

/** The volume of this image an fstab entry names, or why it is not resolved here. */
export function resolveSpec(e: FstabEntry, facts: readonly VolumeFacts[]): { volume?: string; note?: string } {
  const ref = specRef(e.spec);
  const one = (found: VolumeFacts[], what: string) => (found.length === 1 ? { volume: found[0]!.volume }
    : { note: found.length ? `${what} matches ${found.map((f) => f.volume).join(', ')} (cloned filesystems?)` : `${what}: not in this image` });
  switch (ref.by) {
    case 'uuid': return one(facts.filter((f) => f.fs?.uuid?.toLowerCase() === ref.value.toLowerCase()), `UUID ${ref.value}`);
    case 'label': return one(facts.filter((f) => f.fs?.label === ref.value), `label ${ref.value}`);
    case 'lvm': return one(facts.filter((f) => f.vg === ref.vg && f.lv === ref.lv), `LV ${ref.vg}/${ref.lv}`);
    case 'partuuid':
    case 'partlabel': return { note: `${ref.by.toUpperCase()} ${ref.value}: not resolved (inspect does not read partition UUIDs)` };
    case 'device': {
      // the guest's name for its first disk's partition N: only a guess, as disk order is the hypervisor's
      const m = /^\/dev\/(?:[shv]|xv)da(\d+)$/.exec(ref.path);
      const part = m ? facts.find((f) => f.partNumber === Number(m[1])) : undefined;
      return part ? { volume: part.volume, note: 'by device name: assumes this image is the guest\'s first disk' } : { note: 'a device name: not resolved' };
    }
    case 'none': return {};
  }
}

const SKIPPED_TYPES: ReadonlySet<string> = new Set(['swap', 'proc', 'sysfs', 'devpts', 'tmpfs', 'nfs', 'nfs4', 'cifs', 'none']);

/** The guests of an image: one per volume that holds a Linux root (an /etc with an OS release or an fstab). */
export function guestReports(img: ImageSpec, report: ImageReport, reads: readonly VolumeRead[]): GuestReport[] {
  const mine = reads.filter((r) => r.key.startsWith(`${img.name}:`));
  const volumeOf = (r: VolumeRead) => r.key.slice(img.name.length + 1);
  // a separate /boot is read from its volume's top level
  const topLevel = new Map(mine.filter((r) => r.subvolume === undefined).map((r) => [volumeOf(r), r]));
  const facts = volumeFacts(report);
  const guests: GuestReport[] = [];
  for (const r of mine) {
    const volume = volumeOf(r);
    if (r.windows) {
      if (!r.windows.error) guests.push(windowsGuest(volume, r.windows));
      continue;
    }
    const os = osOf(r);
    const fstabText = text(r.files['/etc/fstab']);
    if (!os && fstabText === undefined) continue;
    const problems: string[] = [];
    for (const [path, f] of Object.entries(r.files)) if (f.error) problems.push(`${path}: ${f.error}`);
    for (const [path, f] of Object.entries(r.files)) {
      if (f.truncated) problems.push(`${path}: only its first ${f.data ? Buffer.from(f.data, 'base64').length : 0} bytes were read`);
    }
    const fstab = fstabText === undefined ? undefined : parseFstab(fstabText);
    for (const p of fstab?.problems ?? []) problems.push(`/etc/fstab ${p}`);
    const entries = (fstab?.entries ?? []).map((e) => ({ ...e, ...(SKIPPED_TYPES.has(e.type) ? {} : resolveSpec(e, facts)) }));
    const bootEntry = entries.find((e) => e.file === '/boot');
    const boot = bootEntry?.volume !== undefined && bootEntry.volume !== volume ? bootEntry.volume : undefined;
    const kernels = boot !== undefined ? kernelsIn(topLevel.get(boot), '/') : kernelsIn(r, '/boot');
    const hostname = firstParsed(r, ['/etc/hostname', '/etc/HOSTNAME'], parseHostname) ?? firstParsed(r, ['/etc/sysconfig/network'], parseSysconfigNetwork);
    const machineId = firstParsed(r, ['/etc/machine-id', '/var/lib/dbus/machine-id'], parseMachineId);
    guests.push({
      kind: 'linux',
      root: volume,
      ...(r.subvolume !== undefined ? { subvolume: r.subvolume } : {}),
      ...(os ? { os } : {}),
      ...(hostname ? { hostname } : {}),
      ...(machineId ? { machine_id: machineId } : {}),
      kernels,
      ...(boot !== undefined ? { boot } : {}),
      ...(fstab ? { fstab: entries } : {}),
      network: networkOf(r),
      problems,
    });
  }
  return guests;
}

/** Volumes holding Windows whose registry was not read at all (no hivexget), and why. */
export function windowsUnread(img: ImageSpec, reads: readonly VolumeRead[]): { volume: string; why: string }[] {
  return reads.filter((r) => r.key.startsWith(`${img.name}:`) && r.windows?.error)
    .map((r) => ({ volume: r.key.slice(img.name.length + 1), why: `it holds Windows, whose registry was not read: ${r.windows!.error!}` }));
}

/** A Windows guest from what was read of its registry: what is missing or odd is a problem, never a failure. */
function windowsGuest(volume: string, w: WindowsRead): GuestReport {
  const problems: string[] = [];
  for (const h of w.hives) if (h.error) problems.push(`${h.path ?? `${w.config}/${h.name}`}: ${h.error}`);
  const listing = (hive: HiveQuery['hive'], key: string | undefined): RegValues | undefined => {
    const q = key === undefined ? undefined : w.queries.find((x) => x.hive === hive && x.key === key && !x.subkeys);
    if (!q) return undefined;
    if (q.error !== undefined || q.output === undefined) {
      problems.push(`${hive} ${q.key}: ${q.error ?? 'no answer'}`);
      return undefined;
    }
    const v = parseHivexValues(q.output);
    for (const p of v.problems) problems.push(`${hive} ${q.key}: ${p}`);
    return v;
  };
  const current = listing('SOFTWARE', CURRENT_VERSION_KEY);
  const select = listing('SYSTEM', '\\Select');
  // the reader asked for the control set \Select names, so the other SYSTEM queries say which one it is
  const setKey = w.queries.find((q) => q.hive === 'SYSTEM' && q.key !== '\\Select')?.key;
  const controlSet = setKey === undefined ? undefined : /^\\(ControlSet\d{3})\\/.exec(setKey)?.[1];
  if (select && !controlSet) problems.push('SYSTEM \\Select names no valid current control set: the computer name was not read');
  const names = controlSet ? windowsNames(listing('SYSTEM', computerNameKey(controlSet)), listing('SYSTEM', tcpipKey(controlSet)), problems) : {};
  const version = current ? windowsVersion(current, problems) : {};
  const network: NetInterface[] = [];
  const adapters = controlSet ? w.queries.find((q) => q.subkeys && q.key === interfacesKey(controlSet)) : undefined;
  if (adapters?.error) problems.push(`SYSTEM ${adapters.key}: ${adapters.error}`);
  for (const guid of adapters?.output === undefined ? [] : interfaceKeys(adapters.output)) {
    const key = `${interfacesKey(controlSet!)}\\${guid}`;
    const v = listing('SYSTEM', key);
    const n = v ? windowsInterface(guid, v, `SYSTEM ${key}`) : undefined;
    if (n) network.push(n);
  }
  return {
    kind: 'windows',
    root: volume,
    windows: { ...version, ...names, config: w.config, ...(controlSet ? { control_set: controlSet } : {}) },
    network,
    problems,
  };
}

/** The btrfs subvolumes of each btrfs volume of the image that has any (or a default other than its top level). */
export function subvolumeReports(img: ImageSpec, reads: readonly VolumeRead[]): ({ readonly volume: string } & BtrfsSubvolumes)[] {
  return reads.filter((r) => r.key.startsWith(`${img.name}:`) && r.subvolume === undefined && r.btrfs && !('error' in r.btrfs)).flatMap((r) => {
    const b = r.btrfs as { list: string; default: string };
    const parsed = parseSubvolumes(b.list, b.default);
    return parsed.subvolumes.length || (parsed.default && parsed.default.id !== 5) ? [{ volume: r.key.slice(img.name.length + 1), ...parsed }] : [];
  });
}
