import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFindmnt } from '../../../src/probe/findmnt.js';
import { parseLosetup } from '../../../src/probe/losetup.js';
import { parseLsblk } from '../../../src/probe/lsblk.js';
import { FINDMNT, LOSETUP, LSBLK, blkid, sfdisk } from '../../../src/probe/commands.js';
import { FIXTURES, WORK, recorded } from './fixtures.js';

// The fixtures are only worth something if record.sh ran the argv imgplan runs.
describe('record.sh records with the argv of src/probe/commands.ts', () => {
  const script = readFileSync(`${FIXTURES}record.sh`, 'utf8');

  it('lsblk, losetup, findmnt', () => {
    expect(script).toContain(`LSBLK=(${LSBLK.argv.join(' ')})\n`);
    expect(script).toContain(`LOSETUP=(${LOSETUP.argv.join(' ')})\n`);
    expect(script).toContain(`FINDMNT=(${FINDMNT.argv.join(' ')})\n`);
  });

  it('sfdisk and blkid (whole file and byte range)', () => {
    expect(script).toContain(`sfdisk_json() { ${sfdisk('"$1"').argv.join(' ')}; }`);
    expect(script).toContain(`    ${blkid('"$1"', { offset: 2, size: 3 }).argv.join(' ').replace('--offset 2 --size 3', '--offset "$2" --size "$3"')}\n`);
    expect(script).toContain(`    ${blkid('"$1"').argv.join(' ')}\n`);
  });
});

describe('the recorded live state is one consistent snapshot', () => {
  const devs = parseLsblk(recorded('lsblk.json'));
  const loops = parseLosetup(recorded('losetup.json'));
  const mounts = parseFindmnt(recorded('findmnt.json'));

  it('every loop losetup lists is a read-only lsblk loop of its sizelimit (or file) size', () => {
    expect(loops).toHaveLength(3);
    for (const l of loops) {
      const d = devs.find((x) => `/dev/${x.name}` === l.device);
      expect(d, l.device).toMatchObject({ type: 'loop', majMin: l.majMin, ro: true });
      if (l.sizelimit !== 0) expect(d?.size).toBe(l.sizelimit);
    }
  });

  it('the backing files live on the root filesystem', () => {
    const root = mounts.find((m) => m.target === '/');
    expect(new Set(loops.map((l) => l.backDev))).toEqual(new Set([root?.majMin]));
    expect(devs.find((d) => d.majMin === root?.majMin)?.name).toBe('vda');
  });

  it('the mount is on the MBR partition 1 loop', () => {
    const m = mounts.find((x) => x.target.startsWith(`${WORK}/`));
    const l = loops.find((x) => x.device === m?.source);
    expect(l).toMatchObject({ backFile: `${WORK}/mbr.img`, offset: 1048576, majMin: m?.majMin });
  });
});
