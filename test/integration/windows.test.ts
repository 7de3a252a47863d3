import { existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRoot, kernelHas, sh, sha256, useSandbox } from './harness.js';
import { read, runProtocol } from './protocol.js';

/** ntfs-3g over FUSE on a loop device: works on kernels without NTFS or partition scan (this host's). */
const canNtfs = isRoot && existsSync('/sbin/mount.ntfs-3g') && kernelHas('fuseblk');
const describeNtfs = canNtfs ? describe : describe.skip;

const sb = useSandbox();

function win7Manifest(file = 'win7.img', extra = ''): string {
  return sb.writeManifest('win7.yaml', `version: 1
images:
  win7:
    file: ${file}
    format: raw${extra}
mounts:
  - what: win7/part1
    where: ${sb.path('mnt/reserved')}
  - what: win7/part2
    where: ${sb.path('mnt/c')}
    type: ntfs
`);
}

async function fuseblkMounts(): Promise<{ target: string; options: string }[]> {
  const t = await sh(['findmnt', '--json', '--list', '--types', 'fuseblk', '--output', 'TARGET,OPTIONS']);
  return t.trim() ? (JSON.parse(t) as { filesystems: { target: string; options: string }[] }).filesystems.filter((m) => m.target.startsWith(sb.root)) : [];
}

