/**
 * A guest's /etc/fstab and its device references (UUID=, LABEL=, /dev/mapper/VG-LV, /dev/VG/LV,
 * device names), parsed as libmount reads them; broken lines and duplicates are problems, not errors
 */
import { MAX_ENTRIES, brief, cut, decodeBytes, defined } from './guest-text.js';

export interface FstabEntry {
  readonly line: number;
  readonly spec: string;
  readonly file: string;
  readonly type: string;
  readonly options: readonly string[];
  readonly freq?: number;
  readonly passno?: number;
}

export interface FstabReport {
  readonly entries: readonly FstabEntry[];
  readonly problems: readonly string[];
}

/** A list of problems that keeps at most MAX_ENTRIES, the last one saying that more were left out. */
class Problems {
  readonly list: string[] = [];

  add(problem: string): void {
    if (this.list.length < MAX_ENTRIES - 1) this.list.push(cut(problem));
    else if (this.list.length === MAX_ENTRIES - 1) this.list.push('more problems were not listed');
  }
}

/**
 * fstab writes a space, tab, newline or backslash in a field as \040 \011 \012 \134; like libmount,
 * any three octal digits are decoded and only the low byte kept. Runs of them are UTF-8 bytes.
 */
function decodeOctal(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/(?:\\[0-7]{3})+/g, (run) => decodeBytes(run.split('\\').slice(1).map((o) => parseInt(o, 8) & 0xff)));
}

/** The fields of an fstab line, or none for a blank line or a comment. */
function fstabFields(row: string): string[] {
  const fields = row.replace(/\r$/, '').split(/[ \t]+/).filter((f) => f !== '');
  return fields[0]?.startsWith('#') ? [] : fields;
}

function fstabNumber(raw: string | undefined, what: string, line: number, problems: Problems): number | undefined {
  if (raw === undefined) return undefined;
  if (/^\d{1,9}$/.test(raw)) return Number(raw);
  problems.add(`line ${line}: the ${what} is not a number: ${brief(raw)}`);
  return undefined;
}

function fstabEntry(line: number, fields: string[], problems: Problems): FstabEntry {
  const [spec, file, type, options, freq, passno] = fields.slice(0, 6).map(decodeOctal);
  return defined({
    line,
    spec: cut(spec!),
    file: cut(file!),
    // a missing type is mount(8)'s "auto": the filesystem is probed
    type: cut(type ?? 'auto'),
    options: (options ?? '').split(',').filter((o) => o !== '').slice(0, MAX_ENTRIES).map(cut),
    freq: fstabNumber(freq, 'dump frequency', line, problems),
    passno: fstabNumber(passno, 'fsck pass number', line, problems),
  });
}

const notMounted = (e: FstabEntry): boolean => e.file === 'none' || e.file === 'swap' || e.type === 'swap';

function checkMountPoint(e: FstabEntry, seen: Map<string, number>, problems: Problems): void {
  if (notMounted(e)) return;
  if (!e.file.startsWith('/')) problems.add(`line ${e.line}: a mount point must be absolute: ${brief(e.file)}`);
  const key = e.file.replace(/(?<=.)\/+$/, '');
  const first = seen.get(key);
  if (first === undefined) seen.set(key, e.line);
  else problems.add(`line ${e.line}: ${brief(e.file)} is listed again (first on line ${first})`);
}

/** fstab(5): one entry per line, fields split on spaces and tabs; problems name their line and never stop the parse. */
export function parseFstab(text: string): FstabReport {
  const entries: FstabEntry[] = [];
  const problems = new Problems();
  const seen = new Map<string, number>();
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const fields = fstabFields(rows[i]!);
    const line = i + 1;
    if (fields.length === 0) continue;
    if (fields.length < 2) {
      problems.add(`line ${line}: 1 field, an entry needs at least 2 (device and mount point)`);
      continue;
    }
    if (entries.length >= MAX_ENTRIES) {
      problems.add(`line ${line}: more than ${MAX_ENTRIES} entries, the rest were not read`);
      break;
    }
    if (fields.length > 6) problems.add(`line ${line}: ${fields.length} fields, an entry has at most 6 (the rest were ignored)`);
    const entry = fstabEntry(line, fields, problems);
    checkMountPoint(entry, seen, problems);
    entries.push(entry);
  }
  return { entries, problems: problems.list };
}

