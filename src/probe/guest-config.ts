/**
 * Parsers for configuration files read from a guest's root filesystem: OS identity, host name,
 * machine id, fstab and network configuration. Every byte is the guest's, so nothing here is
 * interpreted beyond the file's own syntax, every string is cut to MAX_VALUE, every list to
 * MAX_ENTRIES, and no input makes a parser throw (the property tests drive them with junk).
 */
import { parseDocument } from 'yaml';

/** Bounds for strings and lists from a guest */
export const MAX_VALUE = 256;
export const MAX_ENTRIES = 256;

// ---------------------------------------------------------------------------------------------
// shared helpers

/** Cuts a string to MAX_VALUE, never in the middle of a surrogate pair. */
function cut(s: string): string {
  if (s.length <= MAX_VALUE) return s;
  const high = s.charCodeAt(MAX_VALUE - 1);
  return s.slice(0, high >= 0xd800 && high <= 0xdbff ? MAX_VALUE - 1 : MAX_VALUE);
}

const cutOpt = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : cut(s));

/** For quoting a guest value inside a message that is itself cut to MAX_VALUE. */
const brief = (s: string): string => (s.length > 64 ? `${s.slice(0, 64)}…` : s);

const lines = (text: string): string[] => text.split(/\r?\n/);

/** ifupdown, systemd unit files and udev rules continue a line that ends in a backslash. */
function joinedLines(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const l of lines(text)) {
    if (l.endsWith('\\')) {
      pending += `${l.slice(0, -1)} `;
      continue;
    }
    out.push(pending + l);
    pending = '';
  }
  if (pending !== '') out.push(pending);
  return out;
}

/** Drops the keys whose value is undefined, so results compare and print cleanly. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Decodes runs of escaped bytes as UTF-8 (invalid sequences become U+FFFD). */
const decodeBytes = (bytes: number[]): string => utf8.decode(Uint8Array.from(bytes));

// ---------------------------------------------------------------------------------------------
// shell-style KEY=VALUE files (os-release, lsb-release, redhat sysconfig)

/** A double-quoted value: a backslash escapes only " \ $ and ` (as in sh and os-release(5)); an unclosed quote runs to the end of the line. */
function doubleQuoted(s: string): string {
  let out = '';
  for (let i = 1; i < s.length && out.length <= MAX_VALUE; i++) {
    const c = s[i]!;
    if (c === '"') break;
    const next = s[i + 1];
    if (c === '\\' && next !== undefined) {
      out += '"\\$`'.includes(next) ? next : c + next;
      i++;
    } else out += c;
  }
  return out;
}

function unquote(raw: string): string {
  const s = raw.trim();
  if (s.startsWith('"')) return doubleQuoted(s);
  if (s.startsWith("'")) {
    const end = s.indexOf("'", 1);
    return end < 0 ? s.slice(1) : s.slice(1, end);
  }
  return s;
}

/** The assignments of a shell-style file; the last assignment of a key wins, as when the shell sources it. */
function shellVars(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const l of lines(text)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(l);
    if (m) vars.set(m[1]!, cut(unquote(m[2]!)));
  }
  return vars;
}

/** The first line that is neither blank nor a comment, trimmed. */
function firstLine(text: string): string | undefined {
  return lines(text).map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
}

// ---------------------------------------------------------------------------------------------
// OS identity

export interface OsIdentity {
  readonly id?: string;
  readonly name?: string;
  readonly version?: string;
  readonly version_id?: string;
  readonly pretty_name?: string;
  /** VERSION_CODENAME, DISTRIB_CODENAME, or the parenthesized word of redhat-release ("Maipo") */
  readonly codename?: string;
  readonly source: string;
}

type IdentityFields = Omit<OsIdentity, 'source'>;

function identity(fields: IdentityFields, source: string): OsIdentity | undefined {
  const kept = defined(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, cutOpt(v as string | undefined)])));
  return Object.keys(kept).length === 0 ? undefined : { ...kept, source: cut(source) };
}

