/**
 * `imgplan inspect`'s guest identity: the files of each Linux volume, read with the real kernel
 * (ext4, btrfs, mount's autoclear loops) in a private mount and PID namespace, from images the
 * tests build and fill; nothing left on the host, even when imgplan is killed, nothing written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { ImageReport, InspectReport } from '../../src/core/inspect.js';
import { CLI, isRoot, sh, sha256, useSandbox } from './harness.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(
  JSON.parse(readFileSync(new URL('../../schemas/inspect.schema.json', import.meta.url), 'utf8')) as object,
);

async function inspectJson(images: string[]): Promise<{ code: number; images: ImageReport[]; stderr: string }> {
  const r = await sb.imgplan(['inspect', '--json', ...images]);
  const report = JSON.parse(r.stdout) as InspectReport;
  expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
  return { code: r.code, images: [...report.images], stderr: r.stderr };
}

const DEBIAN_OS = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`;

/** CentOS 6: MBR, p1 /boot, p2 a PV of VolGroup whose lv_root holds / (ifcfg-eth0, no os-release). */
async function centos6(): Promise<string> {
  const file = sb.path('centos6.img');
  const out = await sh(['bash', new URL('../support/lvm-disk.sh', import.meta.url).pathname, 'centos-offline', file]);
  const [p1, n1, lv, nlv] = out.trim().split(' ').map(Number) as [number, number, number, number];
  await sb.populate(file, p1, n1, 'ext4', 'boot', { 'vmlinuz-2.6.32-754.el6.x86_64': 'kernel', 'grub/grub.conf': 'default=0\n' });
  await sb.populate(file, lv, nlv, 'ext4', 'root', {
    'etc/redhat-release': 'CentOS release 6.10 (Final)\n',
    'etc/sysconfig/network': 'NETWORKING=yes\nHOSTNAME=web01.example.com\n',
    'etc/sysconfig/network-scripts/ifcfg-eth0': 'DEVICE=eth0\nHWADDR=52:54:00:AB:CD:01\nBOOTPROTO=static\nIPADDR=192.168.10.21\n' +
      'NETMASK=255.255.255.0\nGATEWAY=192.168.10.1\nONBOOT=yes\n',
    'etc/sysconfig/network-scripts/ifcfg-lo': 'DEVICE=lo\nIPADDR=127.0.0.1\n',
    'etc/fstab': '/dev/mapper/VolGroup-lv_root /  ext4 defaults 1 1\nLABEL=boot /boot ext4 defaults 1 2\n' +
      '/dev/mapper/VolGroup-lv_swap swap swap defaults 0 0\ntmpfs /dev/shm tmpfs defaults 0 0\n' +
      'UUID=0a1b2c3d-1111-2222-3333-444455556666 /data ext4 defaults,nofail 1 2\n',
    'boot/': '',
  });
  return file;
}

