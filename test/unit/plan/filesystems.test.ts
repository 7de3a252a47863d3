import { describe, expect, it } from 'vitest';
import { chooseDriver, typeAccepted, windowsVerdict, type Driver } from '../../../src/plan/filesystems.js';
import { mountOptions } from '../../../src/plan/mount-options.js';
import type { NtfsHealth } from '../../../src/probe/ntfs.js';
import type { KernelFacts } from '../../../src/probe/observed.js';

const kernel = (over: Partial<KernelFacts>): KernelFacts => ({
  release: '6.1.0-26-amd64', partscan: { labels: [], evidence: '' }, udev: false, deviceMapper: false, kpartx: false, ...over,
});
const driverOf = (c: ReturnType<typeof chooseDriver>) => ('driver' in c ? c.driver.mountType : c.problem.message);

describe('filesystem types mounted without being asked', () => {
  const k = kernel({ filesystems: { ext4: 'registered', jfs: 'module', hfsplus: 'module' } });
  it('a well-known type mounts as blkid finds it', () => {
    expect(driverOf(chooseDriver('ext4', undefined, k))).toBe('ext4');
  });
  it('any other type needs type: in the manifest, and says why', () => {
    const c = chooseDriver('hfsplus', undefined, k);
    expect('problem' in c && c.problem.code).toBe('fs-type-not-known');
    expect(driverOf(c)).toMatch(/^hfsplus is not one of the filesystem types imgplan mounts without being asked \(ext2, .*\): the host kernel's hfsplus driver would parse/);
    expect('problem' in c && c.problem.hint).toBe('if you trust this kernel\'s hfsplus driver with this image, say so in the mount: type: hfsplus');
    expect(driverOf(chooseDriver('jfs', 'jfs', k))).toBe('jfs');
  });
});

describe('NTFS driver choice', () => {
  const both = kernel({ ntfs3g: true, filesystems: { fuseblk: 'registered', ntfs3: 'module' } });
  it('prefers ntfs-3g where installed, the kernel ntfs3 otherwise', () => {
    expect(driverOf(chooseDriver('ntfs', undefined, both))).toBe('ntfs-3g');
    expect(driverOf(chooseDriver('ntfs', 'ntfs', kernel({ ntfs3g: false, filesystems: { fuseblk: 'registered', ntfs3: 'module' } })))).toBe('ntfs3');
  });
  it('type: ntfs3 or ntfs-3g insists on that driver', () => {
    expect(driverOf(chooseDriver('ntfs', 'ntfs3', both))).toBe('ntfs3');
    expect(driverOf(chooseDriver('ntfs', 'ntfs-3g', kernel({ ntfs3g: false, filesystems: { fuseblk: 'registered', ntfs3: 'module' } })))).toBe('no driver for NTFS: ntfs-3g is not installed');
    const c = chooseDriver('ntfs', 'ntfs3', kernel({ ntfs3g: true, filesystems: { fuseblk: 'registered', ntfs3: 'absent' } }));
    expect('problem' in c && c.problem.hint).toMatch(/ntfs-3g/);
  });
  it('neither driver: an error naming the package to install', () => {
    const c = chooseDriver('ntfs', undefined, kernel({ ntfs3g: false, filesystems: { fuseblk: 'registered', ntfs3: 'absent' } }));
    expect(c).toEqual({ problem: { code: 'no-fs-driver', message: 'no driver for NTFS: ntfs-3g is not installed, and the kernel has no ntfs3 driver', hint: 'install it: apt-get install ntfs-3g (Debian, Ubuntu), dnf install ntfs-3g (Fedora; RHEL: from EPEL)' } });
  });
  it('ntfs-3g without FUSE in the kernel', () => {
    const c = chooseDriver('ntfs', undefined, kernel({ ntfs3g: true, filesystems: { fuseblk: 'absent', ntfs3: 'absent' } }));
    expect('problem' in c && c.problem.hint).toBe('load FUSE: modprobe fuse');
  });
  it('accepts the driver names as type:, only for NTFS', () => {
    expect(typeAccepted('ntfs', 'ntfs-3g')).toBe(true);
    expect(typeAccepted('ntfs', 'ntfs3')).toBe(true);
    expect(typeAccepted('vfat', 'ntfs3')).toBe(false);
  });
});

describe('kernel filesystem drivers', () => {
  it('a type the kernel has neither registered nor as a module is a plan-time error', () => {
    const c = chooseDriver('vfat', undefined, kernel({ filesystems: { vfat: 'absent' } }));
    expect('problem' in c && c.problem.message).toBe('this kernel (6.1.0-26-amd64) cannot mount vfat: it is not in /proc/filesystems and modprobe finds no module fs-vfat');
    expect(driverOf(chooseDriver('vfat', undefined, kernel({ filesystems: { vfat: 'module' } })))).toBe('vfat');
  });
});

const NTFS3G: Driver = { mountType: 'ntfs-3g' };
const NTFS3: Driver = { mountType: 'ntfs3' };
const health = (over: Partial<NtfsHealth>): NtfsHealth => ({ dirty: false, logFile: 'empty', hibernation: 'none', problems: [], ...over });

describe('what a mount means for the state Windows left', () => {
  it('a clean volume: nothing to say', () => {
    expect(windowsVerdict('w/part2', health({}), false, false, NTFS3G)).toEqual({ warnings: [], options: [] });
  });
  it('read-only: a warning that the view is of the last write, never a refusal', () => {
    const v = windowsVerdict('w/part2', health({ hibernation: 'hibernated' }), true, false, NTFS3G);
    expect(v.refusal).toBeUndefined();
    expect(v.options).toEqual([]);
    expect(v.warnings[0]).toMatch(/^w\/part2: Windows is hibernated on it .* It is mounted read-only without touching Windows' state/);
  });
  it('read-write without discard_windows_state: refused, saying what to do', () => {
    const v = windowsVerdict('w/part2', health({ logFile: 'unclean' }), false, false, NTFS3G);
    expect(v.refusal?.message).toBe('w/part2: it was not shut down cleanly (the NTFS journal $LogFile has changes not yet applied); a read-write mount would discard that state');
    expect(v.refusal?.hint).toMatch(/discard_windows_state: true/);
  });
  it('read-write with consent: the destructive options, and the losses in words', () => {
    const v = windowsVerdict('w/part2', health({ hibernation: 'hibernated', logFile: 'unclean' }), false, true, NTFS3G);
    expect(v.options).toEqual(['remove_hiberfile']);
    expect(v.warnings[0]).toMatch(/hibernated Windows session \(open programs, unsaved documents\) is lost/);
    expect(v.warnings[0]).toMatch(/journal \(\$LogFile\) is reset without being replayed/);
    expect(windowsVerdict('w/part2', health({ dirty: true }), false, true, NTFS3).options).toEqual(['force']);
  });
  it('ntfs-3g cannot mount a Fast Startup volume read-write at all', () => {
    const v = windowsVerdict('w/part2', health({ logFile: 'windows-cached' }), false, true, NTFS3G);
    expect(v.refusal?.message).toMatch(/ntfs-3g never mounts such a volume read-write/);
  });
  it('an unreadable state is a warning to treat it as possibly unclean', () => {
    const v = windowsVerdict('w/part2', health({ logFile: 'unknown', problems: ['$LogFile: corrupt runlist'] }), true, false, NTFS3G);
    expect(v.warnings).toEqual(['could not fully read the Windows state of w/part2 ($LogFile: corrupt runlist); treat it as possibly unclean']);
  });
});

describe('mount options for Windows filesystems', () => {
  const ctx = { readOnly: true, kernel: '6.1.0', xfsUuidClash: false };
  it('root-owned, closed to other users, nothing executable, read-only', () => {
    expect(mountOptions('ntfs-3g', [], ctx)).toEqual(['ro', 'uid=0', 'gid=0', 'fmask=0137', 'dmask=0027', 'nosuid', 'nodev', 'noexec']);
    expect(mountOptions('vfat', [], ctx)).toEqual(['ro', 'uid=0', 'gid=0', 'fmask=0137', 'dmask=0027', 'utf8', 'nosuid', 'nodev', 'noexec']);
    expect(mountOptions('ntfs3', [], { ...ctx, readOnly: false })).toEqual(['uid=0', 'gid=0', 'fmask=0137', 'dmask=0027', 'nosuid', 'nodev']);
  });
  it('a manifest KEY=VALUE replaces imgplan\'s', () => {
    expect(mountOptions('exfat', ['uid=1000', 'noatime'], ctx))
      .toEqual(['ro', 'gid=0', 'fmask=0137', 'dmask=0027', 'nosuid', 'nodev', 'noexec', 'uid=1000', 'noatime']);
  });
});
