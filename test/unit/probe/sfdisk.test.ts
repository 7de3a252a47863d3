import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../../src/probe/coerce.js';
import { parseLosetup } from '../../../src/probe/losetup.js';
import { MBR_EXTENDED_TYPES, parseSfdisk } from '../../../src/probe/sfdisk.js';
import { WORK, recorded } from './fixtures.js';

describe('parseSfdisk on util-linux 2.38.1 (recorded)', () => {
  it('reads an MBR table: primary 1 (bootable), extended 2, logical 5', () => {
    expect(parseSfdisk(recorded('sfdisk-dos.json'))).toEqual({
      label: 'dos',
      sectorSize: 512,
      partitions: [
        { number: 1, start: 2048, size: 32768, type: '83', bootable: true },
        { number: 2, start: 34816, size: 94208, type: '5', bootable: false },
        { number: 5, start: 36864, size: 40960, type: '83', bootable: false },
      ],
    });
  });

  it('marks the extended partition by type', () => {
    const t = parseSfdisk(recorded('sfdisk-dos.json'));
    expect(t.partitions.map((p) => MBR_EXTENDED_TYPES.has(p.type))).toEqual([false, true, false]);
  });

  it('reads a GPT table: names, lower-cased type GUIDs, numbers after the "p" of a digit-ending image name', () => {
    const raw = JSON.parse(recorded('sfdisk-gpt.json')) as { partitiontable: { partitions: { node: string }[] } };
    expect(raw.partitiontable.partitions.map((p) => p.node)).toEqual([`${WORK}/gpt-disk0p1`, `${WORK}/gpt-disk0p2`]);
    expect(parseSfdisk(recorded('sfdisk-gpt.json'))).toEqual({
      label: 'gpt',
      sectorSize: 512,
      partitions: [
        { number: 1, start: 2048, size: 65536, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'EFI System', bootable: false },
        { number: 2, start: 67584, size: 454656, type: '0fc63daf-8483-4772-8e79-3d69d8477de4', name: 'guest root', bootable: false },
      ],
    });
  });

  it('partition byte ranges are the offset/sizelimit of the loops attached to them', () => {
    const loops = parseLosetup(recorded('losetup.json'));
    const range = (file: string, n: number) => {
      const t = parseSfdisk(recorded(file));
      const p = t.partitions.find((x) => x.number === n)!;
      return { offset: p.start * t.sectorSize, sizelimit: p.size * t.sectorSize };
    };
    expect(loops.find((l) => l.backFile === `${WORK}/mbr.img`)).toMatchObject(range('sfdisk-dos.json', 1));
    expect(loops.find((l) => l.backFile === `${WORK}/gpt-disk0`)).toMatchObject(range('sfdisk-gpt.json', 2));
    expect(range('sfdisk-dos.json', 1)).toEqual({ offset: 1048576, sizelimit: 16777216 });
  });

  it('a bare filesystem: sfdisk exits 1 with a message on stderr and prints nothing to parse', () => {
    expect(recorded('sfdisk-none.exitcode').trim()).toBe('1');
    expect(recorded('sfdisk-none.stderr')).toBe(`sfdisk: ${WORK}/whole-ext4.img: does not contain a recognized partition table\n`);
    expect(recorded('sfdisk-none.stdout')).toBe('');
    expect(() => parseSfdisk(recorded('sfdisk-none.stdout'))).toThrow(ShapeError);
  });
});

describe('parseSfdisk on malformed input', () => {
  const table = (t: Record<string, unknown>) =>
    JSON.stringify({ partitiontable: { label: 'dos', device: '/i/d.img', unit: 'sectors', ...t } });

  it('rejects non-JSON and the wrong shape', () => {
    expect(() => parseSfdisk('Disk /i/d.img: 64 MiB, 67108864 bytes, 131072 sectors')).toThrow(/sfdisk: output is not JSON/);
    expect(() => parseSfdisk('{}')).toThrow(/sfdisk partitiontable: expected an object/);
    expect(() => parseSfdisk('{"partitiontable": {"label": "dos"}}')).toThrow(/sfdisk device/);
    expect(() => parseSfdisk(table({ partitions: {} }))).toThrow(/sfdisk partitions: expected an array/);
    expect(() => parseSfdisk(table({ partitions: [{ node: '/i/d.img1', start: 'x', size: 1, type: '83' }] })))
      .toThrow(/sfdisk start/);
  });

  it('rejects units other than sectors and nodes it cannot number', () => {
    expect(() => parseSfdisk(table({ unit: 'cylinders', partitions: [] }))).toThrow(/unexpected unit cylinders/);
    expect(() => parseSfdisk(table({ partitions: [{ node: '/i/d.img-root', start: 1, size: 1, type: '83' }] })))
      .toThrow(/cannot number partition/);
  });

  it('defaults a missing sectorsize (older sfdisk) to 512', () => {
    expect(parseSfdisk(table({ partitions: [] })).sectorSize).toBe(512);
  });
});
