import { describe, expect, it } from 'vitest';
import { baseMountOptions, mountOptions } from '../../../src/plan/mount-options.js';

const ro = { readOnly: true, kernel: '6.1.0-26-amd64', xfsUuidClash: false };

describe('read-only mount options per filesystem (field-notes G5)', () => {
  it.each([
    ['ext4', ['ro', 'noload']],
    ['ext3', ['ro', 'noload']],
    ['ext2', ['ro']],
    ['xfs', ['ro', 'norecovery']],
    ['btrfs', ['ro', 'rescue=nologreplay']],
    ['vfat', ['ro', 'uid=0', 'gid=0', 'fmask=0133', 'dmask=0022', 'utf8']],
    ['exfat', ['ro', 'uid=0', 'gid=0', 'fmask=0133', 'dmask=0022']],
    ['ntfs-3g', ['ro', 'uid=0', 'gid=0', 'fmask=0133', 'dmask=0022']],
    ['iso9660', ['ro']],
  ])('%s → %j', (fs, want) => {
    expect(baseMountOptions(fs, ro)).toEqual(want);
  });
  it('xfs adds nouuid when a filesystem with the same UUID is mounted', () => {
    expect(baseMountOptions('xfs', { ...ro, xfsUuidClash: true })).toEqual(['ro', 'norecovery', 'nouuid']);
  });
  it('btrfs before 5.9 uses the old nologreplay', () => {
    expect(baseMountOptions('btrfs', { ...ro, kernel: '5.4.0-150-generic' })).toEqual(['ro', 'nologreplay']);
  });
  it('read-write adds nothing but what the manifest asks', () => {
    expect(mountOptions('ext4', ['noatime'], { ...ro, readOnly: false })).toEqual(['noatime']);
  });
  it('manifest options follow the defaults, without repeats', () => {
    expect(mountOptions('ext4', ['nosuid', 'ro', 'nodev'], ro)).toEqual(['ro', 'noload', 'nosuid', 'nodev']);
  });
});
