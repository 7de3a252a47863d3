/**
 * Who a guest says it is: its OS release (os-release, redhat-release, lsb-release, debian_version),
 * host name and machine id, parsed from the guest's own files (bounded: src/probe/guest-text.ts)
 */
import { cut, cutOpt, defined, firstLine, shellVars } from './guest-text.js';

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
