import { describe, expect, it } from 'vitest';
import { parseBlkidExport } from '../../../src/probe/blkid.js';
import { WORK, recorded } from './fixtures.js';

describe('parseBlkidExport on util-linux 2.38.1 (recorded)', () => {
  it('ext4 in MBR partition 1 (--offset/--size range)', () => {
    expect(parseBlkidExport(recorded('blkid-ext4.txt'))).toEqual({
      LABEL: 'mbr-boot', UUID: '0d3f7a10-5c2e-4b6a-9e1d-2f4c6b8a0e11', VERSION: '1.0', BLOCK_SIZE: '1024', TYPE: 'ext4', USAGE: 'filesystem',
    });
  });

  it('drops DEVNAME, which names the image file even for a range', () => {
    expect(recorded('blkid-ext4.txt').split('\n')[0]).toBe(`DEVNAME=${WORK}/mbr.img`);
    expect(parseBlkidExport(recorded('blkid-ext4.txt'))).not.toHaveProperty('DEVNAME');
  });

  it('whole-disk ext4: unescapes the export format ("root\\ fs\\ \\"v1\\"")', () => {
    expect(recorded('blkid-whole-ext4.txt')).toContain('LABEL=root\\ fs\\ \\"v1\\"\n');
    expect(parseBlkidExport(recorded('blkid-whole-ext4.txt'))).toMatchObject({
      LABEL: 'root fs "v1"', UUID: '4f5a6b7c-8d9e-4fa0-b1c2-d3e4f5a6b7c8', TYPE: 'ext4',
    });
  });

  it('whole-disk xfs', () => {
    expect(parseBlkidExport(recorded('blkid-xfs.txt'))).toEqual({
      LABEL: 'whole-xfs', UUID: '5a6b7c8d-9eaf-4b0c-8d1e-f2a3b4c5d6e7', BLOCK_SIZE: '512', TYPE: 'xfs', USAGE: 'filesystem',
    });
  });

  it('btrfs in GPT partition 2, with UUID_SUB', () => {
    const b = parseBlkidExport(recorded('blkid-btrfs.txt'));
    expect(b).toMatchObject({ LABEL: 'guest-root', UUID: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7', TYPE: 'btrfs', BLOCK_SIZE: '4096' });
    expect(b.UUID_SUB).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('vfat in GPT partition 1: a short volume-id UUID, SEC_TYPE and LABEL_FATBOOT', () => {
    expect(parseBlkidExport(recorded('blkid-vfat.txt'))).toEqual({
      SEC_TYPE: 'msdos', LABEL_FATBOOT: 'ESP', LABEL: 'ESP', UUID: '12AB-34CD', VERSION: 'FAT16', BLOCK_SIZE: '512', TYPE: 'vfat', USAGE: 'filesystem',
    });
  });

  it('whole images with a partition table report PTTYPE/PTUUID and no TYPE', () => {
    expect(parseBlkidExport(recorded('blkid-whole-dos.txt'))).toEqual({ PTUUID: '1a2b3c4d', PTTYPE: 'dos' });
    expect(parseBlkidExport(recorded('blkid-whole-gpt.txt'))).toEqual({ PTUUID: '6e1b2f4a-3c5d-4e6f-8a9b-0c1d2e3f4a5b', PTTYPE: 'gpt' });
  });

  it('no signature (empty logical partition 5): exit 2, no output, nothing parsed', () => {
    expect(recorded('blkid-none.exitcode').trim()).toBe('2');
    expect(recorded('blkid-none.txt')).toBe('');
    expect(parseBlkidExport(recorded('blkid-none.txt'))).toEqual({});
  });
});

describe('parseBlkidExport on other input', () => {
  it('ignores lines without a KEY= and blank lines', () => {
    expect(parseBlkidExport('\n=novalue\nno pair here\n\n')).toEqual({});
  });

  it('splits at the first "=" only', () => {
    expect(parseBlkidExport('LABEL=a=b\n')).toEqual({ LABEL: 'a=b' });
  });
});