describeRoot('imgplan inspect: who the guest is (host kernel)', () => {
  it('CentOS 6 on LVM, Debian on GPT with ifupdown, Ubuntu on btrfs with netplan: OS, hostname, machine-id, kernels, fstab, network', async () => {
    const centos = await centos6();
    const debian = await sb.partitionedImage('debian12.img', 96, 'gpt', [
      { size: '16M', fs: 'vfat', label: 'EFI', name: 'EFI System' },
      {
        fs: 'ext4', label: 'root', files: {
          'etc/os-release': { link: '../usr/lib/os-release' }, 'usr/lib/os-release': DEBIAN_OS,
          'etc/hostname': 'db01\n', 'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
          'etc/network/interfaces': 'source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n\nallow-hotplug ens3\n' +
            'iface ens3 inet static\n    address 10.0.0.5/24\n    gateway 10.0.0.1\n',
          'etc/fstab': '# <file system> <mount point> <type> <options> <dump> <pass>\nLABEL=root / ext4 errors=remount-ro 0 1\n' +
            'LABEL=EFI /boot/efi vfat umask=0077 0 1\n/dev/sdb1 /srv/data ext4 defaults,nofail 0 2\nbroken-line\n',
          'boot/vmlinuz-6.1.0-26-amd64': 'k', 'boot/vmlinuz-6.1.0-28-amd64': 'k', 'boot/initrd.img-6.1.0-28-amd64': 'i',
        },
      },
    ]);
    const ubuntu = await sb.wholeImage('ubuntu.img', 128, 'btrfs', 'ubuntu-root', {
      'etc/os-release': 'NAME="Ubuntu"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\nVERSION_ID="22.04"\n' +
        'PRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
      'etc/hostname': 'app01\n',
      'etc/netplan/50-cloud-init.yaml': 'network:\n  version: 2\n  ethernets:\n    eth0:\n      match:\n        macaddress: "52:54:00:12:34:56"\n' +
        '      set-name: eth0\n      dhcp4: true\n',
    });
    const images = [centos, debian, ubuntu];
    const before = await Promise.all(images.map(sha256));

    const { code, images: [c, d, u], stderr } = await inspectJson(images);
    expect(code, stderr).toBe(0);
    expect(c!.guests).toEqual([expect.objectContaining({
      root: 'VolGroup/lv_root', hostname: 'web01.example.com', boot: 'part1', kernels: ['2.6.32-754.el6.x86_64'],
      os: expect.objectContaining({ pretty_name: 'CentOS release 6.10 (Final)', version: '6.10', source: '/etc/redhat-release' }),
      network: [expect.objectContaining({
        name: 'eth0', mac: '52:54:00:ab:cd:01', addresses: ['192.168.10.21/24'], gateway: '192.168.10.1',
        source: '/etc/sysconfig/network-scripts/ifcfg-eth0',
      })],
    })]);
    // the fstab's LV names resolve to this image's VG; an unknown UUID is reported, not fatal
    const cfstab = c!.guests![0]!.fstab!;
    expect(cfstab.find((e) => e.file === '/')).toMatchObject({ spec: '/dev/mapper/VolGroup-lv_root', volume: 'VolGroup/lv_root' });
    expect(cfstab.find((e) => e.file === '/boot')).toMatchObject({ spec: 'LABEL=boot', volume: 'part1' });
    expect(cfstab.find((e) => e.file === '/data')).toMatchObject({ note: 'UUID 0a1b2c3d-1111-2222-3333-444455556666: not in this image' });
    expect(c!.unread ?? []).toEqual([]);

    expect(d!.guests).toEqual([expect.objectContaining({
      root: 'part2', hostname: 'db01', machine_id: '0123456789abcdef0123456789abcdef', kernels: ['6.1.0-26-amd64', '6.1.0-28-amd64'],
      os: expect.objectContaining({ id: 'debian', version_id: '12', pretty_name: 'Debian GNU/Linux 12 (bookworm)', source: '/etc/os-release' }),
      network: [expect.objectContaining({ name: 'ens3', addresses: ['10.0.0.5/24'], gateway: '10.0.0.1', source: '/etc/network/interfaces' })],
    })]);
    const dfstab = d!.guests![0]!.fstab!;
    expect(dfstab.map((e) => [e.file, e.volume])).toEqual([['/', 'part2'], ['/boot/efi', 'part1'], ['/srv/data', undefined]]);
    expect(dfstab[2]).toMatchObject({ options: ['defaults', 'nofail'], note: expect.stringContaining('device name') });
    expect(d!.guests![0]!.problems).toEqual([expect.stringMatching(/^\/etc\/fstab line 5: /)]);

    expect(u!.guests).toEqual([expect.objectContaining({
      root: 'whole', hostname: 'app01', os: expect.objectContaining({ id: 'ubuntu', version_id: '22.04' }),
      network: [expect.objectContaining({ name: 'eth0', mac: '52:54:00:12:34:56', dhcp: true, source: '/etc/netplan/50-cloud-init.yaml' })],
    })]);

    // text for people: the guest first, then its disk
    const text = await sb.imgplan(['inspect', debian]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${debian}: raw, 96.0 MiB\n  guest on part2: Debian GNU/Linux 12 (bookworm)\n    hostname db01  machine-id 0123456789abcdef0123456789abcdef\n`);
    expect(text.stdout).toMatch(/network ens3 {2}10\.0\.0\.5\/24 {2}gateway 10\.0\.0\.1 {2}\(\/etc\/network\/interfaces\)/);
    expect(text.stdout).toMatch(/\/srv\/data +\/dev\/sdb1 ext4 defaults,nofail {2}\(a device name/);

    expect(await sb.leaks()).toEqual([]);
    expect(await sh(['findmnt', '--list', '--noheadings', '--output', 'SOURCE'])).not.toContain('imgplan-inspect');
    expect(await Promise.all(images.map(sha256))).toEqual(before);
  });

  it('a qcow2 guest, alone and under an overlay: read through a raw view the reader serves itself (qemu-storage-daemon in its namespaces)', async () => {
    const raw = await sb.partitionedImage('web02.img', 64, 'gpt', [
      { size: '16M', fs: 'ext4', label: 'boot', files: { 'vmlinuz-6.1.0-28-amd64': 'k' } },
      { fs: 'ext4', label: 'root', files: { 'etc/os-release': DEBIAN_OS, 'etc/hostname': 'web02\n', 'etc/fstab': 'LABEL=root / ext4 defaults 0 1\nLABEL=boot /boot ext4 defaults 0 2\n', 'boot/': '' } },
    ]);
    const base = sb.path('web02.qcow2');
    const top = sb.path('web02-top.qcow2');
    await sh(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, base]);
    await sh(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top]);
    const before = await Promise.all([base, top].map(sha256));
    const { code, images, stderr } = await inspectJson(['--format', 'qcow2', base, top]);
    expect(code, stderr).toBe(0);
    for (const r of images) {
      expect(r.guests, r.file).toEqual([expect.objectContaining({
        root: 'part2', hostname: 'web02', boot: 'part1', kernels: ['6.1.0-28-amd64'], os: expect.objectContaining({ id: 'debian' }),
      })]);
      expect(r.unread ?? []).toEqual([]);
    }
    expect(await sb.leaks()).toEqual([]);
    expect(await sh(['pgrep', '-f', `qemu-storage-daemon.*${sb.stateDir}`]).catch(() => '')).toBe('');
    expect(await sh(['findmnt', '--list', '--noheadings', '--output', 'SOURCE'])).not.toContain('imgplan-inspect');
    expect(await Promise.all([base, top].map(sha256))).toEqual(before);
  });

  it('a hostile guest: links that climb out of it, loop, or lead to the host\'s files read the guest\'s own tree, never the host\'s', async () => {
    const evil = await sb.wholeImage('evil.img', 32, 'ext4', 'evil', {
      'etc/os-release': { link: '/../../../../../../etc/os-release-of-the-host' },
      'etc/os-release-of-the-host': 'ID=inside\nNAME="stays inside"\n',
      'etc/hostname': { link: '../../../../proc/self/environ' },
      'etc/machine-id': { link: '/etc/machine-id' },
      'etc/fstab': { link: '/etc/shadow' },
      'etc/network/interfaces': { link: '/dev/zero' },
      'dev/': '',
    });
    const before = await sha256(evil);
    const { code, images: [r] } = await inspectJson([evil]);
    expect(code).toBe(0);
    const g = r!.guests![0]!;
    expect(g.os).toMatchObject({ id: 'inside', name: 'stays inside' });
    // /proc/self/environ inside the guest does not exist; /etc/shadow inside the guest does not either
    expect(g.hostname).toBeUndefined();
    expect(g.machine_id).toBeUndefined();
    expect(g.problems).toEqual(['/etc/machine-id: more than 40 symbolic links']);
    expect(g.network).toEqual([]);
    expect(await sb.leaks()).toEqual([]);
    expect(await sha256(evil)).toBe(before);
  });

  it.each(['raw', 'qcow2'])('killed while the reader waits on a mount (SIGKILL, %s): its lifeline ends it; loop, mount and QEMU view go with it', async (format) => {
    const raw = await sb.wholeImage('root.img', 32, 'ext4', 'root', { 'etc/os-release': DEBIAN_OS });
    const img = format === 'raw' ? raw : sb.path('root.qcow2');
    if (format === 'qcow2') await sh(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, img]);
    const before = await sha256(img);
    // a mount that mounts, then does not return (as one over a dying disk): only the reader's lifeline can end the reader
    const bin = sb.path('bin');
    const mark = sb.path('mounted');
    await mkdir(bin);
    await writeFile(`${bin}/mount`, `#!/bin/sh\ncase "$*" in *loop,offset=*) /usr/bin/mount "$@" && touch ${mark} && exec sleep 600 ;; esac\nexec /usr/bin/mount "$@"\n`,
      { mode: 0o755 });
    const child = execa(process.execPath, [CLI, 'inspect', '--format', format, img], {
      reject: false, stdin: 'ignore', env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH}` },
    });
    for (let i = 0; i < 600 && !existsSync(mark) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(mark), 'the reader mounted the image').toBe(true);
    // a raw image's loop is backed by the image; a qcow2's by the view in the reader's own tmpfs, served by its daemon
    if (format === 'raw') expect(await sh(['losetup', '--list', '--noheadings', '--output', 'BACK-FILE'])).toContain(img);
    else expect(await sh(['pgrep', '-f', `qemu-storage-daemon.*${sb.stateDir}`])).not.toBe('');
    child.kill('SIGKILL');
    await child;
    const pids = async (pattern: string) => (await sh(['pgrep', '-f', pattern]).catch(() => '')).split('\n').filter(Boolean);
    const left = async () => [...await sb.leaks(), ...await pids(`__read-guest.*${sb.stateDir}`), ...await pids(`qemu-storage-daemon.*${sb.stateDir}`)];
    let found = await left();
    for (let i = 0; i < 100 && found.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      found = await left();
    }
    expect(found).toEqual([]);
    expect(await sh(['pgrep', '-f', img]).catch(() => '')).toBe('');
    expect(await sha256(img)).toBe(before);
  });
});