// ---------------------------------------------------------------------------------------------
// fstab device references

export type SpecRef =
  | { readonly by: 'uuid' | 'label' | 'partuuid' | 'partlabel'; readonly value: string }
  | { readonly by: 'lvm'; readonly vg: string; readonly lv: string }
  | { readonly by: 'device'; readonly path: string }
  | { readonly by: 'none' };

type TagKind = 'uuid' | 'label' | 'partuuid' | 'partlabel';

function tagRef(by: TagKind, value: string): SpecRef {
  return value === '' ? { by: 'none' } : { by, value: cut(value) };
}

/** blkid accepts the value of NAME=value in double or single quotes. */
function stripQuotes(s: string): string {
  const q = s[0];
  return s.length >= 2 && (q === '"' || q === "'") && s.endsWith(q) ? s.slice(1, -1) : s;
}

/** udev writes the bytes of a /dev/disk/by-label name that are unsafe in a path as \xHH ("\x2f" for '/'). */
function decodeUdev(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/(?:\\x[0-9A-Fa-f]{2})+/g, (run) => decodeBytes(run.split('\\x').slice(1).map((h) => parseInt(h, 16))));
}

const validLvmName = (s: string): boolean => /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$/.test(s) && s !== '.' && s !== '..';

/**
 * A device-mapper name of an LV joins VG and LV with one '-', doubling the dashes inside either
 * name ("vg--data-lv--home"). A name with no single dash, or with more than one (luks-<uuid>, or
 * LVM's own "-real"/"-cow" layers), is not an LV's.
 */
function splitDmName(name: string): { vg: string; lv: string } | undefined {
  let at = -1;
  for (let i = 0; i < name.length; i++) {
    if (name[i] !== '-') continue;
    if (name[i + 1] === '-') {
      i++;
      continue;
    }
    if (at >= 0) return undefined;
    at = i;
  }
  if (at <= 0) return undefined;
  const vg = name.slice(0, at).replaceAll('--', '-');
  const lv = name.slice(at + 1).replaceAll('--', '-');
  return validLvmName(vg) && validLvmName(lv) ? { vg, lv } : undefined;
}

/** Directories of /dev whose /dev/DIR/NAME devices are not VG/LV links. */
const DEV_DIRS = new Set([
  'disk', 'mapper', 'md', 'cciss', 'ida', 'rd', 'ataraid', 'i2o', 'etherd', 'loop', 'block', 'char', 'bus', 'zvol', 'rbd',
  'vx', 'drbd', 'bcache', 'nbd', 'input', 'net', 'pts', 'shm', 'snd', 'dri', 'fd', 'hugepages', 'mqueue', 'cpu', 'usb',
  'vfio', 'xen', 'dm', 'sg', 'raw',
]);

function lvmRef(vg: string, lv: string): SpecRef {
  return { by: 'lvm', vg: cut(vg), lv: cut(lv) };
}

function devRef(spec: string): SpecRef {
  const mapper = /^\/dev\/mapper\/([^/]+)$/.exec(spec);
  const split = mapper ? splitDmName(mapper[1]!) : undefined;
  if (split) return lvmRef(split.vg, split.lv);
  const link = /^\/dev\/([^/]+)\/([^/]+)$/.exec(spec);
  if (link && !DEV_DIRS.has(link[1]!) && validLvmName(link[1]!) && validLvmName(link[2]!) && !link[1]!.startsWith('-')) {
    return lvmRef(link[1]!, link[2]!);
  }
  return { by: 'device', path: cut(spec) };
}

/** What kind of device an fstab spec names, for resolving it to the image's partitions. */
export function specRef(spec: string): SpecRef {
  const tag = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.*)$/s.exec(spec);
  if (tag) return tagRef(tag[1]!.toLowerCase() as TagKind, stripQuotes(tag[2]!));
  const byDisk = /^\/dev\/disk\/by-(uuid|label|partuuid|partlabel)\/([^/]+)$/.exec(spec);
  if (byDisk) return tagRef(byDisk[1] as TagKind, decodeUdev(byDisk[2]!));
  return spec.startsWith('/dev/') ? devRef(spec) : { by: 'none' };
}
