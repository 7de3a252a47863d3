/**
 * `imgplan init`: a starter manifest from what inspect reads, then the whole cycle on it as it
 * is (validate, plan, apply, the guest's files read, destroy), on images the tests build with the
 * real tools and this machine's kernel (ext4, btrfs subvolumes, NTFS through ntfs-3g).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isRoot, sh, sha256, useSandbox } from './harness.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();

interface Starter {
  images: Record<string, { file: string; format: string }>;
  mounts: { what: string; where: string; type: string; options?: string[] }[];
}

/** init, then validate, plan, apply, `check` on the mounted tree, destroy: each step as a user runs it, the images unchanged. */
async function cycle(args: string[], images: string[], check: () => void): Promise<{ text: string; starter: Starter }> {
  const before = await Promise.all(images.map(sha256));
  const init = await sb.imgplan(['init', ...args, ...images]);
  expect(init.code, init.stderr).toBe(0);
  expect(await sb.leaks()).toEqual([]);
  const manifest = sb.writeManifest('starter.yaml', init.stdout);
  const valid = await sb.imgplan(['validate', manifest]);
  expect(valid.code, valid.stderr).toBe(0);
  const plan = await sb.imgplan(['plan', manifest, '--detailed-exitcode']);
  expect(plan.code, plan.stdout + plan.stderr).toBe(2);
  expect(plan.stdout).not.toMatch(/error/i);
  const apply = await sb.imgplan(['apply', manifest, '--auto-approve']);
  expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  try {
    check();
  } finally {
    const destroy = await sb.imgplan(['destroy', manifest, '--auto-approve']);
    expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
  }
  expect(await sb.leaks()).toEqual([]);
  expect(await Promise.all(images.map(sha256))).toEqual(before);
  return { text: init.stdout, starter: parse(init.stdout) as Starter };
}

