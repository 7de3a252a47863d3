import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  currentControlSet, interfaceKeys, MAX_IDENTITY_CHARS, MAX_REG_STRING, MAX_REG_VALUES, MAX_WINDOWS_INTERFACES, parseHivexValues, windowsInterface,
  windowsNames, windowsVersion, type RegValues,
} from '../../../src/probe/windows-registry.js';

/** What real hivexget printed (test/fixtures/windows-registry/record.sh). */
const recorded = (name: string) => readFileSync(new URL(`../../fixtures/windows-registry/${name}.out`, import.meta.url), 'utf8');
const plain = (v: RegValues) => Object.fromEntries([...v.values.values()].map((e) => [e.name, e.value]));

describe('parseHivexValues (recorded hivexget output)', () => {
  it('win7: CurrentVersion, Select, ComputerName, Tcpip\\Parameters', () => {
    const cv = parseHivexValues(recorded('win7-current-version'));
    expect(cv.problems).toEqual([]);
    expect(plain(cv)).toEqual({
      ProductName: { kind: 'string', type: 1, value: 'Windows 7 Professional' },
      EditionID: { kind: 'string', type: 1, value: 'Professional' },
      InstallationType: { kind: 'string', type: 1, value: 'Client' },
      CurrentVersion: { kind: 'string', type: 1, value: '6.1' },
      CurrentBuild: { kind: 'string', type: 1, value: '7601' },
      CurrentBuildNumber: { kind: 'string', type: 1, value: '7601' },
    });
    const problems: string[] = [];
    expect(windowsVersion(cv, problems)).toEqual({
      product_name: 'Windows 7 Professional', edition_id: 'Professional', installation_type: 'Client', version: '6.1', build: '7601',
    });
    expect(currentControlSet(parseHivexValues(recorded('win7-select')))).toBe('ControlSet001');
    expect(windowsNames(parseHivexValues(recorded('win7-computer-name')), parseHivexValues(recorded('win7-tcpip')), problems))
      .toEqual({ computer_name: 'WIN7-PC', hostname: 'WIN7-PC' });
    expect(problems).toEqual([]);
  });

  it('win10: major.minor, DisplayVersion before ReleaseId, UBR; the control set Select names', () => {
    const problems: string[] = [];
    expect(windowsVersion(parseHivexValues(recorded('win10-current-version')), problems)).toEqual({
      product_name: 'Windows 10 Pro', edition_id: 'Professional', installation_type: 'Client', version: '10.0', display_version: '22H2',
      build: '19045', ubr: 3803,
    });
    expect(currentControlSet(parseHivexValues(recorded('win10-select')))).toBe('ControlSet002');
    expect(windowsNames(parseHivexValues(recorded('win10-computer-name')), parseHivexValues(recorded('win10-tcpip')), problems))
      .toEqual({ computer_name: 'DESKTOP-TEST', hostname: 'DESKTOP-TEST', domain: 'corp.example' });
    expect(problems).toEqual([]);
  });

  it('win11: its ProductName says Windows 10; build 22000 or later says Windows 11, the name is kept as it is', () => {
    const v = windowsVersion(parseHivexValues(recorded('win11-current-version')), []);
    expect(v).toMatchObject({ product_name: 'Windows 10 Pro', build: '22631', ubr: 2861, display_version: '23H2', windows_11: true });
    // Windows Server 2025 is build 26100 too, and says so
    const server = parseHivexValues('"ProductName"="Windows Server 2025 Standard"\n"CurrentBuildNumber"="26100"\n');
    expect(windowsVersion(server, []).windows_11).toBeUndefined();
  });

  it('evil: control characters, quotes and backslashes are kept raw; a long ProductName is cut and said so', () => {
    const cv = parseHivexValues(recorded('evil-current-version'));
    expect(cv.problems).toEqual([]);
    const problems: string[] = [];
    const v = windowsVersion(cv, problems);
    expect(v.product_name).toHaveLength(MAX_IDENTITY_CHARS);
    expect(v.product_name!.startsWith('Windows\x1b[2J\x1b]0;owned\x07 "q" \\ line\nTWO AAA')).toBe(true);
    expect(problems).toEqual([`SOFTWARE CurrentVersion ProductName: only its first ${MAX_IDENTITY_CHARS} characters are kept`]);
    expect(windowsNames(parseHivexValues(recorded('evil-computer-name')), undefined, []).computer_name).toBe('EVIL\x1b[31mPC');
  });

  it('other value types: only their kind and size; names with quotes; the first of a repeated name, case-insensitively', () => {
    const v = parseHivexValues(recorded('types'));
    expect(v.problems).toEqual([]);
    expect(plain(v)).toEqual({
      'Na"me\\x': { kind: 'string', type: 1, value: 'v' },
      Exp: { kind: 'string', type: 2, value: '%SystemRoot%\\x' },
      Bin: { kind: 'binary', type: 3, bytes: 3 },
      Nul: { kind: 'string', type: 1, value: 'A' },
      Short: { kind: 'dword', value: 0xffffffff },
      BE: { kind: 'dword', value: 7 },
      None: { kind: 'binary', type: 0, bytes: 0 },
      '@': { kind: 'string', type: 1, value: 'default' },
    });
    const twice = parseHivexValues('"ProductName"="first"\n"PRODUCTNAME"="second"\n');
    expect(twice.values.get('productname')?.value).toEqual({ kind: 'string', type: 1, value: 'first' });
  });
});

