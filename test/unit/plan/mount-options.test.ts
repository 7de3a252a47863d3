import { describe, expect, it } from 'vitest';
import { baseMountOptions, mountOptions } from '../../../src/plan/mount-options.js';

const ro = { readOnly: true, kernel: '6.1.0-26-amd64', xfsUuidClash: false };
const FENCED = ['nosuid', 'nodev', 'noexec'];

describe('read-only mount options per filesystem (field-notes G5), fenced from the host', () => {
  it.each([
    ['ext4', ['ro', 'noload']],
    ['ext3', ['ro', 'noload']],
    ['ext2', ['ro']],
    ['xfs', ['ro', 'norecovery']],
    ['btrfs', ['ro', 'rescue=nologreplay']],
    ['vfat', ['ro', 'uid=0', 'gid=0', 'fmask=0137', 'dmask=0027', 'utf8']],
    ['exfat', ['ro', 'uid=0', 'gid=0', 'fmask=0137', 'dmask=0027']],
    ['ntfs-3g', ['ro', 'uid=0', 'gid=0', 'fmask=0137', 'dmask=0027']],
    ['iso9660', ['ro']],
  ])('%s → %j, then nosuid,nodev,noexec', (fs, want) => {
    expect(baseMountOptions(fs, ro)).toEqual([...want, ...FENCED]);
  });
  it('xfs adds nouuid when a filesystem with the same UUID is mounted', () => {
    expect(baseMountOptions('xfs', { ...ro, xfsUuidClash: true })).toEqual(['ro', 'norecovery', 'nouuid', ...FENCED]);
  });
  it('btrfs before 5.9 uses the old nologreplay', () => {
    expect(baseMountOptions('btrfs', { ...ro, kernel: '5.4.0-150-generic' })).toEqual(['ro', 'nologreplay', ...FENCED]);
  });
  it('read-write: no setuid binaries and no device nodes, but programs may run; then what the manifest asks', () => {
    expect(mountOptions('ext4', ['noatime'], { ...ro, readOnly: false })).toEqual(['nosuid', 'nodev', 'noatime']);
  });
  it('an overlay takes the writes: its mounts are for looking, so noexec even when rw', () => {
    expect(mountOptions('ext4', ['rw'], { ...ro, readOnly: false, replay: true })).toEqual(['nosuid', 'nodev', 'noexec', 'rw']);
  });
  it('manifest options follow the defaults, without repeats', () => {
    expect(mountOptions('ext4', ['nosuid', 'ro', 'nodev'], ro)).toEqual(['ro', 'noload', ...FENCED]);
  });
  it('suid, dev and exec in the manifest give back one thing each, and show in the options', () => {
    expect(mountOptions('ext4', ['exec'], ro)).toEqual(['ro', 'noload', 'nosuid', 'nodev', 'exec']);
    expect(mountOptions('xfs', ['suid', 'dev'], ro)).toEqual(['ro', 'norecovery', 'noexec', 'suid', 'dev']);
  });
  it('a Windows filesystem is root-owned and closed to other users', () => {
    expect(mountOptions('ntfs-3g', [], ro)).toEqual(['ro', 'uid=0', 'gid=0', 'fmask=0137', 'dmask=0027', ...FENCED]);
  });
  it('a manifest KEY=VALUE replaces imgplan\'s', () => {
    expect(mountOptions('vfat', ['uid=1000', 'fmask=0177'], ro)).toEqual(['ro', 'gid=0', 'dmask=0027', 'utf8', ...FENCED, 'uid=1000', 'fmask=0177']);
  });
});
