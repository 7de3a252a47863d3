import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../../src/probe/coerce.js';
import { parseFindmnt } from '../../../src/probe/findmnt.js';
import { WORK, old, recorded, shape } from './fixtures.js';

describe('parseFindmnt: a btrfs subvolume (recorded, util-linux 2.38.1)', () => {
  it('splits DEVICE[/folder] into the device and the folder of the filesystem mounted there', () => {
    expect(parseFindmnt(recorded('findmnt-btrfs-subvol.json'))).toEqual([{
      target: '/mnt/app01', source: '/dev/loop0', fsroot: '/@', majMin: '0:39', fstype: 'btrfs',
      options: ['ro', 'relatime', 'discard=async', 'space_cache=v2', 'subvolid=256', 'subvol=/@'],
    }]);
  });
});

describe('parseFindmnt on util-linux 2.38.1 (recorded)', () => {
  const mounts = parseFindmnt(recorded('findmnt.json'));

  it('reads every mount of the --list output', () => {
    expect(mounts).toHaveLength(21);
    expect(mounts[0]).toEqual({ target: '/proc', source: 'proc', majMin: '0:21', fstype: 'proc', options: ['rw', 'relatime'] });
  });

  it('reads the read-only mount of the offset loop', () => {
    expect(mounts.at(-1)).toEqual({
      target: `${WORK}/mnt/boot`,
      source: '/dev/loop0',
      majMin: '7:0',
      fstype: 'ext4',
      options: ['ro', 'nosuid', 'nodev', 'noexec', 'relatime'],
    });
  });

  it('reads the root filesystem, and keeps duplicate targets (one per mount)', () => {
    expect(mounts.find((m) => m.target === '/')).toMatchObject({ source: '/dev/vda', majMin: '254:0', fstype: 'ext4' });
    expect(mounts.filter((m) => m.target === '/dev/pts').map((m) => m.majMin)).toEqual(['0:24', '0:26']);
  });
});

describe('parseFindmnt on the old tree form (findmnt -J, 2.27.1)', () => {
  const mounts = parseFindmnt(old('findmnt-2.27.1-ubuntu1604-lando-cal-tech-notes.trailing-comma-removed.json'));

  it('flattens the tree depth-first', () => {
    expect(mounts).toHaveLength(30);
    expect(mounts.slice(0, 5).map((m) => m.target))
      .toEqual(['/', '/sys', '/sys/kernel/security', '/sys/fs/cgroup', '/sys/fs/cgroup/systemd']);
    expect(mounts.at(-1)?.target).toBe('/vagrant');
  });

  it('reads entries without maj:min, with commas in targets and options intact', () => {
    expect(mounts[0]).toEqual({ target: '/', source: '/dev/sda1', fstype: 'ext4', options: ['rw', 'relatime', 'data=ordered'] });
    expect(mounts.find((m) => m.target === '/sys/fs/cgroup/net_cls,net_prio')?.options.slice(-2)).toEqual(['net_cls', 'net_prio']);
    expect(mounts.find((m) => m.target === '/vagrant')).toEqual({
      target: '/vagrant', source: 'vagrant', fstype: 'vboxsf', options: ['rw', 'nodev', 'relatime'],
    });
  });

  it('gives the same typed shape as 2.38.1 apart from the missing maj:min column', () => {
    const { majMin: _, ...typedNew } = shape(parseFindmnt(recorded('findmnt.json'))[0]!);
    for (const m of mounts) expect(shape(m)).toEqual(typedNew);
  });
});

describe('parseFindmnt on malformed input', () => {
  it('rejects non-JSON, including the trailing comma of the verbatim 2.27.1 capture', () => {
    const good = old('findmnt-2.27.1-ubuntu1604-lando-cal-tech-notes.trailing-comma-removed.json');
    const verbatim = good.replace('"options": "rw,nodev,relatime"}', '"options": "rw,nodev,relatime"},');
    expect(verbatim).not.toBe(good);
    expect(() => parseFindmnt(verbatim)).toThrow(ShapeError);
    expect(() => parseFindmnt('TARGET SOURCE FSTYPE OPTIONS\n/ /dev/vda ext4 rw\n')).toThrow(/findmnt: output is not JSON/);
  });

  it('rejects JSON of the wrong shape', () => {
    expect(() => parseFindmnt('null')).toThrow(/findmnt: expected a JSON object/);
    expect(() => parseFindmnt('{"filesystems": "/"}')).toThrow(/findmnt filesystems: expected an array/);
    expect(() => parseFindmnt('{"filesystems": [[]]}')).toThrow(/findmnt filesystem: expected an object/);
    expect(() => parseFindmnt('{"filesystems": [{"source": "/dev/vda"}]}')).toThrow(/findmnt target/);
  });
});
