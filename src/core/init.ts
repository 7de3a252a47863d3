import { posix } from 'node:path';
import { Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { checkPath } from '../manifest/paths.js';
import { humanBytes } from '../plan/format.js';
import { chooseDriver, WELL_KNOWN } from '../plan/filesystems.js';
import { printable } from '../printable.js';
import { specRef } from '../probe/fstab.js';
import type { KernelFacts } from '../probe/observed.js';
import { resolveSpec, volumeFacts, type GuestReport, type ResolvedFstabEntry, type WindowsIdentity } from './guest.js';
import type { FilesystemReport, ImageReport } from './inspect.js';

/**
 * `imgplan init`: a starter manifest from what inspect found, as YAML text with comments. Each
 * guest is mounted the way its own fstab does it, below one folder; what is left out (swap,
 * network and `nofail` entries, what is not on these images) is named in a comment with why.
 * Every string from an image reaches the output either as a YAML value the library quotes, after
 * it passed the manifest's own rules, or escaped inside a comment: never as YAML syntax.
 */

export interface InitImage {
  /** its name in the manifest */
  readonly name: string;
  readonly report: ImageReport;
}

export interface InitOptions {
  /** where the one guest's / goes; with several images, each image's below it (DIR/NAME) */
  readonly where?: string;
  /** the command line, for the header */
  readonly command: string;
  /** what this host's kernel mounts: a volume it cannot mount is left out, so that the manifest plans here */
  readonly kernel: KernelFacts;
}

interface Mount {
  readonly what: string;
  readonly where: string;
  readonly type: string;
  readonly options?: readonly string[];
  readonly comment: string;
}

/** Image names from file names: "Web01.qcow2" → "web01", unique, as the manifest's rules want them. */
export function imageNames(files: readonly string[]): string[] {
  const taken = new Set<string>();
  return files.map((f) => {
    const stem = posix.basename(f).replace(/\.(img|raw|qcow2?|vmdk|vdi|vhdx?|vpc|disk|bin)$/i, '').toLowerCase();
    const base = (stem.replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '') || 'image').slice(0, 60);
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
    taken.add(name);
    return name;
  });
}

const address = (image: string, volume: string) => (volume === 'whole' ? image : `${image}/${volume}`);

/** LVM's own name rules and the manifest's: a VG or LV name outside them cannot be addressed. */
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,127}$/;
const addressable = (volume: string) => volume === 'whole' || /^part[1-9][0-9]{0,2}$/.test(volume)
  || (volume.split('/').length === 2 && volume.split('/').every((n) => LVM_NAME.test(n)));

/** A subvolume name from an fstab's subvol= option, when it is a plain one the manifest can carry. */
const SUBVOLUME = /^[A-Za-z0-9@_.+-][A-Za-z0-9@_.+/-]{0,254}$/;

const NETWORK_TYPES: ReadonlySet<string> = new Set(['nfs', 'nfs4', 'cifs', 'smbfs', 'smb3', 'glusterfs', 'ceph', 'fuse.sshfs', 'sshfs', '9p', 'davfs']);
const PSEUDO_TYPES: ReadonlySet<string> = new Set([
  'proc', 'sysfs', 'devpts', 'devtmpfs', 'tmpfs', 'securityfs', 'cgroup', 'cgroup2', 'none', 'debugfs', 'efivarfs',
]);

/** A guest's mountpoint below `root`, or why it cannot be one: a path the manifest accepts, from the guest's own fstab. */
function below(root: string, file: string): { where: string } | { why: string } {
  if (!file.startsWith('/') || file.length > 1024 || checkPath(file, 'mountpoint', { file: '', line: 1, col: 1 })) {
    return { why: 'its mountpoint is not a plain absolute path' };
  }
  return { where: file === '/' ? root : `${root}${file}` };
}

/** Why an fstab entry is left out of the starter manifest, if it is. */
function leftOut(e: ResolvedFstabEntry): string | undefined {
  if (e.type === 'swap') return 'swap';
  if (NETWORK_TYPES.has(e.type) || e.options.includes('_netdev')) return 'a network filesystem, not on these images';
  if (PSEUDO_TYPES.has(e.type) || e.options.includes('bind')) return 'not a disk filesystem';
  if (e.options.includes('nofail')) return 'nofail in the guest: the guest boots without it, so it is left for you to add';
  return undefined;
}