/** os-release(5): KEY=VALUE lines, VALUE optionally in single or double quotes with \-escapes in double quotes; '#' comments; no expansion. */
export function parseOsRelease(text: string, source: string): OsIdentity | undefined {
  const v = shellVars(text);
  return identity({
    id: v.get('ID'),
    name: v.get('NAME'),
    version: v.get('VERSION'),
    version_id: v.get('VERSION_ID'),
    pretty_name: v.get('PRETTY_NAME'),
    codename: v.get('VERSION_CODENAME'),
  }, source);
}

/** The os-release ID of the distribution a redhat-release line names; the first pattern that matches wins. */
const REDHAT_IDS: readonly (readonly [RegExp, string])[] = [
  [/centos/i, 'centos'],
  [/red hat/i, 'rhel'],
  [/fedora/i, 'fedora'],
  [/rocky/i, 'rocky'],
  [/alma/i, 'almalinux'],
  [/oracle/i, 'ol'],
  [/scientific/i, 'scientific'],
  [/cloudlinux/i, 'cloudlinux'],
  [/amazon/i, 'amzn'],
  [/eurolinux/i, 'eurolinux'],
  [/virtuozzo/i, 'virtuozzo'],
];

/** /etc/redhat-release, /etc/centos-release, /etc/system-release: one line such as "CentOS release 6.10 (Final)". */
export function parseRedhatRelease(text: string, source: string): OsIdentity | undefined {
  const first = firstLine(text);
  if (first === undefined) return undefined;
  const line = cut(first);
  const m = /^(.*?)\s+release\s+(\S+)(?:\s+\(([^)]*)\))?/i.exec(line);
  return identity({
    id: REDHAT_IDS.find(([re]) => re.test(line))?.[1],
    name: m?.[1],
    version: m?.[2],
    pretty_name: line,
    codename: m?.[3],
  }, source);
}

/** /etc/debian_version ("12.5", "bookworm/sid"). */
export function parseDebianVersion(text: string, source: string): OsIdentity | undefined {
  const version = firstLine(text);
  return version === undefined ? undefined : identity({ id: 'debian', name: 'Debian GNU/Linux', version }, source);
}

/** /etc/lsb-release: DISTRIB_ID, DISTRIB_RELEASE, DISTRIB_CODENAME, DISTRIB_DESCRIPTION */
export function parseLsbRelease(text: string, source: string): OsIdentity | undefined {
  const v = shellVars(text);
  const distrib = v.get('DISTRIB_ID');
  return identity({
    // DISTRIB_ID is "Ubuntu" where os-release's ID is "ubuntu"
    id: distrib?.toLowerCase(),
    name: distrib,
    version: v.get('DISTRIB_RELEASE'),
    version_id: v.get('DISTRIB_RELEASE'),
    pretty_name: v.get('DISTRIB_DESCRIPTION'),
    codename: v.get('DISTRIB_CODENAME'),
  }, source);
}

// ---------------------------------------------------------------------------------------------
// host name and machine id

const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function validHostname(s: string | undefined): string | undefined {
  if (s === undefined || s.length === 0 || s.length > 253) return undefined;
  return s.split('.').every((label) => HOST_LABEL.test(label)) ? s : undefined;
}

/** /etc/hostname (first non-empty, non-comment line) or /etc/HOSTNAME; only a valid host name is returned */
export function parseHostname(text: string): string | undefined {
  return validHostname(firstLine(text));
}

/** /etc/sysconfig/network: HOSTNAME=web01.example.com (quotes allowed) */
export function parseSysconfigNetwork(text: string): string | undefined {
  return validHostname(shellVars(text).get('HOSTNAME')?.trim());
}

/** /etc/machine-id or /var/lib/dbus/machine-id: exactly 32 lowercase hex digits, optionally followed by a newline */
export function parseMachineId(text: string): string | undefined {
  return /^[0-9a-f]{32}\n?$/.test(text) ? text.slice(0, 32) : undefined;
}

