import { describe, expect, it } from 'vitest';
import { masksOthers, openToEveryone } from '../../../src/plan/reachable.js';
import type { PathInfo } from '../../../src/runner/runner.js';

const dir = (mode: number): PathInfo => ({ kind: 'directory', mode, empty: false });

describe('who on the host can reach a mounted guest tree', () => {
  const paths = { '/': dir(0o755), '/mnt': dir(0o755), '/srv': dir(0o711), '/root': dir(0o700), '/tmp': dir(0o1777) };

  it('is everyone when every directory above the mountpoint is searchable by others', () => {
    expect(openToEveryone('/mnt/web01', paths)).toEqual(['/', '/mnt']);
    expect(openToEveryone('/srv/web01', paths)).toEqual(['/', '/srv']);
    expect(openToEveryone('/tmp/web01', paths)).toEqual(['/', '/tmp']);
  });

  it('is fenced by a directory others cannot search, one imgplan will make (0700), or one whose mode is unknown', () => {
    expect(openToEveryone('/root/web01', paths)).toBeUndefined();
    expect(openToEveryone('/mnt/imgplan/web01', { ...paths, '/mnt/imgplan': { kind: 'missing' } })).toBeUndefined();
    expect(openToEveryone('/mnt/old/web01', { ...paths, '/mnt/old': { kind: 'directory', empty: true } })).toBeUndefined();
    expect(openToEveryone('/mnt/web01', { ...paths, '/': dir(0o750) })).toBeUndefined();
  });

  it('a mask option that takes others\' search right off the guest tree fences it too', () => {
    expect(masksOthers(['ro', 'uid=0', 'gid=0', 'fmask=0137', 'dmask=0027'])).toBe(true);
    expect(masksOthers(['umask=077'])).toBe(true);
    expect(masksOthers(['dmask=0022'])).toBe(false);
    expect(masksOthers(['ro', 'nosuid'])).toBe(false);
  });
});