function fsWords(fs: FilesystemReport | undefined): string {
  if (!fs) return 'no filesystem';
  return [fs.type, fs.label ? `"${fs.label}"` : '', fs.windows ? `Windows: ${fs.windows.state}` : ''].filter(Boolean).join(' ');
}

function identity(name: string, file: string, g: GuestReport | undefined): string[] {
  if (!g) return [`${name}: ${file}`];
  const os = g.os?.pretty_name ?? ([g.os?.name, g.os?.version].filter(Boolean).join(' ') || 'an unknown Linux');
  const lines = [`${name}: ${file}: ${os} on ${g.root}${g.subvolume !== undefined ? ` (subvolume ${g.subvolume})` : ''}`];
  lines.push(`  hostname ${g.hostname ?? '(none found)'}${g.machine_id ? `, machine-id ${g.machine_id}` : ''}`);
  for (const n of g.network) {
    lines.push(`  ${[n.name ?? '(any interface)', n.mac ? `mac ${n.mac}` : '', ...n.addresses, n.dhcp ? 'dhcp' : ''].filter(Boolean).join(' ')} (${n.source})`);
  }
  if (g.kernels?.length) lines.push(`  kernels: ${g.kernels.join(', ')}`);
  return lines;
}

/** Who a Windows guest is, for the comment above its image. */
function windowsIdentity(g: GuestReport): string[] {
  const w: Partial<WindowsIdentity> = g.windows ?? {};
  const version = [w.version, w.display_version, w.build !== undefined ? `build ${w.build}${w.ubr !== undefined ? `.${w.ubr}` : ''}` : undefined];
  const lines = [`${w.product_name ?? 'Windows'}${w.windows_11 ? ' (Windows 11 by its build)' : ''} (${version.filter(Boolean).join(', ')}) on ${g.root}`];
  if (w.computer_name !== undefined) lines.push(`  computer name ${w.computer_name}${w.domain ? `, domain ${w.domain}` : ''}`);
  for (const n of g.network) lines.push(`  ${[n.name ?? '(adapter)', ...n.addresses, n.dhcp ? 'dhcp' : ''].filter(Boolean).join(' ')}`);
  return lines;
}

/** Everything an image holds that could be mounted: address, filesystem, size. */
function volumesOf(img: InitImage): { volume: string; fs?: FilesystemReport; size: number }[] {
  const r = img.report;
  const parts = (r.partition_table?.partitions ?? []).filter((p) => p.whole)
    .map((p) => ({ volume: `part${p.number}`, ...(p.filesystem ? { fs: p.filesystem } : {}), size: p.size_bytes }));
  const whole = r.partition_table ? [] : [{ volume: 'whole', ...(r.filesystem ? { fs: r.filesystem } : {}), size: r.size_bytes }];
  const lvs = r.vgs.flatMap((vg) => vg.lvs.map((lv) => ({
    volume: `${vg.name}/${lv.name}`, ...(lv.filesystem ? { fs: lv.filesystem } : {}), size: lv.size_bytes,
  })));
  return [...parts, ...whole, ...lvs];
}

const mountable = (fs: FilesystemReport | undefined) => fs !== undefined && WELL_KNOWN.has(fs.type);
const LINUX: ReadonlySet<string> = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);