describeNtfs('Windows guests on this kernel (ntfs-3g over FUSE on loop devices)', () => {
  it('Windows 7 disk: System Reserved and C: read-only, the files readable, the image unchanged', async () => {
    await sb.windowsDisk('win7.img', 'win7', 'clean');
    const m = win7Manifest();
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('source     win7/part1: ntfs "System Reserved"');
    expect(plan.stdout).toContain('source     win7/part2: ntfs "Windows"');
    expect(plan.stdout).toContain('driver     ntfs-3g (FUSE; findmnt shows it as fuseblk)');
    expect(plan.stdout).toContain('windows    NTFS 3.1, not hibernated, journal empty');
    expect(plan.stdout).toContain(`$ mount -t ntfs-3g -o ro,uid=0,gid=0,fmask=0137,dmask=0027,nosuid,nodev,noexec {attach:win7/part2} ${sb.path('mnt/c')}`);
    expect(plan.stderr).not.toMatch(/warning/);
    await runProtocol(sb, {
      manifest: m,
      images: [sb.path('win7.img')],
      createdDirs: [sb.path('mnt')],
      whileApplied: async () => {
        expect(read(sb.path('mnt/c/Users/Public/Documents/notes.txt'))).toBe('evidence\r\n');
        expect(existsSync(sb.path('mnt/c/Windows/System32/config/SYSTEM'))).toBe(true);
        expect(existsSync(sb.path('mnt/c/Program Files/Common Files'))).toBe(true);
        expect(statSync(sb.path('mnt/c/pagefile.sys')).size).toBe(1048576);
        // root-owned, not executable, closed to other users
        const st = statSync(sb.path('mnt/c/Users/Public/Documents/notes.txt'));
        expect([st.uid, st.mode & 0o777]).toEqual([0, 0o640]);
        const mounts = await fuseblkMounts();
        expect(mounts.map((x) => x.target).sort()).toEqual([sb.path('mnt/c'), sb.path('mnt/reserved')]);
        for (const x of mounts) expect(x.options.split(',')[0]).toBe('ro');
      },
    });
  });

  for (const state of ['hibernated', 'unclean', 'fast-startup'] as const) {
    it(`C: left ${state}: plan warns, the read-only mount works and writes nothing`, async () => {
      await sb.windowsDisk('win7.img', 'win7', state);
      const m = win7Manifest();
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      const why = { hibernated: /Windows is hibernated on it/, unclean: /it was not shut down cleanly/, 'fast-startup': /Windows kept its metadata cached/ }[state];
      expect(plan.stdout).toMatch(new RegExp(`warning: win7/part2 \\("Windows"\\): ${why.source}.* It is mounted read-only without touching Windows' state`));
      expect(plan.stdout).toMatch(/win7\.yaml:9:11: warning/);
      await runProtocol(sb, {
        manifest: m,
        images: [sb.path('win7.img')],
        createdDirs: [sb.path('mnt')],
        whileApplied: () => expect(read(sb.path('mnt/c/Users/Public/Documents/notes.txt'))).toBe('evidence\r\n'),
      });
    });
  }

  it('read-write of a hibernated or unclean C: is refused at plan time, at the manifest line; nothing is touched', async () => {
    for (const state of ['hibernated', 'unclean'] as const) {
      await sb.windowsDisk(`rw-${state}.img`, 'win7', state);
      const before = await sha256(sb.path(`rw-${state}.img`));
      const m = win7Manifest(`rw-${state}.img`, '\n    access: read-write');
      const r = await sb.imgplan(['apply', m, '--auto-approve', '--allow-writes']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`win7\\.yaml:10:11: error: win7/part2 \\("Windows"\\): .*; a read-write mount would discard that state`));
      expect(r.stderr).toContain('set discard_windows_state: true on this mount');
      expect(r.stderr).toContain('nothing was changed');
      expect(await sb.leaks()).toEqual([]);
      expect(await sha256(sb.path(`rw-${state}.img`))).toBe(before);
    }
  });

  it('discard_windows_state with --allow-writes: the plan says what is lost, and ntfs-3g removes hiberfil.sys', async () => {
    await sb.windowsDisk('win7.img', 'win7', 'hibernated');
    const m = sb.writeManifest('discard.yaml', `version: 1
images:
  win7: { file: win7.img, format: raw, access: read-write }
mounts:
  - what: win7/part2
    where: ${sb.path('c')}
    discard_windows_state: true
`);
    const plan = await sb.imgplan(['plan', m, '--allow-writes']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/win7\/part2 \("Windows"\) is mounted read-write although Windows is hibernated on it .* This destroys state: \\hiberfil\.sys is deleted: the hibernated Windows session \(open programs, unsaved documents\) is lost for good/);
    expect(plan.stdout).toContain('-o uid=0,gid=0,fmask=0137,dmask=0027,nosuid,nodev,remove_hiberfile');
    const apply = await sb.imgplan(['apply', m, '--auto-approve', '--allow-writes']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    try {
      expect(existsSync(sb.path('c/hiberfil.sys'))).toBe(false);
      expect((await fuseblkMounts())[0]?.options.split(',')[0]).toBe('rw');
    } finally {
      expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
    }
    // the volume is no longer hibernated: a read-only plan has nothing to warn about
    const after = await sb.imgplan(['plan', win7Manifest()]);
    expect(after.stdout).toContain('windows    NTFS 3.1, not hibernated, journal empty');
  });

  it('an NTFS filesystem image (no partition table: its boot sector looks like an empty MBR to sfdisk) mounts whole', async () => {
    const img = sb.path('c-drive.img');
    await sh(['truncate', '-s', '16M', img]);
    await sh(['mkntfs', '--quick', '--force', '--label', 'Data', img]);
    const m = sb.writeManifest('whole.yaml', `version: 1\nimages:\n  d: { file: c-drive.img, format: raw }\nmounts:\n  - { what: d, where: ${sb.path('d')} }\n`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('source     d: ntfs "Data"');
    await runProtocol(sb, { manifest: m, images: [img], createdDirs: [sb.path('d')], whileApplied: () => expect(existsSync(sb.path('d'))).toBe(true) });
  });

  it('Windows 10 disk: C: mounts; the MSR is named as such; EFI vfat needs a kernel with vfat', async () => {
    await sb.windowsDisk('win10.img', 'win10', 'clean');
    const m = sb.writeManifest('win10.yaml', `version: 1
images:
  win10: { file: win10.img, format: raw }
mounts:
  - what: win10/part3
    where: ${sb.path('c')}
`);
    await runProtocol(sb, {
      manifest: m, images: [sb.path('win10.img')], createdDirs: [sb.path('c')],
      whileApplied: () => expect(read(sb.path('c/Users/Public/Documents/notes.txt'))).toBe('evidence\r\n'),
    });
    const msr = sb.writeManifest('msr.yaml', `version: 1\nimages:\n  win10: { file: win10.img, format: raw }\nmounts:\n  - what: win10/part2\n    where: ${sb.path('msr')}\n`);
    const r = await sb.imgplan(['plan', msr]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('msr.yaml:5:11: error: win10/part2 is a Microsoft reserved partition (MSR): Windows keeps it empty, there is no filesystem in it to mount');
    if (!kernelHas('vfat')) {
      const efi = sb.writeManifest('efi.yaml', `version: 1\nimages:\n  win10: { file: win10.img, format: raw }\nmounts:\n  - what: win10/part1\n    where: ${sb.path('efi')}\n`);
      const e = await sb.imgplan(['plan', efi]);
      expect(e.code).toBe(3);
      expect(e.stderr).toMatch(/error: win10\/part1 holds vfat, but this kernel \(.*\) cannot mount vfat: it is not in \/proc\/filesystems and modprobe finds no module fs-vfat/);
    }
  });
});
