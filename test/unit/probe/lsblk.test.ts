import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../../src/probe/coerce.js';
import { parseLsblk, type BlockDevice } from '../../../src/probe/lsblk.js';
import { old, recorded, shape } from './fixtures.js';

const byName = (devs: readonly BlockDevice[], name: string): BlockDevice => {
  const d = devs.find((x) => x.name === name);
  if (!d) throw new Error(`no ${name} in ${devs.map((x) => x.name).join(',')}`);
  return d;
};

// The shape a typed (2.33+) lsblk parse has; old string-typed JSON must give the same.
const TYPED = { name: 'string', majMin: 'string', type: 'string', size: 'number', ro: 'boolean' };

describe('parseLsblk on util-linux 2.38.1 (recorded)', () => {
  const devs = parseLsblk(recorded('lsblk.json'));

  it('reads every device of the --list output, in order', () => {
    expect(devs.map((d) => d.name)).toEqual(['loop0', 'loop1', 'loop2', 'zram0', 'vda']);
  });

  it('reads the read-only offset loops with their sizelimit as size', () => {
    expect(byName(devs, 'loop0')).toEqual({ name: 'loop0', majMin: '7:0', type: 'loop', size: 16777216, ro: true });
    expect(byName(devs, 'loop1')).toEqual({ name: 'loop1', majMin: '7:1', type: 'loop', size: 232783872, ro: true });
    // attached with offset 0 sizelimit 0: the whole 32 MiB file
    expect(byName(devs, 'loop2')).toEqual({ name: 'loop2', majMin: '7:2', type: 'loop', size: 33554432, ro: true });
  });

  it('reads writable disks, a zero size, and leaves null pkname/fstype out (no udev)', () => {
    expect(byName(devs, 'vda')).toEqual({ name: 'vda', majMin: '254:0', type: 'disk', size: 274877906944, ro: false });
    expect(byName(devs, 'zram0')).toEqual({ name: 'zram0', majMin: '253:0', type: 'disk', size: 0, ro: false });
    for (const d of devs) {
      expect(d).not.toHaveProperty('pkname');
      expect(d).not.toHaveProperty('fstype');
    }
  });

  it('sees no kernel-made partitions (this kernel has no partition-table parsers)', () => {
    expect(devs.filter((d) => d.type === 'part')).toEqual([]);
  });
});

