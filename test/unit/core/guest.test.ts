import { describe, expect, it } from 'vitest';
import { guestReports, windowsUnread, type VolumeRead } from '../../../src/core/guest.js';
import type { ImageReport } from '../../../src/core/inspect.js';
import type { ImageSpec } from '../../../src/manifest/types.js';

const img = { name: 'image1', file: '/srv/web01.img', format: 'raw' } as ImageSpec;
const report: ImageReport = {
  file: img.file, format: 'raw', size_bytes: 96 << 20, vgs: [], problems: [],
  partition_table: {
    label: 'dos', sector_size: 512, partitions: [
      { number: 1, start_bytes: 1 << 20, size_bytes: 16 << 20, type: '83', whole: true, filesystem: { type: 'ext4', label: 'boot', uuid: 'AAAA-1' } },
      { number: 2, start_bytes: 17 << 20, size_bytes: 40 << 20, type: '83', whole: true, filesystem: { type: 'ext4', uuid: 'bbbb-2' } },
      { number: 3, start_bytes: 57 << 20, size_bytes: 39 << 20, type: '83', whole: true, filesystem: { type: 'ext4', uuid: 'bbbb-2' } },
    ],
  },
};
const b64 = (s: string) => ({ data: Buffer.from(s).toString('base64'), size: s.length });

describe('guestReports', () => {
  it('resolves fstab to the image\'s volumes, lists kernels from the separate /boot, and names clones', () => {
    const reads: VolumeRead[] = [
      { key: 'image1:part1', files: {}, dirs: { '/': { entries: [{ name: 'vmlinuz-5.14.0-1.el9', kind: 'file' }, { name: 'grub2', kind: 'directory' }] } } },
      {
        key: 'image1:part2',
        files: {
          '/etc/os-release': b64('ID="rhel"\nNAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\n'),
          '/etc/fstab': b64('UUID=bbbb-2 / xfs defaults 0 0\nUUID=aaaa-1 /boot ext4 defaults 1 2\n/dev/sda9 /x ext4 defaults 0 0\n'),
          '/etc/hostname': b64('not a valid host name!\n'),
        },
        dirs: { '/boot': { entries: [] } },
      },
      { key: 'other:part1', files: { '/etc/fstab': b64('') }, dirs: {} },
    ];
    const [g, ...more] = guestReports(img, report, reads);
    expect(more).toEqual([]);
    expect(g).toMatchObject({ root: 'part2', os: { id: 'rhel', version_id: '9.4' }, boot: 'part1', kernels: ['5.14.0-1.el9'], network: [] });
    expect(g!.hostname).toBeUndefined();
    expect(g!.fstab!.map((e) => [e.file, e.volume, e.note])).toEqual([
      ['/', undefined, 'UUID bbbb-2 matches part2, part3 (cloned filesystems?)'],
      ['/boot', 'part1', undefined],
      ['/x', undefined, 'a device name: not resolved'],
    ]);
  });

  it('a volume without an OS release or fstab is no guest', () => {
    expect(guestReports(img, report, [{ key: 'image1:part1', files: {}, dirs: {} }])).toEqual([]);
  });

  const winRead = (windows: VolumeRead['windows']): VolumeRead => ({ key: 'image1:part2', files: {}, dirs: {}, ...(windows ? { windows } : {}) });
  const CV = '\\Microsoft\\Windows NT\\CurrentVersion';

  it('a Windows guest from its registry: version from SOFTWARE, names from the control set SYSTEM\'s Select named', () => {
    const [g, ...more] = guestReports(img, report, [winRead({
      config: '/Windows/System32/config',
      hives: [{ name: 'SOFTWARE', path: '/Windows/System32/config/SOFTWARE', size: 8192 }, { name: 'SYSTEM', path: '/Windows/System32/config/SYSTEM', size: 8192 }],
      queries: [
        { hive: 'SOFTWARE', key: CV, output: '"ProductName"="Windows 7 Professional"\n"CurrentVersion"="6.1"\n"CurrentBuildNumber"="7601"\n' },
        { hive: 'SYSTEM', key: '\\Select', output: '"Current"=dword:00000001\n' },
        { hive: 'SYSTEM', key: '\\ControlSet001\\Control\\ComputerName\\ComputerName', output: '"ComputerName"="WIN7-PC"\n' },
        { hive: 'SYSTEM', key: '\\ControlSet001\\Services\\Tcpip\\Parameters', error: 'hivexget failed: hivexsh: cd: subkey \'Tcpip\' not found' },
      ],
    })]);
    expect(more).toEqual([]);
    expect(g).toEqual({
      kind: 'windows', root: 'part2', network: [],
      windows: { product_name: 'Windows 7 Professional', version: '6.1', build: '7601', computer_name: 'WIN7-PC', config: '/Windows/System32/config', control_set: 'ControlSet001' },
      problems: ['SYSTEM \\ControlSet001\\Services\\Tcpip\\Parameters: hivexget failed: hivexsh: cd: subkey \'Tcpip\' not found'],
    });
  });

  it('a hive that is not read is a problem of the guest; no hivexget: the volume is not read, saying which package to install', () => {
    const [g] = guestReports(img, report, [winRead({
      config: '/Windows/System32/config',
      hives: [{ name: 'SOFTWARE', path: '/Windows/System32/config/SOFTWARE', error: 'not a regular file' }, { name: 'SYSTEM', error: 'no such file' }],
      queries: [],
    })]);
    expect(g).toMatchObject({ kind: 'windows', windows: { config: '/Windows/System32/config' } });
    expect(g!.problems).toEqual(['/Windows/System32/config/SOFTWARE: not a regular file', '/Windows/System32/config/SYSTEM: no such file']);
    const missing = winRead({ config: '/Windows/System32/config', hives: [], queries: [], error: 'hivexget is not installed (install it: apt-get install libhivex-bin …)' });
    expect(guestReports(img, report, [missing])).toEqual([]);
    expect(windowsUnread(img, [missing])).toEqual([{ volume: 'part2', why: expect.stringContaining('apt-get install libhivex-bin') }]);
    // an NTFS volume without Windows (System Reserved, a data disk) is no guest and not listed
    expect(guestReports(img, report, [winRead(undefined)])).toEqual([]);
    expect(windowsUnread(img, [winRead(undefined)])).toEqual([]);
  });
});
