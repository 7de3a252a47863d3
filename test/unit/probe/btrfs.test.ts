import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SUBVOLUMES, parseSubvolumes } from '../../../src/probe/btrfs.js';

const recorded = (name: string) => readFileSync(new URL(`../../fixtures/btrfs/${name}`, import.meta.url), 'utf8');

describe('parseSubvolumes (btrfs-progs 6.2, recorded)', () => {
  it('reads the subvolumes and the default one set with set-default', () => {
    expect(parseSubvolumes(recorded('subvolume-list.txt'), recorded('get-default-256.txt'))).toEqual({
      subvolumes: [{ id: 256, path: '@' }, { id: 257, path: '@home' }, { id: 258, path: 'we ird' }],
      default: { id: 256, path: '@' },
    });
  });

  it('a fresh filesystem: no subvolumes, the top level is the default', () => {
    expect(parseSubvolumes(recorded('subvolume-list-empty.txt'), recorded('get-default-top.txt'))).toEqual({ subvolumes: [], default: { id: 5 } });
  });

  it('bounds what a guest can make it list, and never throws', () => {
    const many = Array.from({ length: MAX_SUBVOLUMES + 5 }, (_, i) => `ID ${256 + i} gen 7 top level 5 path s${i}`).join('\n');
    const r = parseSubvolumes(many, '');
    expect(r.subvolumes).toHaveLength(MAX_SUBVOLUMES);
    expect(r.truncated).toBe(true);
    expect(r.default).toBeUndefined();
    expect(parseSubvolumes(`ID 256 gen 7 top level 5 path ${'x'.repeat(5000)}`, '').subvolumes[0]!.path).toHaveLength(256);
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }), (a, b) => {
      const r = parseSubvolumes(a, b);
      expect(r.subvolumes.length).toBeLessThanOrEqual(MAX_SUBVOLUMES);
    }));
  });
});
