/**
 * Windows guests on a stock kernel that scans partition tables and loads vfat as a module
 * (VM lane, with and without udev): the Windows 10 layout through the kernel's partition scan.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capabilities, isRoot, useSandbox } from '../integration/harness.js';
import { read, runProtocol } from '../integration/protocol.js';

const sb = useSandbox();
const udev = process.env.LANE_UDEV === '1' ? 'with udev' : 'without udev';

describe.skipIf(!isRoot || !capabilities.partscan() || !existsSync('/sbin/mount.ntfs-3g'))(`Windows guests through partition scan (${udev})`, () => {
  it('Windows 10 (GPT: EFI vfat, unclean C:) and Windows 7 (MBR: System Reserved, hibernated C:) read-only; apply twice, destroy twice, images unchanged', async () => {
    const img = await sb.windowsDisk('win10.img', 'win10', 'unclean');
    const img7 = await sb.windowsDisk('win7.img', 'win7', 'hibernated');
    const m = sb.writeManifest('win10.yaml', `version: 1
images:
  win10: { file: win10.img, format: raw }
  win7: { file: win7.img, format: raw }
mounts:
  - what: win10/part3
    where: ${sb.path('c')}
  - what: win10/part1
    where: ${sb.path('efi')}
    type: vfat
  - what: win7/part1
    where: ${sb.path('win7/reserved')}
  - what: win7/part2
    where: ${sb.path('win7/c')}
`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('losetup --find --show --read-only --partscan');
    expect(plan.stdout).toMatch(/warning: win10\/part3 \("Windows"\): it was not shut down cleanly/);
    expect(plan.stdout).toMatch(/warning: win7\/part2 \("Windows"\): Windows is hibernated on it/);
    expect(plan.stdout).toContain('source     win7/part1: ntfs "System Reserved"');
    expect(plan.stdout).toMatch(/\$ mount -t vfat -o ro,uid=0,gid=0,fmask=0137,dmask=0027,utf8,nosuid,nodev,noexec \{attach:win10:p1\}/);
    expect(plan.stdout).toMatch(/\$ mount -t ntfs-3g -o ro,uid=0,gid=0,fmask=0137,dmask=0027,nosuid,nodev,noexec \{attach:win10:p3\}/);
    await runProtocol(sb, {
      manifest: m, images: [img, img7], createdDirs: [sb.path('c'), sb.path('efi'), sb.path('win7')],
      whileApplied: () => {
        expect(read(sb.path('win7/c/Users/Public/Documents/notes.txt'))).toBe('evidence\r\n');
        expect(existsSync(sb.path('win7/c/hiberfil.sys'))).toBe(true);
        expect(read(sb.path('efi/EFI/Microsoft/Boot/bootmgfw.efi'))).toBe('MZ stand-in for the Windows boot manager\n');
        expect(read(sb.path('c/Users/Public/Documents/notes.txt'))).toBe('evidence\r\n');
      },
    });
  });

  it('the MSR is named as such, and type: ntfs3 needs a kernel with ntfs3 (Debian 12\'s has none)', async () => {
    await sb.windowsDisk('win10.img', 'win10', 'clean');
    const m = sb.writeManifest('bad.yaml', `version: 1
images:
  win10: { file: win10.img, format: raw }
mounts:
  - what: win10/part2
    where: ${sb.path('msr')}
  - what: win10/part3
    where: ${sb.path('c')}
    type: ntfs3
`);
    const r = await sb.imgplan(['plan', m]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('bad.yaml:5:11: error: win10/part2 is a Microsoft reserved partition (MSR)');
    expect(r.stderr).toContain('bad.yaml:9:11: error: win10/part3 holds ntfs, but type: ntfs3 asks for the kernel\'s ntfs3 driver, which this kernel does not have');
  });
});
