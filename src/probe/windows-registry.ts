import type { NetInterface } from './guest-network.js';

/**
 * What hivex's `hivexget HIVE KEY` prints (all values of one key, in regedit's style), parsed,
 * and a Windows guest's identity from those values. Everything here comes from a guest's registry
 * hive: attacker-controlled, so parsed strictly, bounded, and never interpreted.
 *
 * hivexget prints one value per entry: `"NAME"=` then `"TEXT"` (REG_SZ), `str(N):"TEXT"` (another
 * string type, e.g. 2, REG_EXPAND_SZ), `dword:XXXXXXXX`, or `hex(N):xx,xx,…` (any other type). In
 * NAME and TEXT a `"` or `\` is escaped with a backslash and nothing else is: a newline or a control
 * character in a value is printed as it is, so an entry ends at its closing quote, not at a newline.
 */

/** hivex's own limit of values in one key. */
export const MAX_REG_VALUES = 1000;
/** The most characters kept of one string value (the rest is cut, and said so). */
export const MAX_REG_STRING = 4096;
/** The most characters kept of an identity string (product name, computer name…). */
export const MAX_IDENTITY_CHARS = 256;

export type RegValue =
  /** REG_SZ (1), REG_EXPAND_SZ (2), as hivex decoded them from UTF-16 */
  | { readonly kind: 'string'; readonly type: number; readonly value: string; readonly truncated?: true }
  | { readonly kind: 'dword'; readonly value: number }
  /** REG_MULTI_SZ (7): its strings, decoded from UTF-16LE (hivexget prints it as hex bytes) */
  | { readonly kind: 'multi'; readonly values: readonly string[] }
  /** any other type: only its size is kept */
  | { readonly kind: 'binary'; readonly type: number; readonly bytes: number };

export interface RegValues {
  /** by name, lowercased (Windows' value names are case-insensitive); the first of a repeated name wins */
  readonly values: ReadonlyMap<string, { readonly name: string; readonly value: RegValue }>;
  /** what could not be parsed: the values before it are kept */
  readonly problems: readonly string[];
}

/** A quoted text from `at` (just after its opening quote): its value and where it ends (after the closing quote). */
function quoted(s: string, at: number): { text: string; end: number; truncated: boolean } | undefined {
  const parts: string[] = [];
  let kept = 0;
  let i = at;
  let from = at;
  const keep = (to: number) => {
    if (kept < MAX_REG_STRING) parts.push(s.slice(from, Math.min(to, from + MAX_REG_STRING - kept)));
    kept += to - from;
  };
  // each found once: a text of many escapes before its closing quote is still read in one pass
  let q = -2;
  let b = -2;
  for (;;) {
    if (q !== -1 && q < i) q = s.indexOf('"', i);
    if (b !== -1 && b < i) b = s.indexOf('\\', i);
    if (q < 0) return undefined;
    if (b >= 0 && b < q) {
      // an escape: the next character as it is
      if (b + 1 >= s.length) return undefined;
      keep(b);
      from = b + 1;
      i = b + 2;
      continue;
    }
    keep(q);
    return { text: parts.join(''), end: q + 1, truncated: kept > MAX_REG_STRING };
  }
}

const DWORD = /^dword:([0-9a-fA-F]{8})(?=\n|$)/;
const STR_TYPE = /^str\((\d{1,10})\):"/;
const HEX = /^hex\((\d{1,10})\):((?:[0-9a-fA-F]{2}(?:,[0-9a-fA-F]{2})*)?)(?=\n|$)/;

/** The most strings kept of one REG_MULTI_SZ. */
const MAX_MULTI = 64;

/** A REG_MULTI_SZ's strings from hivexget's "xx,xx,…": UTF-16LE, each ended by a NUL, the list by an empty one; bounded. */
function multiString(hex: string): string[] {
  const bytes = Buffer.from(hex.slice(0, MAX_REG_STRING * 6).replaceAll(',', ''), 'hex');
  const text = new TextDecoder('utf-16le').decode(bytes.subarray(0, bytes.length & ~1));
  const out: string[] = [];
  for (const s of text.split('\0')) {
    if (s === '' || out.length >= MAX_MULTI) break;
    out.push(s);
  }
  return out;
}