describe('parseLsblk on old string-typed JSON', () => {
  it('2.32 (ChromiumOS caroline): strings become numbers and booleans, "rm": null is tolerated', () => {
    const devs = parseLsblk(old('lsblk-2.32-chromiumos-tast-caroline.json'));
    expect(devs).toHaveLength(17);
    expect(byName(devs, 'loop1')).toEqual({ name: 'loop1', majMin: '7:1', type: 'loop', size: 420405248, ro: true });
    expect(byName(devs, 'mmcblk0')).toEqual({ name: 'mmcblk0', majMin: '179:0', type: 'disk', size: 31268536320, ro: false });
    expect(byName(devs, 'mmcblk0p12')).toEqual({
      name: 'mmcblk0p12', majMin: '179:12', type: 'part', pkname: 'mmcblk0', size: 33554432, ro: false,
    });
    expect(byName(devs, 'mmcblk0boot0').ro).toBe(true);
    for (const d of devs) expect(shape(d)).toMatchObject(TYPED);
  });

  it('2.32: the tree is flattened depth-first and children get the parent as pkname', () => {
    const devs = parseLsblk(old('lsblk-2.32-chromiumos-tast-caroline.json'));
    expect(devs.slice(0, 3).map((d) => d.name)).toEqual(['loop0', 'encstateful', 'loop1']);
    expect(byName(devs, 'encstateful')).toEqual({
      name: 'encstateful', majMin: '253:1', type: 'dm', pkname: 'loop0', size: 7876964352, ro: false,
    });
    expect(devs.filter((d) => d.pkname === 'mmcblk0').map((d) => d.name))
      .toEqual(['mmcblk0p1', 'mmcblk0p2', 'mmcblk0p3', 'mmcblk0p12']);
    expect(byName(devs, 'loop0')).not.toHaveProperty('pkname');
  });

  it('2.31 --output-all --paths --bytes (Ubuntu 18.04): /dev/ prefixes are stripped, "ro": "1" is true', () => {
    const devs = parseLsblk(old('lsblk-2.31-AngeloAvv-disks-pr11.json'));
    expect(devs).toEqual([{ name: 'sda', majMin: '8:0', type: 'disk', size: 407379968, ro: true }]);
  });

  it('2.27.1 -O without --bytes: human-readable sizes are rejected, not guessed', () => {
    expect(() => parseLsblk(old('lsblk-2.27.1-ubuntu1604-O-J-lando-cal-tech-notes.json')))
      .toThrow(/lsblk size: expected a number, got "10G"/);
  });

  it('2.27.1 -O with only the sizes put in bytes (as --bytes prints them): kname, pkname, fstype', () => {
    const text = old('lsblk-2.27.1-ubuntu1604-O-J-lando-cal-tech-notes.json')
      .replaceAll('"size": "10G"', '"size": "10737418240"')
      .replaceAll('"size": "10M"', '"size": "10485760"');
    const devs = parseLsblk(text);
    expect(devs).toEqual([
      { name: 'sda', majMin: '8:0', type: 'disk', size: 10737418240, ro: false },
      { name: 'sda1', majMin: '8:1', type: 'part', pkname: 'sda', size: 10737418240, ro: false, fstype: 'ext4' },
      { name: 'sdb', majMin: '8:16', type: 'disk', size: 10485760, ro: false, fstype: 'iso9660' },
    ]);
  });

  it('old and new parses have the same typed shape', () => {
    const typedNew = parseLsblk(recorded('lsblk.json')).map(shape);
    const typedOld = parseLsblk(old('lsblk-2.32-chromiumos-tast-caroline.json'))
      .filter((d) => d.pkname === undefined && d.fstype === undefined).map(shape);
    expect(new Set(typedOld.map((s) => JSON.stringify(s)))).toEqual(new Set(typedNew.map((s) => JSON.stringify(s))));
  });
});

describe('parseLsblk on malformed input', () => {
  it('treats empty output as no devices', () => {
    expect(parseLsblk('')).toEqual([]);
    expect(parseLsblk('\n')).toEqual([]);
  });

  it('rejects text that is not JSON, e.g. the human table', () => {
    expect(() => parseLsblk('NAME  MAJ:MIN RM  SIZE RO TYPE MOUNTPOINTS\nvda   254:0    0  256G  0 disk /\n'))
      .toThrow(ShapeError);
    expect(() => parseLsblk(recorded('lsblk.json').slice(0, 200))).toThrow(/lsblk: output is not JSON/);
  });

  it('rejects JSON of the wrong shape', () => {
    expect(() => parseLsblk('[]')).toThrow(/lsblk: expected a JSON object/);
    expect(() => parseLsblk('{"blockdevices": {"name": "loop0"}}')).toThrow(/lsblk blockdevices: expected an array/);
    expect(() => parseLsblk('{"blockdevices": ["loop0"]}')).toThrow(/lsblk device: expected an object/);
    expect(() => parseLsblk('{"blockdevices": [{"name": "loop0", "maj:min": "7:0", "children": 3}]}'))
      .toThrow(/lsblk children: expected an array/);
    expect(() => parseLsblk('{"blockdevices": [{"name": {}, "maj:min": "7:0"}]}')).toThrow(/lsblk name/);
    expect(() => parseLsblk('{"blockdevices": [{"name": "loop0", "maj:min": "7:0", "size": "16M"}]}'))
      .toThrow(/lsblk size/);
  });
});
