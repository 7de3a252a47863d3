import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../../src/probe/coerce.js';
import { parseLosetup, type LoopDevice } from '../../../src/probe/losetup.js';
import { WORK, old, recorded, shape } from './fixtures.js';

const byDevice = (loops: readonly LoopDevice[], device: string): LoopDevice => {
  const l = loops.find((x) => x.device === device);
  if (!l) throw new Error(`no ${device} in ${loops.map((x) => x.device).join(',')}`);
  return l;
};

describe('parseLosetup on util-linux 2.38.1 (recorded)', () => {
  const loops = parseLosetup(recorded('losetup.json'));

  it('reads every loop, in losetup order', () => {
    expect(loops.map((l) => l.device)).toEqual(['/dev/loop1', '/dev/loop2', '/dev/loop0']);
  });

  it('reads the MBR partition 1 loop: offset/sizelimit in bytes, padded maj:min normalised', () => {
    expect(byDevice(loops, '/dev/loop0')).toEqual({
      device: '/dev/loop0',
      majMin: '7:0', // recorded as "  7:0  "
      backFile: `${WORK}/mbr.img`,
      backDev: '254:0', // recorded as "     254:0  "
      backIno: 2146337,
      offset: 1048576,
      sizelimit: 16777216,
      ro: true,
      partscan: false,
      autoclear: false,
    });
  });

  it('reads the GPT partition 2 loop and the whole-file loop (sizelimit 0)', () => {
    expect(byDevice(loops, '/dev/loop1')).toMatchObject({
      majMin: '7:1', backFile: `${WORK}/gpt-disk0`, backIno: 2146354, offset: 34603008, sizelimit: 232783872, ro: true,
    });
    expect(byDevice(loops, '/dev/loop2')).toMatchObject({
      majMin: '7:2', backFile: `${WORK}/whole-ext4.img`, backIno: 2146387, offset: 0, sizelimit: 0, ro: true,
    });
  });

  it('the raw output really is padded and typed (what the parser has to cope with)', () => {
    const raw = JSON.parse(recorded('losetup.json')) as { loopdevices: Record<string, unknown>[] };
    expect(raw.loopdevices[2]).toMatchObject({ 'maj:min': '  7:0  ', 'back-maj:min': '     254:0  ', ro: true, offset: 1048576 });
  });

  it('keeps " (deleted)" on the back-file of an unlinked image; device and inode still identify it', () => {
    const after = parseLosetup(recorded('losetup-deleted.json'));
    expect(byDevice(after, '/dev/loop2')).toMatchObject({
      backFile: `${WORK}/whole-ext4.img (deleted)`, backDev: '254:0', backIno: 2146387,
    });
    expect(byDevice(after, '/dev/loop0').backFile).toBe(`${WORK}/mbr.img`);
  });

  it('reads "no loop devices" (2.38.1 prints an empty array, older releases print nothing)', () => {
    expect(recorded('losetup-empty.txt').trim()).not.toBe('');
    expect(parseLosetup(recorded('losetup-empty.txt'))).toEqual([]);
    expect(parseLosetup('')).toEqual([]);
  });
});

describe('parseLosetup on old string-typed JSON (losetup -J, before 2.33)', () => {
  const loops = parseLosetup(old('losetup-old-csi-baremetal.json'));

  it('turns "0" strings into numbers and booleans, and omits the columns it lacks', () => {
    expect(loops).toHaveLength(5);
    expect(loops[0]).toEqual({
      device: '/dev/loop29',
      backFile: '/host/home/baremetal-csi-node-7cj9p-2160067800.img',
      offset: 0,
      sizelimit: 0,
      ro: false,
      partscan: false,
      autoclear: false,
    });
    expect(loops.map((l) => l.device)).toEqual(['/dev/loop29', '/dev/loop57', '/dev/loop19', '/dev/loop39', '/dev/loop67']);
  });

  it('gives the same typed shape as 2.38.1 for the columns both have', () => {
    const typed = shape(parseLosetup(recorded('losetup.json'))[0]!);
    for (const l of loops) {
      const s = shape(l);
      for (const k of Object.keys(s)) expect(s[k], k).toBe(typed[k]);
    }
    expect(typed).toMatchObject({ offset: 'number', sizelimit: 'number', ro: 'boolean', backIno: 'number', majMin: 'string' });
  });
});

describe('parseLosetup on malformed input', () => {
  it('rejects the human table and truncated JSON', () => {
    expect(() => parseLosetup('NAME       SIZELIMIT  OFFSET AUTOCLEAR RO BACK-FILE\n/dev/loop0 0 0 0 1 /x.img\n')).toThrow(ShapeError);
    expect(() => parseLosetup(recorded('losetup.json').slice(0, 300))).toThrow(/losetup: output is not JSON/);
  });

  it('rejects JSON of the wrong shape', () => {
    expect(() => parseLosetup('"loop0"')).toThrow(/losetup: expected a JSON object/);
    expect(() => parseLosetup('{"loopdevices": {}}')).toThrow(/losetup loopdevices: expected an array/);
    expect(() => parseLosetup('{"loopdevices": [null]}')).toThrow(/losetup device: expected an object/);
    expect(() => parseLosetup('{"loopdevices": [{"offset": 0}]}')).toThrow(/losetup name/);
    expect(() => parseLosetup('{"loopdevices": [{"name": "/dev/loop0", "offset": "1 MiB"}]}')).toThrow(/losetup offset/);
  });
});