// ---------------------------------------------------------------------------------------------
// fstab

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

// ---------------------------------------------------------------------------------------------
// network interfaces

export interface NetInterface {
  readonly name?: string;
  readonly mac?: string;
  readonly addresses: readonly string[];
  readonly dhcp?: boolean;
  readonly gateway?: string;
  readonly source: string;
}

/** An interface as a parser collects it; finish() bounds it. */
interface Draft {
  name?: string | undefined;
  mac?: string | undefined;
  addresses: string[];
  dhcp?: boolean | undefined;
  gateway?: string | undefined;
}

function finish(d: Draft, source: string): NetInterface {
  return defined({
    name: cutOpt(d.name),
    mac: d.mac,
    addresses: d.addresses.filter((a) => a !== '').slice(0, MAX_ENTRIES).map(cut),
    dhcp: d.dhcp,
    gateway: cutOpt(d.gateway),
    source: cut(source),
  });
}

/** aa:bb:cc:dd:ee:ff or AA-BB-CC-DD-EE-FF → aa:bb:cc:dd:ee:ff; anything else → undefined. */
function normalizeMac(s: string | undefined): string | undefined {
  const t = s?.trim();
  if (t === undefined || !/^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$/.test(t)) return undefined;
  return t.toLowerCase().replaceAll('-', ':');
}

/** A prefix length ("24", as PREFIX= and ifupdown's netmask allow) or a contiguous IPv4 netmask → prefix length. */
function prefixOf(mask: string | undefined): number | undefined {
  const t = mask?.trim();
  if (t === undefined) return undefined;
  if (/^\d{1,3}$/.test(t)) return Number(t) <= 128 ? Number(t) : undefined;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  const octets = m?.slice(1).map(Number);
  if (!octets || octets.some((o) => o > 255)) return undefined;
  const inverted = ~octets.reduce((acc, o) => (acc << 8) | o, 0) >>> 0;
  return (inverted & (inverted + 1)) === 0 ? Math.clz32(inverted) : undefined;
}

/** An address with its prefix, when it has none written and one is known. */
function withPrefix(address: string, ...masks: (string | undefined)[]): string {
  const a = address.trim();
  if (a.includes('/')) return a;
  const prefix = masks.map(prefixOf).find((p) => p !== undefined);
  return prefix === undefined ? a : `${a}/${prefix}`;
}

/** Whether addresses come from DHCP: true if any address family says so, false if some say not, undefined if none say. */
function anyDhcp(flags: (boolean | undefined)[]): boolean | undefined {
  if (flags.includes(true)) return true;
  return flags.includes(false) ? false : undefined;
}

// --- RHEL network-scripts

function ifcfgName(source: string): string | undefined {
  const base = source.slice(source.lastIndexOf('/') + 1);
  return base.startsWith('ifcfg-') && base.length > 6 ? base.slice(6) : undefined;
}

function ifcfgAddresses(v: Map<string, string>): string[] {
  const out: string[] = [];
  const add = (suffix: string) => {
    const a = v.get(`IPADDR${suffix}`);
    if (a) out.push(withPrefix(a, v.get(`PREFIX${suffix}`), v.get(`NETMASK${suffix}`)));
  };
  add('');
  for (let n = 0; n < MAX_ENTRIES; n++) add(String(n));
  const v6 = [v.get('IPV6ADDR'), ...(v.get('IPV6ADDR_SECONDARIES') ?? '').split(/\s+/)];
  out.push(...v6.filter((a): a is string => a !== undefined && a !== ''));
  return [...new Set(out)];
}

function bootprotoDhcp(proto: string | undefined): boolean | undefined {
  const p = proto?.trim().toLowerCase();
  if (p === 'dhcp' || p === 'bootp') return true;
  return p === 'static' || p === 'none' ? false : undefined;
}

