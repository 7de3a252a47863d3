import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyQemuError, parseQemuImgInfo } from '../../../src/qemu/img-info.js';

/** Output of qemu-img 7.2 recorded by test/fixtures/qemu/record.sh (temp folder shown as /cases). */
const fixture = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/qemu', f), 'utf8');

describe('qemu-img info --output=json', () => {
  it.each([
    ['info-raw.json', 'raw', 67108864],
    ['info-qcow2.json', 'qcow2', 67108864],
    ['info-vmdk.json', 'vmdk', 67108864],
    ['info-vdi.json', 'vdi', 67108864],
    ['info-vhdx.json', 'vhdx', 67108864],
    ['info-vpc.json', 'vpc', 67108864],
  ])('%s: one image, its format and virtual size', (f, format, size) => {
    const [info, ...rest] = parseQemuImgInfo(fixture(f));
    expect(rest).toEqual([]);
    expect([info!.format, info!.virtualSize, info!.encrypted, info!.backingFilename]).toEqual([format, size, false, undefined]);
  });

  it('a vpc without force_size has a virtual size rounded to its CHS geometry', () => {
    expect(parseQemuImgInfo(fixture('info-vpc-chs.json'))[0]!.virtualSize).toBe(67125248);
  });

  it('--backing-chain: top image first, with the backing name as written and as QEMU resolved it', () => {
    const chain = parseQemuImgInfo(fixture('info-chain.json'));
    expect(chain.map((c) => [c.filename, c.format, c.backingFilename, c.fullBackingFilename, c.backingFormat])).toEqual([
      ['/cases/top.qcow2', 'qcow2', 'base.qcow2', '/cases/base.qcow2', 'qcow2'],
      ['/cases/base.qcow2', 'qcow2', undefined, undefined, undefined],
    ]);
  });

  it('the format probe (no --format) reports what QEMU guesses, whatever the manifest says', () => {
    expect(parseQemuImgInfo(fixture('info-qcow2-as-probe.json'))[0]!.format).toBe('qcow2');
    expect(parseQemuImgInfo(fixture('info-raw-probe.json'))[0]!.format).toBe('raw');
    // read as raw, a qcow2 is just bytes: only the probe tells it apart
    expect(parseQemuImgInfo(fixture('info-qcow2-as-raw.json'))[0]!.format).toBe('raw');
  });

  it('a dangling backing file still gives the plain info (only --backing-chain fails)', () => {
    const [top] = parseQemuImgInfo(fixture('info-backing-missing.json'));
    expect(top!.backingFilename).toBeDefined();
  });

  it('rejects output without the fields the plan needs', () => {
    expect(() => parseQemuImgInfo('{"format":"qcow2"}')).toThrow(/filename, format or virtual-size missing/);
    expect(() => parseQemuImgInfo('[1]')).toThrow(/expected an object/);
  });
});

describe("qemu-img's reasons for not opening an image", () => {
  it.each(['err-locked.txt', 'err-locked-probe.txt', 'err-locked-chain.txt'])('%s: in use by another process', (f) => {
    expect(classifyQemuError(fixture(f))).toEqual({
      kind: 'in-use', message: 'Failed to get shared "write" lock; Is another process using the image [/cases/held.qcow2]?',
    });
  });

  it('a missing file anywhere in the chain is named', () => {
    expect(classifyQemuError(fixture('err-backing-missing-chain.txt'))).toEqual({ kind: 'missing-file', file: '/cases/gone.qcow2', message: 'No such file or directory' });
    expect(classifyQemuError(fixture('err-not-found.txt'))).toMatchObject({ kind: 'missing-file', file: '/cases/missing.qcow2' });
  });

  it('anything else is passed on in QEMU\'s words', () => {
    expect(classifyQemuError(fixture('err-raw-as-qcow2.txt'))).toEqual({ kind: 'other', message: 'Image is not in qcow2 format' });
  });
});
