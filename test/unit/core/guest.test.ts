import { describe, expect, it } from 'vitest';
import { guestReports, type VolumeRead } from '../../../src/core/guest.js';
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
});