/** Parses hivexget's listing of one key's values. */
export function parseHivexValues(output: string): RegValues {
  const values = new Map<string, { name: string; value: RegValue }>();
  const problems: string[] = [];
  let i = 0;
  let n = 0;
  const fail = (what: string) => problems.push(`value ${n + 1} of hivexget's listing: ${what}; the rest was not read`);
  while (i < output.length) {
    if (n >= MAX_REG_VALUES) {
      fail(`more than ${MAX_REG_VALUES} values`);
      break;
    }
    if (output[i] !== '"') {
      fail('not a quoted value name');
      break;
    }
    const name = quoted(output, i + 1);
    if (!name || output[name.end] !== '=') {
      fail('a value name without its "="');
      break;
    }
    i = name.end + 1;
    const rest = output.slice(i, i + 64);
    let value: RegValue | undefined;
    let end: number | undefined;
    const strType = STR_TYPE.exec(rest);
    let m: RegExpExecArray | null;
    if (output[i] === '"' || strType) {
      const type = strType ? Number(strType[1]) : 1;
      const t = quoted(output, strType ? i + strType[0].length : i + 1);
      if (t) {
        value = { kind: 'string', type, value: t.text, ...(t.truncated ? { truncated: true as const } : {}) };
        end = t.end;
      }
    } else if ((m = DWORD.exec(rest))) {
      value = { kind: 'dword', value: parseInt(m[1]!, 16) };
      end = i + m[0].length;
    } else if (/^hex\(\d{1,10}\):/.test(rest)) {
      const nl = output.indexOf('\n', i);
      const line = output.slice(i, nl < 0 ? output.length : nl);
      const h = HEX.exec(line);
      if (h) {
        const bytes = h[2] ? (h[2].length + 1) / 3 : 0;
        value = Number(h[1]) === 7 ? { kind: 'multi', values: multiString(h[2] ?? '') } : { kind: 'binary', type: Number(h[1]), bytes };
        end = i + line.length;
      }
    }
    if (!value || end === undefined || (end < output.length && output[end] !== '\n')) {
      fail(`the value of "${name.text.slice(0, 64)}" is not one hivexget prints`);
      break;
    }
    const key = name.text.toLowerCase();
    if (!values.has(key)) values.set(key, { name: name.text, value });
    n++;
    i = end + 1;
  }
  return { values, problems };
}

/** A string value by (case-insensitive) name, cut to MAX_IDENTITY_CHARS; what was cut is said in `problems`. */
function str(v: RegValues, name: string, where: string, problems: string[]): string | undefined {
  const e = v.values.get(name.toLowerCase());
  if (e?.value.kind !== 'string') return undefined;
  if (e.value.value.length > MAX_IDENTITY_CHARS || e.value.truncated) {
    problems.push(`${where} ${name}: only its first ${MAX_IDENTITY_CHARS} characters are kept`);
    return e.value.value.slice(0, MAX_IDENTITY_CHARS);
  }
  return e.value.value;
}

function dword(v: RegValues, name: string): number | undefined {
  const e = v.values.get(name.toLowerCase());
  return e?.value.kind === 'dword' ? e.value.value : undefined;
}

/** The key of SOFTWARE that holds the version of Windows. */
export const CURRENT_VERSION_KEY = '\\Microsoft\\Windows NT\\CurrentVersion';

export interface WindowsVersion {
  /** ProductName, as the registry says it ("Windows 10 Pro" on Windows 11 too) */
  readonly product_name?: string;
  readonly edition_id?: string;
  /** Client, Server, Server Core, Embedded… */
  readonly installation_type?: string;
  /** CurrentMajorVersionNumber.CurrentMinorVersionNumber (Windows 10+), else CurrentVersion ("6.1") */
  readonly version?: string;
  /** DisplayVersion ("22H2"), else ReleaseId ("1909") */
  readonly display_version?: string;
  /** CurrentBuildNumber, else CurrentBuild */
  readonly build?: string;
  /** the update build revision (UBR): build 19045.3803 */
  readonly ubr?: number;
  /** build 22000 or later while ProductName says Windows 10: it is Windows 11, whose registry keeps the old name */
  readonly windows_11?: true;
}