describeRoot('imgplan init (host kernel)', () => {
  it('a Debian guest on two disks: its fstab\'s mounts across both, swap, network, nofail and what is not here left out with why', async () => {
    const disk = await sb.partitionedImage('web01.img', 96, 'gpt', [
      { size: '24M', fs: 'ext4', label: 'boot', files: { 'vmlinuz-6.1.0-28-amd64': 'kernel' } },
      {
        size: '48M', fs: 'ext4', label: 'root', files: {
          'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
          // a hostile hostname (an escape sequence that would recolour a terminal): not a hostname, so not reported
          'etc/hostname': 'web01\u001b[31m\n',
          'etc/network/interfaces': 'auto ens3\niface ens3 inet static\n    address 192.168.122.21/24\n    gateway 192.168.122.1\n',
          'etc/fstab': 'LABEL=root / ext4 errors=remount-ro 0 1\nLABEL=boot /boot ext4 defaults 0 2\n' +
            'LABEL=data /srv ext4 defaults 0 2\n/dev/vda9 none swap sw 0 0\nnas:/export /mnt/nas nfs defaults 0 0\n' +
            'LABEL=scratch /scratch ext4 defaults,nofail 0 2\nLABEL=gone /opt ext4 defaults 0 2\nLABEL=gone2 /opt/sub ext4 defaults 0 2\n' +
            'LABEL=boot /../../etc ext4 defaults 0 0\nLABEL=root /tmp/\u001b]0;x\u0007 ext4 defaults 0 0\n',
          'boot/': '', 'srv/': '', 'opt/': '',
        },
      },
    ]);
    const data = sb.path('web01-data.img');
    await sh(['truncate', '-s', '32M', data]);
    await sb.populate(data, 0, 0, 'ext4', 'data');
    const where = sb.path('case42');
    const { text, starter } = await cycle(['--where', where], [disk, data], () => {
      expect(readFileSync(`${where}/web01/etc/os-release`, 'utf8')).toContain('bookworm');
      expect(readFileSync(`${where}/web01/boot/vmlinuz-6.1.0-28-amd64`, 'utf8')).toBe('kernel');
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(`${where}/web01/srv `);
    });
    expect(starter.images).toEqual({ web01: { file: disk, format: 'raw' }, 'web01-data': { file: data, format: 'raw' } });
    expect(starter.mounts).toEqual([
      { what: 'web01/part2', where: `${where}/web01`, type: 'ext4' },
      { what: 'web01/part1', where: `${where}/web01/boot`, type: 'ext4' },
      { what: 'web01-data', where: `${where}/web01/srv`, type: 'ext4' },
    ]);
    // who the guest is, and what was left out and why, as comments; the image's escape sequences escaped
    expect(text).toContain('# web01: ' + disk + ': Debian GNU/Linux 12 (bookworm) on part2');
    expect(text).toContain('#   hostname (none found)');
    expect(text).toContain('# note: web01-data: mounted as the fstab of a guest on another image says');
    expect(text).toContain('#   ens3 192.168.122.21/24 (/etc/network/interfaces)');
    expect(text).toMatch(/# note: fstab line 4, none \(\/dev\/vda9\): left out: swap/);
    expect(text).toMatch(/# note: fstab line 5, \/mnt\/nas \(nas:\/export\): left out: a network filesystem/);
    expect(text).toMatch(/# note: fstab line 6, \/scratch \(LABEL=scratch\): left out: nofail/);
    expect(text).toMatch(/# note: fstab line 7, \/opt \(LABEL=gone\): left out: label gone: not in this image/);
    expect(text).toMatch(/# note: fstab line 8, \/opt\/sub \(LABEL=gone2\): left out: it is inside \/opt, which is not mounted/);
    expect(text).toMatch(/# note: fstab line 9, \/\.\.\/\.\.\/etc \(LABEL=boot\): left out: its mountpoint is not a plain absolute path/);
    expect(text).toContain('/tmp/\\e]0;x\\x07 (LABEL=root): left out: its mountpoint is not a plain absolute path');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });

  it('Ubuntu on btrfs: / in subvolume @ found and mounted with subvol=@; the same volume\'s @home is named, not mounted twice', async () => {
    const file = sb.path('app01.img');
    await sh(['truncate', '-s', '128M', file]);
    await sb.populate(file, 0, 0, 'btrfs', 'ubuntu', {
      '@': { subvolume: true }, '@home': { subvolume: true },
      '@/etc/os-release': 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n',
      '@/etc/hostname': 'app01\n',
      '@/etc/fstab': 'LABEL=ubuntu / btrfs defaults,subvol=@ 0 1\nLABEL=ubuntu /home btrfs defaults,subvol=@home 0 2\n',
      '@/boot/vmlinuz-6.8.0-45-generic': 'k', '@/home/': '', '@home/alice/notes.txt': 'alice\n',
    });
    const inspect = await sb.imgplan(['inspect', file]);
    expect(inspect.stdout).toContain('guest on whole (btrfs subvolume @): Ubuntu 24.04.1 LTS');
    expect(inspect.stdout).toContain('kernels: 6.8.0-45-generic');
    expect(inspect.stdout).toContain('  btrfs subvolumes of whole: @ (id 256), @home (id 257); default: the top level');
    const where = sb.path('app01');
    const { text, starter } = await cycle(['--where', where], [file], () => {
      expect(readFileSync(`${where}/etc/hostname`, 'utf8')).toBe('app01\n');
    });
    expect(starter.mounts).toEqual([{ what: 'app01', where, type: 'btrfs', options: ['subvol=@'] }]);
    expect(text).toContain('# app01: ' + file + ': Ubuntu 24.04.1 LTS on whole (subvolume @)');
    expect(text).toContain('# note: /home in the guest\'s fstab (LABEL=ubuntu): app01 is mounted already (imgplan mounts each volume once)');
  });

  it('a Windows disk: each filesystem in a folder of its own under /mnt/NAME, Windows\' own volume first, its identity from the registry', async () => {
    const file = await sb.windowsDisk('win7.img', 'win7');
    const init = await sb.imgplan(['init', file]);
    expect(init.code, init.stderr).toBe(0);
    expect((parse(init.stdout) as Starter).mounts).toEqual([
      { what: 'win7/part2', where: '/mnt/win7/part2', type: 'ntfs' },
      { what: 'win7/part1', where: '/mnt/win7/part1', type: 'ntfs' },
    ]);
    expect(init.stdout).toContain(`# win7: ${file}: Windows 7 Professional (6.1, build 7601) on part2\n  #   computer name WIN7-PC\n`);
    expect(init.stdout).toContain('# note: Windows: each filesystem is mounted in a folder of its own, the Windows volume first');
    expect(init.stdout).toContain('# Windows (Windows 7 Professional), ntfs "Windows" Windows: clean, 55.0 MiB');
    expect(init.stdout).toMatch(/# ntfs "System Reserved" Windows: clean, 8\.0 MiB/);
    const where = sb.path('win7');
    await cycle(['--where', where], [file], () => {
      expect(readFileSync(`${where}/part2/Users/Public/Documents/notes.txt`, 'utf8')).toBe('evidence\r\n');
    });
  });

  it('a qcow2 guest: its fstab read through QEMU, the manifest names the format, and apply opens it through a QEMU backend', async () => {
    const raw = await sb.partitionedImage('db01.img', 64, 'dos', [
      { size: '16M', fs: 'ext4', label: 'boot', files: { 'grub/grub.cfg': 'set default=0\n' } },
      { fs: 'ext4', label: 'root', files: {
        'etc/os-release': 'PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\nID=rocky\n', 'etc/hostname': 'db01\n', 'boot/': '',
        'etc/fstab': 'LABEL=root / ext4 defaults 1 1\nLABEL=boot /boot ext4 defaults 1 2\n' } },
    ]);
    const file = sb.path('db01.qcow2');
    await sh(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, file]);
    const where = sb.path('db01');
    const { starter } = await cycle(['--format', 'qcow2', '--where', where], [file], () => {
      expect(readFileSync(`${where}/boot/grub/grub.cfg`, 'utf8')).toBe('set default=0\n');
      expect(readFileSync(`${where}/etc/hostname`, 'utf8')).toBe('db01\n');
    });
    expect(starter.images).toEqual({ db01: { file, format: 'qcow2' } });
    expect(starter.mounts.map((m) => m.what)).toEqual(['db01/part2', 'db01/part1']);
  });

  it('refuses what it cannot write a manifest for, changing nothing: a missing image, a bad --where, an unknown format', async () => {
    const missing = await sb.imgplan(['init', sb.path('nope.img')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/cannot write a manifest for .*nope\.img \(no such file\)/);
    const file = sb.path('blank.img');
    await sh(['truncate', '-s', '8M', file]);
    for (const where of ['relative/dir', '/', '/mnt/../etc']) {
      const r = await sb.imgplan(['init', '--where', where, file]);
      expect(r.code, where).toBe(3);
      expect(r.stderr).toContain('--where must be a normalised absolute path');
    }
    const format = await sb.imgplan(['init', '--format', 'iso', file]);
    expect(format.code).toBe(3);
    // nothing on it: a manifest that names the image and mounts nothing, and says so
    const blank = await sb.imgplan(['init', file]);
    expect(blank.code, blank.stderr).toBe(0);
    expect(blank.stdout).toContain('# note: nothing on it that imgplan can mount');
    expect(parse(blank.stdout)).toMatchObject({ mounts: [] });
  });
});
