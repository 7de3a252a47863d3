import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  badViewSize, chunksOf, diskEnds, FILL_CHUNK, fillCommand, MAX_FILL_PARTITIONS, missingCopies, partitionRanges, rangeEnds,
} from '../../../src/qemu/probe-view.js';

const MiB = FILL_CHUNK;

describe('probe view: what plan copies of a QEMU image', () => {
  it('fills the first and last MiB of the disk, whole chunks, joined where they touch', () => {
    expect(missingCopies(diskEnds(64 * MiB), 64 * MiB, new Set())).toEqual([{ offset: 0, length: MiB }, { offset: 63 * MiB, length: MiB }]);
    // a disk of 1.5 MiB: the two ends overlap, one copy
    expect(missingCopies(diskEnds(1.5 * MiB), 1.5 * MiB, new Set())).toEqual([{ offset: 0, length: 1.5 * MiB }]);
  });

  it('leaves out chunks already filled, and cuts every range to the disk', () => {
    expect(missingCopies([{ offset: 0, length: 4 * MiB }], 64 * MiB, new Set([1]))).toEqual([{ offset: 0, length: MiB }, { offset: 2 * MiB, length: 2 * MiB }]);
    // a partition table pointing before the disk or past its end
    expect(missingCopies([{ offset: -5 * MiB, length: 6 * MiB }], 64 * MiB, new Set())).toEqual([{ offset: 0, length: MiB }]);
    expect(missingCopies([{ offset: 2 ** 50, length: MiB }, { offset: 64 * MiB, length: MiB }], 64 * MiB, new Set())).toEqual([]);
    expect(missingCopies([{ offset: NaN, length: MiB }, { offset: 0, length: -1 }, { offset: 0, length: Infinity }], 64 * MiB, new Set())).toEqual([]);
  });

  it('copies whole 512-byte sectors only (QEMU\'s raw driver refuses other sizes): a ragged disk end stays zeros', () => {
    expect(missingCopies([{ offset: 0, length: 10 * MiB }], MiB + 1000, new Set())).toEqual([{ offset: 0, length: MiB + 512 }]);
    expect(missingCopies([{ offset: 0, length: 10 }], 300, new Set())).toEqual([]);
  });

  it('reads around each partition\'s start and end: the EBRs of a DOS extended partition are there', () => {
    const parts = [{ offset: MiB, length: 16 * MiB }, { offset: 17 * MiB, length: 47 * MiB }];
    expect(partitionRanges(parts)).toEqual([
      { offset: 0, length: 2 * MiB }, { offset: 16 * MiB, length: 2 * MiB },
      { offset: 16 * MiB, length: 2 * MiB }, { offset: 63 * MiB, length: 2 * MiB },
    ]);
    expect(missingCopies(partitionRanges(parts), 64 * MiB, new Set([0, 63]))).toEqual([{ offset: MiB, length: MiB }, { offset: 16 * MiB, length: 2 * MiB }]);
    expect(rangeEnds({ offset: 17 * MiB, length: 47 * MiB })).toEqual([{ offset: 17 * MiB, length: MiB }, { offset: 63 * MiB, length: MiB }]);
  });

  it('refuses a table of more partitions than it reads, and a virtual size that is no size', () => {
    const many = Array.from({ length: MAX_FILL_PARTITIONS + 1 }, (_, i) => ({ offset: i * MiB, length: MiB }));
    expect(() => partitionRanges(many)).toThrow(/lists 129 partitions \(plan reads at most 128\)/);
    expect(badViewSize(64 * MiB)).toBeUndefined();
    for (const s of [0, -512, 1.5, NaN, 2 ** 64]) expect(badViewSize(s)).toMatch(/virtual size/);
  });

  it('property: copies lie inside the disk, are whole sectors, skip what is filled, and cover every range asked', () => {
    const range = fc.record({ offset: fc.integer({ min: -(2 ** 31), max: 2 ** 36 }), length: fc.integer({ min: -10, max: 2 ** 28 }) });
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 36 }), fc.array(range, { maxLength: 8 }), fc.array(fc.nat(70_000), { maxLength: 20 }),
      (size, ranges, done) => {
        const filled = new Set(done);
        const copies = missingCopies(ranges, size, filled);
        const got = new Set<number>();
        for (const c of copies) {
          expect(c.offset % MiB).toBe(0);
          expect(c.length % 512).toBe(0);
          expect(c.length).toBeGreaterThan(0);
          expect(c.offset + c.length).toBeLessThanOrEqual(size);
          for (const k of chunksOf(c)) {
            expect(filled.has(k) || got.has(k)).toBe(false);
            got.add(k);
          }
        }
        const whole = Math.floor(size / 512) * 512;
        for (const r of ranges) {
          const start = Math.max(0, r.offset);
          const end = Math.min(whole, r.offset + r.length);
          if (r.length <= 0 || end <= start) continue;
          for (let k = Math.floor(start / MiB); k * MiB < end; k++) expect(filled.has(k) || got.has(k)).toBe(true);
        }
      }), { numRuns: 300 });
  });

  it('copies with qemu-img convert: source read-only with the manifest\'s format, the same range of the view, shared only for allow_live', () => {
    const spec = { image: '/vm/a,b.qcow2', format: 'qcow2', forceShare: false, view: '/run/imgplan/probe/7/a.raw' };
    expect(fillCommand(spec, { offset: 1048576, length: 2097152 })).toEqual({
      argv: ['qemu-img', 'convert', '-n',
        '--image-opts', 'driver=raw,offset=1048576,size=2097152,file.driver=qcow2,file.file.driver=file,file.file.filename=/vm/a,,b.qcow2,read-only=on',
        '--target-image-opts', 'driver=raw,offset=1048576,size=2097152,file.driver=file,file.filename=/run/imgplan/probe/7/a.raw'],
      effect: 'scratch', timeoutMs: 60_000,
    });
    expect(fillCommand({ ...spec, forceShare: true }, { offset: 0, length: 512 }).argv.slice(0, 4)).toEqual(['qemu-img', 'convert', '-n', '-U']);
  });
});