/** RHEL/CentOS network-scripts ifcfg-NAME, a shell-style file; name falls back to the file name after "ifcfg-". */
export function parseIfcfg(text: string, source: string): NetInterface[] {
  const v = shellVars(text);
  if (v.size === 0) return [];
  return [finish({
    name: v.get('DEVICE') || ifcfgName(source),
    mac: normalizeMac(v.get('HWADDR')) ?? normalizeMac(v.get('MACADDR')),
    addresses: ifcfgAddresses(v),
    dhcp: bootprotoDhcp(v.get('BOOTPROTO')),
    gateway: v.get('GATEWAY')?.trim(),
  }, source)];
}

// --- INI-style files (NetworkManager keyfiles, systemd-networkd)

interface Section {
  readonly name: string;
  readonly entries: [string, string][];
}

/** [Section] headers and key=value lines; '#' and ';' start comments. Keys outside a section are ignored. */
function iniSections(rows: string[]): Section[] {
  const out: Section[] = [];
  let current: Section | undefined;
  for (const row of rows) {
    const s = row.trim();
    if (s === '' || s.startsWith('#') || s.startsWith(';')) continue;
    const header = /^\[([^\]]*)\]$/.exec(s);
    if (header) {
      current = { name: header[1]!.trim(), entries: [] };
      out.push(current);
      continue;
    }
    const eq = s.indexOf('=');
    if (eq > 0 && current) current.entries.push([s.slice(0, eq).trim(), s.slice(eq + 1).trim()]);
  }
  return out;
}

/** Every value of a key in the named sections, in file order. */
function iniValues(sections: Section[], names: readonly string[], key: string): string[] {
  return sections.filter((s) => names.includes(s.name)).flatMap((s) => s.entries.filter(([k]) => k === key).map(([, v]) => v));
}

const iniLast = (sections: Section[], names: readonly string[], key: string): string | undefined => iniValues(sections, names, key).at(-1) || undefined;

// --- NetworkManager keyfiles

/** NetworkManager before 1.0 wrote a MAC as its decimal bytes: "82;84;0;18;52;86;". */
function keyfileMac(value: string | undefined): string | undefined {
  if (value === undefined || !/^(?:\d{1,3};){5}\d{1,3};?$/.test(value)) return normalizeMac(value);
  const bytes = value.split(';').filter((b) => b !== '').map(Number);
  return bytes.every((b) => b <= 255) ? bytes.map((b) => b.toString(16).padStart(2, '0')).join(':') : undefined;
}

/** address1=192.168.1.10/24,192.168.1.1 (gateway after the comma); lists split on ';'; NM 0.9 wrote "address;prefix;gateway;". */
function nmAddress(value: string): { addresses: string[]; gateway?: string | undefined } {
  const items = value.split(';').map((i) => i.trim()).filter((i) => i !== '');
  if (items.length >= 2 && /^\d{1,3}$/.test(items[1]!)) return { addresses: [withPrefix(items[0]!, items[1])], gateway: items[2] };
  const pairs = items.slice(0, MAX_ENTRIES).map((i) => i.split(','));
  return { addresses: pairs.map((p) => p[0]!.trim()), gateway: pairs.map((p) => p[1]?.trim()).find((g) => g) };
}

/** IPv6 "auto" is router advertisements (SLAAC, DHCPv6 only if routers ask for it), so it says nothing about DHCP. */
function nmMethodDhcp(family: 'ipv4' | 'ipv6', method: string | undefined): boolean | undefined {
  if (method === undefined || (family === 'ipv6' && method === 'auto')) return undefined;
  return method === 'auto' || method === 'dhcp';
}

function nmFamily(sections: Section[], family: 'ipv4' | 'ipv6'): Draft {
  const addressed = sections.filter((s) => s.name === family).flatMap((s) => s.entries)
    .filter(([k]) => /^address(?:es)?\d*$/.test(k)).slice(0, MAX_ENTRIES).map(([, v]) => nmAddress(v));
  return {
    addresses: addressed.flatMap((a) => a.addresses),
    gateway: iniLast(sections, [family], 'gateway') ?? addressed.map((a) => a.gateway).find((g) => g),
    dhcp: nmMethodDhcp(family, iniLast(sections, [family], 'method')),
  };
}