describe('parseHivexValues (hostile or broken output)', () => {
  it('stops at what it does not understand, keeping what came before', () => {
    expect(parseHivexValues('').values.size).toBe(0);
    const junk = parseHivexValues('"A"="1"\nhivexsh: lsval: Invalid or incomplete multibyte or wide character\n');
    expect(plain(junk)).toEqual({ A: { kind: 'string', type: 1, value: '1' } });
    expect(junk.problems).toEqual(['value 2 of hivexget\'s listing: not a quoted value name; the rest was not read']);
    // hivexget cut short by a bad value: the name printed, no value
    expect(parseHivexValues('"Na\\"me\\\\x"="v"\n"Lone"=').problems).toEqual([
      'value 2 of hivexget\'s listing: the value of "Lone" is not one hivexget prints; the rest was not read',
    ]);
    for (const bad of ['"A"', '"A"="unterminated', '"A"=dword:123\n', '"A"=hex(3):0,1\n', '"A"="x"junk\n', '"A"=str(2):x\n', '"\\']) {
      expect(parseHivexValues(bad).problems, bad).toHaveLength(1);
      expect(parseHivexValues(bad).values.size, bad).toBe(0);
    }
  });

  it('a newline or a fake entry inside a value is part of the value, not a new value', () => {
    const v = parseHivexValues('"ProductName"="Windows\n\\"ComputerName\\"=\\"HOST\\""\n');
    expect(v.problems).toEqual([]);
    expect(plain(v)).toEqual({ ProductName: { kind: 'string', type: 1, value: 'Windows\n"ComputerName"="HOST"' } });
  });

  it('bounds values, strings and time, whatever the output', () => {
    const many = Array.from({ length: MAX_REG_VALUES + 5 }, (_, i) => `"v${i}"=dword:00000001\n`).join('');
    const m = parseHivexValues(many);
    expect(m.values.size).toBe(MAX_REG_VALUES);
    expect(m.problems).toEqual([`value ${MAX_REG_VALUES + 1} of hivexget's listing: more than ${MAX_REG_VALUES} values; the rest was not read`]);
    const long = parseHivexValues(`"ProductName"="${'\\\\'.repeat(500_000)}"\n"Next"="n"\n`);
    const p = long.values.get('productname')!.value;
    expect(p).toEqual({ kind: 'string', type: 1, value: '\\'.repeat(MAX_REG_STRING), truncated: true });
    expect(long.values.get('next')?.value).toEqual({ kind: 'string', type: 1, value: 'n' });
  });

  it('never throws, and never keeps more than its bounds (any text)', () => {
    const entry = fc.oneof(
      fc.string({ maxLength: 40 }).map((s) => `"${s}"="${s}"\n`),
      fc.string({ maxLength: 40 }).map((s) => `"${s.replace(/["\\]/g, '\\$&')}"="${s.replace(/["\\]/g, '\\$&')}"\n`),
      fc.integer({ min: 0, max: 0xffffffff }).map((n) => `"D"=dword:${n.toString(16).padStart(8, '0')}\n`),
      fc.string({ unit: 'binary', maxLength: 60 }),
    );
    fc.assert(fc.property(fc.array(entry, { maxLength: 20 }), (parts) => {
      const v = parseHivexValues(parts.join(''));
      expect(v.values.size).toBeLessThanOrEqual(MAX_REG_VALUES);
      for (const e of v.values.values()) if (e.value.kind === 'string') expect(e.value.value.length).toBeLessThanOrEqual(MAX_REG_STRING);
      const problems: string[] = [];
      const w = windowsVersion(v, problems);
      for (const s of Object.values(w)) if (typeof s === 'string') expect(s.length).toBeLessThanOrEqual(MAX_IDENTITY_CHARS);
      expect(currentControlSet(v) ?? 'ControlSet001').toMatch(/^ControlSet\d{3}$/);
    }), { numRuns: 300 });
  });

  it('a control set number out of range names none', () => {
    expect(currentControlSet(parseHivexValues('"Current"=dword:00000000\n'))).toBeUndefined();
    expect(currentControlSet(parseHivexValues('"Current"=dword:ffffffff\n"Default"=dword:00000001\n'))).toBeUndefined();
    expect(currentControlSet(parseHivexValues('"Current"="1"\n"Default"=dword:00000003\n'))).toBe('ControlSet003');
  });
});