/** Windows' version from SOFTWARE's CurrentVersion key. */
export function windowsVersion(v: RegValues, problems: string[]): WindowsVersion {
  const where = 'SOFTWARE CurrentVersion';
  const product = str(v, 'ProductName', where, problems);
  const major = dword(v, 'CurrentMajorVersionNumber');
  const minor = dword(v, 'CurrentMinorVersionNumber');
  const version = major !== undefined ? `${major}.${minor ?? 0}` : str(v, 'CurrentVersion', where, problems);
  const display = str(v, 'DisplayVersion', where, problems) ?? str(v, 'ReleaseId', where, problems);
  const build = str(v, 'CurrentBuildNumber', where, problems) ?? str(v, 'CurrentBuild', where, problems);
  const edition = str(v, 'EditionID', where, problems);
  const installation = str(v, 'InstallationType', where, problems);
  const ubr = dword(v, 'UBR');
  const win11 = product !== undefined && /^Windows 10\b/.test(product) && build !== undefined && /^\d{1,9}$/.test(build) && Number(build) >= 22000;
  return {
    ...(product !== undefined ? { product_name: product } : {}),
    ...(edition !== undefined ? { edition_id: edition } : {}),
    ...(installation !== undefined ? { installation_type: installation } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(display !== undefined ? { display_version: display } : {}),
    ...(build !== undefined ? { build } : {}),
    ...(ubr !== undefined ? { ubr } : {}),
    ...(win11 ? { windows_11: true as const } : {}),
  };
}

/** SYSTEM's `\Select`: the control set Windows boots with (Current, else Default), as its key name; undefined when none is valid. */
export function currentControlSet(v: RegValues): string | undefined {
  const n = dword(v, 'Current') ?? dword(v, 'Default');
  return n !== undefined && n >= 1 && n <= 999 ? `ControlSet${String(n).padStart(3, '0')}` : undefined;
}

export const computerNameKey = (controlSet: string) => `\\${controlSet}\\Control\\ComputerName\\ComputerName`;
export const tcpipKey = (controlSet: string) => `\\${controlSet}\\Services\\Tcpip\\Parameters`;

export interface WindowsNames {
  readonly computer_name?: string;
  /** Tcpip\Parameters Hostname: the DNS host name */
  readonly hostname?: string;
  /** Tcpip\Parameters Domain: the primary DNS suffix */
  readonly domain?: string;
}

/** The computer's names from SYSTEM's ComputerName and Tcpip\Parameters keys (either may be missing). */
export function windowsNames(computerName: RegValues | undefined, tcpip: RegValues | undefined, problems: string[]): WindowsNames {
  const name = computerName ? str(computerName, 'ComputerName', 'SYSTEM ComputerName', problems) : undefined;
  const host = tcpip ? str(tcpip, 'Hostname', 'SYSTEM Tcpip\\Parameters', problems) : undefined;
  const domain = tcpip ? str(tcpip, 'Domain', 'SYSTEM Tcpip\\Parameters', problems) : undefined;
  return {
    ...(name ? { computer_name: name } : {}),
    ...(host ? { hostname: host } : {}),
    ...(domain ? { domain } : {}),
  };
}

/** The most network interfaces read of one guest. */
export const MAX_WINDOWS_INTERFACES = 32;
const GUID = /^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$/;

export const interfacesKey = (controlSet: string) => `${tcpipKey(controlSet)}\\Interfaces`;

/**
 * The interface keys in hivexsh's `ls` of Tcpip\Parameters\Interfaces (one subkey name a line):
 * only names shaped like the adapter GUIDs Windows gives them, at most MAX_WINDOWS_INTERFACES.
 */
export function interfaceKeys(lsOutput: string): string[] {
  return lsOutput.split('\n').filter((l) => GUID.test(l)).slice(0, MAX_WINDOWS_INTERFACES);
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** A contiguous IPv4 netmask as a prefix length. */
function prefixOf(mask: string | undefined): number | undefined {
  if (mask === undefined || !IPV4.test(mask)) return undefined;
  const inverted = ~mask.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  return (inverted & (inverted + 1)) === 0 ? Math.clz32(inverted) : undefined;
}

function strings(v: RegValues, name: string): string[] {
  const e = v.values.get(name.toLowerCase())?.value;
  return e?.kind === 'multi' ? [...e.values] : e?.kind === 'string' ? [e.value] : [];
}

/** One adapter's TCP/IP configuration: static IPAddress/SubnetMask and DefaultGateway, or DHCP's lease; undefined when it has neither. */
export function windowsInterface(guid: string, v: RegValues, source: string): NetInterface | undefined {
  const real = (a: string) => IPV4.test(a) && a !== '0.0.0.0';
  const dhcp = dword(v, 'EnableDHCP') === 1;
  const masks = strings(v, dhcp ? 'DhcpSubnetMask' : 'SubnetMask');
  const addresses = (dhcp ? strings(v, 'DhcpIPAddress') : strings(v, 'IPAddress')).slice(0, MAX_MULTI)
    .map((a, i) => ({ a, p: prefixOf(masks[i]) })).filter((x) => real(x.a)).map((x) => (x.p === undefined ? x.a : `${x.a}/${x.p}`));
  const gateway = [...strings(v, dhcp ? 'DhcpDefaultGateway' : 'DefaultGateway')].find(real);
  if (!addresses.length && !gateway) return undefined;
  return { name: guid, addresses, dhcp, ...(gateway ? { gateway } : {}), source };
}