const NM_SECTIONS = ['connection', 'ethernet', '802-3-ethernet', 'wifi', '802-11-wireless', 'ipv4', 'ipv6'];

/** NetworkManager keyfile (*.nmconnection): one connection, so at most one interface. */
export function parseNmKeyfile(text: string, source: string): NetInterface[] {
  const sections = iniSections(lines(text));
  if (!sections.some((s) => NM_SECTIONS.includes(s.name))) return [];
  const v4 = nmFamily(sections, 'ipv4');
  const v6 = nmFamily(sections, 'ipv6');
  return [finish({
    name: iniLast(sections, ['connection'], 'interface-name'),
    mac: keyfileMac(iniLast(sections, NM_SECTIONS.slice(1, 5), 'mac-address')),
    addresses: [...v4.addresses, ...v6.addresses],
    dhcp: anyDhcp([v4.dhcp, v6.dhcp]),
    gateway: v4.gateway ?? v6.gateway,
  }, source)];
}

// --- netplan

type YamlMap = Record<string, unknown>;

function yamlMap(v: unknown): YamlMap | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as YamlMap) : undefined;
}

const field = (m: YamlMap | undefined, key: string): unknown => (m && Object.hasOwn(m, key) ? m[key] : undefined);

function yamlString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

/** netplan reads YAML 1.1, where yes/no/on/off are booleans; the 1.2 core schema leaves them strings. */
function yamlBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = typeof v === 'string' ? v.toLowerCase() : undefined;
  if (s === 'true' || s === 'yes' || s === 'on' || s === 'y') return true;
  return s === 'false' || s === 'no' || s === 'off' || s === 'n' ? false : undefined;
}

/**
 * The YAML 1.2 core schema without custom or YAML 1.1 tags, and few aliases (no alias bombs);
 * it keeps MAC addresses strings (YAML 1.1 would read 52:54:00 as a base-60 number).
 */
function yamlRoot(text: string): YamlMap | undefined {
  try {
    const doc = parseDocument(text, { schema: 'core', customTags: [], resolveKnownTags: false, merge: false, logLevel: 'error', prettyErrors: false });
    return doc.errors.length > 0 ? undefined : yamlMap(doc.toJS({ maxAliasCount: 16 }));
  } catch {
    return undefined;
  }
}

/** addresses: [10.0.0.1/24] or, with options, [{10.0.0.1/24: {label: …}}]. */
function netplanAddresses(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.slice(0, MAX_ENTRIES).flatMap((a) => {
    const s = yamlString(a);
    return s !== undefined ? [s] : Object.keys(yamlMap(a) ?? {}).slice(0, 1);
  });
}

function defaultVia(routes: unknown): string | undefined {
  if (!Array.isArray(routes)) return undefined;
  const isDefault = (to: string | undefined) => to === 'default' || to === '0.0.0.0/0' || to === '::/0';
  const route = routes.slice(0, MAX_ENTRIES).map(yamlMap).find((r) => isDefault(yamlString(field(r, 'to'))));
  return yamlString(field(route, 'via'));
}