describe('network adapters (Tcpip\\Parameters\\Interfaces)', () => {
  it('static and DHCP adapters from recorded hivexget and hivexsh output; an unused adapter says nothing', () => {
    const keys = interfaceKeys(recorded('win10-interfaces'));
    expect(keys).toEqual(['{0C2B4A6D-8E1F-4B3A-A5C7-D9E1F3A5B7C9}', '{F1E2D3C4-B5A6-4978-8695-A4B3C2D1E0F9}']);
    const multi = parseHivexValues(recorded('win10-interface1'));
    expect(multi.values.get('ipaddress')?.value).toEqual({ kind: 'multi', values: ['192.168.50.10'] });
    expect(windowsInterface(keys[0]!, multi, 'SYSTEM x')).toEqual({
      name: keys[0], addresses: ['192.168.50.10/24'], dhcp: false, gateway: '192.168.50.1', source: 'SYSTEM x',
    });
    expect(windowsInterface(keys[1]!, parseHivexValues(recorded('win10-interface2')), 'SYSTEM y')).toBeUndefined();
    const [w7] = interfaceKeys(recorded('win7-interfaces'));
    expect(windowsInterface(w7!, parseHivexValues(recorded('win7-interface1')), 's')).toEqual({
      name: '{6A4C1D2E-3B5F-4A7C-9D8E-0F1A2B3C4D5E}', addresses: ['10.0.2.15/24'], dhcp: true, gateway: '10.0.2.2', source: 's',
    });
  });

  it('only GUID-shaped subkeys, at most the bound; addresses that are not IPv4 are left out', () => {
    const guid = (i: number) => `{${String(i).padStart(8, '0')}-0000-4000-8000-000000000000}`;
    const ls = ['evil\n{x}', ...Array.from({ length: 40 }, (_, i) => guid(i)), '{00000000-0000-4000-8000-000000000000}\u001b[2J'].join('\n');
    expect(interfaceKeys(ls)).toEqual(Array.from({ length: MAX_WINDOWS_INTERFACES }, (_, i) => guid(i)));
    const hex = (s: string) => [...Buffer.from(`${s}\0\0`, 'utf16le')].map((b) => b.toString(16).padStart(2, '0')).join(',');
    const v = parseHivexValues(`"EnableDHCP"=dword:00000000\n"IPAddress"=hex(7):${hex('10.0.0.1\u00000.0.0.0\u0000999.1.1.1\u0000\u001b[31m')}\n` +
      `"SubnetMask"=hex(7):${hex('255.0.255.0')}\n`);
    expect(windowsInterface(guid(1), v, 's')).toEqual({ name: guid(1), addresses: ['10.0.0.1'], dhcp: false, source: 's' });
  });
});