/** The starter manifest for these images (imgplan init), as YAML text. */
export function starterManifest(images: readonly InitImage[], options: InitOptions): string {
  const facts = images.flatMap((img) => volumeFacts(img.report).map((f) => ({ ...f, volume: address(img.name, f.volume), image: img.name })));
  const fsAt = new Map(images.flatMap((img) => volumesOf(img).map((v) => [address(img.name, v.volume), v.fs] as const)));
  const used = new Set<string>();
  /** volumes a mount was wanted for, mounted or not */
  const wanted = new Set<string>();
  const usedWhere = new Set<string>();
  const mounts: Mount[] = [];
  const notes = new Map<string, string[]>(images.map((i) => [i.name, []]));
  const base = (name: string) => (options.where === undefined ? `/mnt/${name}` : images.length > 1 ? `${options.where}/${name}` : options.where);

  const note = (img: string, text: string): void => void notes.get(img)!.push(text);
  /** Whether the mount was added (else a note says why not). */
  const add = (img: string, volume: string, where: string, comment: string, subvolume?: string): boolean => {
    const what = address(img, volume);
    wanted.add(what);
    const fs = fsAt.get(what);
    const driver = fs && mountable(fs) ? chooseDriver(fs.type, undefined, options.kernel) : undefined;
    const refused = !addressable(volume) ? `${volume}: its name is not one a manifest can address`
      : !fs || !mountable(fs) ? `${what} (${fs?.note ?? fsWords(fs)}): not mountable as it is`
        : driver && 'problem' in driver ? `${comment}: left out: ${driver.problem.message}`
        : used.has(what) ? `${comment}: ${what} is mounted already (imgplan mounts each volume once)`
          : usedWhere.has(where) ? `${comment}: ${where} is taken already` : undefined;
    if (refused !== undefined) {
      note(img, refused);
      return false;
    }
    used.add(what);
    usedWhere.add(where);
    mounts.push({ what, where, type: fs!.type, ...(subvolume !== undefined ? { options: [`subvol=${subvolume}`] } : {}), comment });
    return true;
  };

  const heads = new Map<string, string[]>();
  for (const img of images) {
    const all = img.report.guests ?? [];
    const guests = all.filter((x) => x.kind !== 'windows').sort((a, b) => Number(b.fstab !== undefined) - Number(a.fstab !== undefined));
    const g = guests[0];
    const windows = all.filter((x) => x.kind === 'windows').flatMap(windowsIdentity);
    heads.set(img.name, g || !windows.length ? [...identity(img.name, img.report.file, g), ...windows]
      : [`${img.name}: ${img.report.file}: ${windows[0]}`, ...windows.slice(1)]);
    for (const other of guests.slice(1)) note(img.name, `another Linux root on ${other.root} (${other.os?.pretty_name ?? 'unknown'}): not mounted`);
    if (!g) continue;
    const root = base(img.name);
    const entries = [...(g.fstab ?? [])].sort((a, b) => a.file.split('/').length - b.file.split('/').length || a.file.localeCompare(b.file));
    const rootEntry = entries.find((e) => e.file === '/');
    const fromFstab = rootEntry?.options.find((o) => o.startsWith('subvol='))?.slice('subvol='.length);
    const subvolume = g.subvolume ?? (fromFstab !== undefined && SUBVOLUME.test(fromFstab) ? fromFstab : undefined);
    if (!g.fstab) note(img.name, 'the guest has no /etc/fstab: only its root is mounted');
    const rootAdded = add(img.name, g.root, root, rootEntry ? `/ in the guest's fstab (${rootEntry.spec})` : `/ of the guest (${g.root})`, subvolume);
    // a mount inside one that is left out would land on the parent filesystem's empty mountpoint
    const missing: string[] = rootAdded ? [] : [''];
    const mountedFiles = new Set<string>(['/']);
    const leave = (file: string) => {
      if (!mountedFiles.has(file)) missing.push(file);
    };
    for (const e of entries) {
      if (e.file === '/') continue;
      const parent = missing.find((m) => e.file.startsWith(`${m}/`));
      const why = parent !== undefined ? `it is inside ${parent || '/'}, which is not mounted` : leftOut(e);
      if (why) {
        note(img.name, `fstab line ${e.line}, ${e.file} (${e.spec}): left out: ${why}`);
        leave(e.file);
        continue;
      }
      // resolved in the guest's own image first, then by UUID, label or LV name on the others
      const byName = ['uuid', 'label', 'lvm'].includes(specRef(e.spec).by);
      const target = e.volume !== undefined ? address(img.name, e.volume) : byName ? resolveSpec(e, facts).volume : undefined;
      const place = below(root, e.file);
      if (target === undefined || 'why' in place) {
        const reason = target === undefined ? e.note ?? 'not found on these images' : (place as { why: string }).why;
        note(img.name, `fstab line ${e.line}, ${e.file} (${e.spec}): left out: ${reason}`);
        leave(e.file);
        continue;
      }
      const [image, ...rest] = target.split('/');
      // a guess of the guest's own (a /dev/vda2 name) is said beside the mount
      const guess = e.volume !== undefined && e.note ? `: ${e.note}` : '';
      if (add(image!, rest.join('/') || 'whole', place.where, `${e.file} in the guest's fstab (${e.spec})${guess}`)) mountedFiles.add(e.file);
      else leave(e.file);
    }
  }

  // what no guest's fstab mounts: an image without a guest is mounted whole, or volume by volume below its folder
  for (const img of images) {
    const rest = volumesOf(img).filter((v) => !wanted.has(address(img.name, v.volume)));
    const windows = (img.report.guests ?? []).filter((x) => x.kind === 'windows');
    const guessed = windows.length === (img.report.guests?.length ?? 0);
    if (!guessed) {
      for (const v of rest) if (mountable(v.fs)) note(img.name, `${address(img.name, v.volume)} (${fsWords(v.fs)}): not in the guest's fstab, not mounted`);
      continue;
    }
    const candidates = rest.filter((v) => mountable(v.fs));
    if (!candidates.length) {
      const others = volumesOf(img).filter((v) => used.has(address(img.name, v.volume))).map((v) => address(img.name, v.volume));
      note(img.name, others.length ? `${others.join(', ')}: mounted as the fstab of a guest on another image says` : 'nothing on it that imgplan can mount');
      continue;
    }
    const linux = candidates.filter((v) => LINUX.has(v.fs!.type)).sort((a, b) => b.size - a.size)[0];
    if (windows.length) {
      // Windows' own volume first: exec's command runs in the first mount
      const systems = new Set(windows.map((w) => w.root));
      note(img.name, 'Windows: each filesystem is mounted in a folder of its own, the Windows volume first');
      const ordered = [...candidates.filter((v) => systems.has(v.volume)), ...candidates.filter((v) => !systems.has(v.volume))];
      for (const v of ordered) {
        const what = systems.has(v.volume) ? `Windows (${windows.find((w) => w.root === v.volume)!.windows?.product_name ?? 'its registry'}), ` : '';
        add(img.name, v.volume, `${base(img.name)}/${v.volume.replace('/', '-')}`, `${what}${fsWords(v.fs)}, ${humanBytes(v.size)}`);
      }
      continue;
    }
    if (candidates.length === 1 || linux) {
      const first = linux ?? candidates[0]!;
      note(img.name, linux ? `a guess: no guest's /etc was found, so the largest Linux filesystem (${address(img.name, first.volume)}) is the root`
        : `no guest's /etc was found: ${address(img.name, first.volume)} is its only filesystem`);
      add(img.name, first.volume, base(img.name), `${fsWords(first.fs)}, ${humanBytes(first.size)}`);
      for (const v of candidates.filter((c) => c !== first)) note(img.name, `${address(img.name, v.volume)} (${fsWords(v.fs)}): not mounted`);
      continue;
    }
    note(img.name, 'no Linux root was found: each filesystem is mounted in a folder of its own');
    for (const v of candidates) add(img.name, v.volume, `${base(img.name)}/${v.volume.replace('/', '-')}`, `${fsWords(v.fs)}, ${humanBytes(v.size)}`);
  }

  const doc = new Document({
    version: 1,
    images: Object.fromEntries(images.map((img) => [img.name, { file: img.report.file, format: img.report.format }])),
    mounts: mounts.map((m) => ({ what: m.what, where: m.where, type: m.type, ...(m.options ? { options: m.options } : {}) })),
  });
  const comment = (lines: readonly string[]) => lines.map((l) => ` ${printable(l)}`).join('\n');
  doc.commentBefore = comment([
    `A starter manifest, written by ${options.command}.`,
    'Read-only: every image is only read. Review it, then: imgplan plan FILE; imgplan apply FILE; imgplan destroy FILE.',
  ]);
  const imageNodes = doc.get('images', true) as YAMLMap;
  imageNodes.items.forEach((pair, i) => {
    const name = images[i]!.name;
    const key = pair.key as { commentBefore?: string };
    key.commentBefore = comment([...heads.get(name)!, ...notes.get(name)!.map((n) => `note: ${n}`)]);
  });
  const mountNodes = doc.get('mounts', true) as YAMLSeq;
  mountNodes.items.forEach((node, i) => {
    (node as { commentBefore?: string }).commentBefore = comment([mounts[i]!.comment]);
  });
  return doc.toString({ lineWidth: 0 });
}