/** A match name with a glob ("en*") does not name one interface. */
const literalName = (s: string | undefined): string | undefined => (s !== undefined && !/[*?[!]/.test(s) ? s : undefined);

function netplanInterface(id: string, def: YamlMap | undefined, source: string): NetInterface {
  const match = yamlMap(field(def, 'match'));
  return finish({
    name: yamlString(field(def, 'set-name')) ?? (match ? literalName(yamlString(field(match, 'name'))) : id),
    mac: normalizeMac(yamlString(field(match, 'macaddress'))) ?? normalizeMac(yamlString(field(def, 'macaddress'))),
    addresses: netplanAddresses(field(def, 'addresses')),
    dhcp: anyDhcp([yamlBool(field(def, 'dhcp4')), yamlBool(field(def, 'dhcp6'))]),
    gateway: yamlString(field(def, 'gateway4')) ?? defaultVia(field(def, 'routes')) ?? yamlString(field(def, 'gateway6')),
  }, source);
}

const NETPLAN_KINDS = ['ethernets', 'bonds', 'bridges', 'vlans', 'wifis'];

/** netplan YAML (/etc/netplan/*.yaml); a file that is not valid YAML yields no interfaces. */
export function parseNetplan(text: string, source: string): NetInterface[] {
  const network = yamlMap(field(yamlRoot(text), 'network'));
  const out: NetInterface[] = [];
  for (const kind of NETPLAN_KINDS) {
    for (const [id, def] of Object.entries(yamlMap(field(network, kind)) ?? {})) {
      if (out.length >= MAX_ENTRIES) return out;
      out.push(netplanInterface(id, yamlMap(def), source));
    }
  }
  return out;
}

// --- Debian ifupdown

/** One "iface" stanza: its netmask applies to its addresses written without a prefix. */
interface Stanza {
  readonly iface: Draft;
  readonly addresses: string[];
  netmask?: string;
}

/** Keywords that start a stanza other than "iface" (and so end the one before). */
const IFUPDOWN_STANZAS = new Set(['auto', 'mapping', 'source', 'source-directory', 'rename', 'no-auto-down', 'no-scripts']);

function ifupdownMethod(method: string | undefined): boolean | undefined {
  if (method === 'dhcp') return true;
  return method === 'static' ? false : undefined;
}

function flush(stanza: Stanza | undefined): void {
  if (!stanza) return;
  const room = MAX_ENTRIES - stanza.iface.addresses.length;
  stanza.iface.addresses.push(...stanza.addresses.slice(0, Math.max(0, room)).map((a) => withPrefix(a, stanza.netmask)));
}

function stanzaOption(stanza: Stanza, key: string, args: string[]): void {
  if (key === 'address') stanza.addresses.push(...args.slice(0, MAX_ENTRIES));
  else if (key === 'netmask') stanza.netmask = args[0];
  else if (key === 'gateway') stanza.iface.gateway ??= args[0];
  else if (key === 'hwaddress') stanza.iface.mac ??= args.map(normalizeMac).find((m) => m);
}

/** Debian ifupdown /etc/network/interfaces: stanzas of one interface (inet and inet6) are merged into one. */
export function parseInterfaces(text: string, source: string): NetInterface[] {
  const byName = new Map<string, Draft>();
  let stanza: Stanza | undefined;
  for (const row of joinedLines(text)) {
    const [key = '', ...args] = row.trim().split(/[ \t]+/);
    if (key === '' || key.startsWith('#')) continue;
    if (key === 'iface' || IFUPDOWN_STANZAS.has(key) || key.startsWith('allow-')) {
      flush(stanza);
      stanza = key === 'iface' ? ifaceStanza(byName, args) : undefined;
    } else if (stanza) stanzaOption(stanza, key, args);
  }
  flush(stanza);
  return [...byName.values()].map((d) => finish(d, source));
}

function ifaceStanza(byName: Map<string, Draft>, args: string[]): Stanza | undefined {
  const [name, , method] = args;
  if (name === undefined) return undefined;
  let iface = byName.get(name);
  if (!iface) {
    if (byName.size >= MAX_ENTRIES) return undefined;
    iface = { name, addresses: [] };
    byName.set(name, iface);
  }
  iface.dhcp = anyDhcp([iface.dhcp, ifupdownMethod(method)]);
  return { iface, addresses: [] };
}

// --- systemd-networkd

/** systemd's boolean words, and DHCP='s address families. */
function networkdDhcp(value: string | undefined): boolean | undefined {
  const v = value?.toLowerCase();
  if (v === undefined) return undefined;
  if (['yes', 'true', 'on', '1', 'ipv4', 'ipv6', 'both'].includes(v)) return true;
  return ['no', 'false', 'off', '0'].includes(v) ? false : undefined;
}

/** A list setting: words split on spaces; an empty assignment resets the list, as systemd does. */
function networkdList(values: string[]): string[] {
  let out: string[] = [];
  for (const v of values) out = v === '' ? [] : [...out, ...v.split(/\s+/)].slice(0, MAX_ENTRIES);
  return out;
}

/** The gateway of the default route: [Network] Gateway=, else a [Route] Gateway= without a Destination (or a default one). */
function networkdGateway(sections: Section[]): string | undefined {
  const direct = iniValues(sections, ['Network'], 'Gateway').find((g) => g);
  if (direct) return direct;
  const isDefault = (d: string | undefined) => d === undefined || d === '0.0.0.0/0' || d === '::/0';
  const route = sections.find((s) => s.name === 'Route' && isDefault(iniLast([s], ['Route'], 'Destination')) && iniLast([s], ['Route'], 'Gateway'));
  return route ? iniLast([route], ['Route'], 'Gateway') : undefined;
}

const NETWORKD_SECTIONS = ['Match', 'Link', 'Network', 'Address', 'Route'];

/** systemd-networkd .network and .link files. */
export function parseNetworkd(text: string, source: string): NetInterface[] {
  const sections = iniSections(joinedLines(text));
  if (!sections.some((s) => NETWORKD_SECTIONS.includes(s.name))) return [];
  const names = networkdList(iniValues(sections, ['Match'], 'Name'));
  const macs = networkdList([...iniValues(sections, ['Match'], 'MACAddress'), ...iniValues(sections, ['Match'], 'PermanentMACAddress')]);
  return [finish({
    name: iniLast(sections, ['Link'], 'Name') ?? (names.length === 1 ? literalName(names[0]) : undefined),
    mac: macs.map(normalizeMac).find((m) => m),
    addresses: iniValues(sections, ['Network', 'Address'], 'Address'),
    dhcp: networkdDhcp(iniLast(sections, ['Network'], 'DHCP')),
    gateway: networkdGateway(sections),
  }, source)];
}

// --- udev persistent net rules

interface UdevPair {
  readonly key: string;
  readonly op: string;
  readonly value: string;
}

/** The KEY{attr}=="value" pairs of a rule, separated by commas; parsing stops at the first that does not parse. */
function udevPairs(rule: string): UdevPair[] {
  const re = /\s*(?:,\s*)?([A-Za-z_]+(?:\{[^}"]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"/y;
  const out: UdevPair[] = [];
  for (let m = re.exec(rule); m; m = re.exec(rule)) out.push({ key: m[1]!, op: m[2]!, value: m[3]! });
  return out;
}

function udevRule(pairs: UdevPair[]): Draft | undefined {
  const subsystem = pairs.find((p) => p.key === 'SUBSYSTEM' && p.op === '==');
  if (subsystem && subsystem.value !== 'net') return undefined;
  const name = pairs.find((p) => p.key === 'NAME' && (p.op === '=' || p.op === ':='))?.value;
  const address = pairs.find((p) => /^(?:ATTRS?|SYSFS)\{address\}$/.test(p.key) && p.op === '==')?.value;
  const mac = normalizeMac(address);
  return name || mac ? { name: name || undefined, mac, addresses: [] } : undefined;
}

/** udev /etc/udev/rules.d/70-persistent-net.rules: one rule a line naming the interface with a MAC. */
export function parsePersistentNetRules(text: string, source: string): NetInterface[] {
  const out: NetInterface[] = [];
  for (const row of joinedLines(text)) {
    const s = row.trim();
    if (s === '' || s.startsWith('#')) continue;
    const rule = udevRule(udevPairs(s));
    if (!rule) continue;
    if (out.length >= MAX_ENTRIES) break;
    out.push(finish(rule, source));
  }
  return out;
}
