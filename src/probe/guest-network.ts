/**
 * A guest's network identity (interface names, MACs, static addresses, gateways, DHCP) from
 * whichever configuration it uses: RHEL ifcfg-*, NetworkManager keyfiles, netplan, Debian
 * ifupdown, systemd-networkd and udev's persistent-net rules
 */
import { parseDocument } from 'yaml';
import { MAX_ENTRIES, cut, cutOpt, defined, joinedLines, lines, shellVars } from './guest-text.js';

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
