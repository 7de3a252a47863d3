/**
 * QEMU images through nbd (VM lane: Debian's stock kernel has the nbd module; with and without
 * udev): qemu-nbd connects each image read-only to /dev/nbdN, whose kernel partitions (or kpartx
 * maps, or offset loops where max_part is 0) the mounts use. The storage-daemon path runs here
 * too, with a partition scan of its view. Images come from test/support/qemu-disk.sh and
 * lvm-disk.sh; the leak guard also catches nbd connections and QEMU daemons left behind.
 */
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { capabilities, isRoot, sh, sha256, useSandbox } from '../integration/harness.js';
import { read, runProtocol } from '../integration/protocol.js';

const sb = useSandbox();
const udev = process.env.LANE_UDEV === '1' ? 'with udev' : 'without udev';
const canNbd = isRoot && existsSync('/usr/bin/qemu-nbd') && (existsSync('/sys/module/nbd') || (await sh(['modprobe', '--dry-run', '--quiet', 'nbd']).then(() => true, () => false)));

// `modprobe -r` of a module that is not loaded fails: either way, it is not loaded afterwards
const modprobe = (...args: string[]) => execa('modprobe', args, { reject: args[0] !== '-r' });
const ourMounts = async () => (await sh(['findmnt', '--list', '--noheadings', '--output', 'SOURCE,TARGET,OPTIONS'])).split('\n').filter((l) => l.includes(sb.root) && !/\.raw /.test(l));

// Under TCG every CLI call costs seconds: one manifest covers many cases, one protocol run each.
describe.skipIf(!canNbd)(`QEMU images through nbd (${udev})`, () => {
  it('one manifest: qcow2 chain, vdi, LVM in qcow2, overlay on a dirty ext4 and an image in use through nbd (the module loaded first), vmdk through a storage-daemon view with partition scan', async () => {
    // start from an unloaded module: apply loads it, and the plan says so
    await modprobe('-r', 'nbd');
    await sb.qemuDisk('chain', sb.path('base.qcow2'), sb.path('top.qcow2'));
    await sb.qemuDisk('convert', 'vmdk', sb.path('disk.vmdk'));
    await sb.qemuDisk('whole', 'vdi', sb.path('data.vdi'));
    await sb.qemuDisk('dirty-ext4-qcow2', sb.path('dirty.qcow2'));
    await sb.qemuDisk('whole', 'qcow2', sb.path('live.qcow2'));
    const [raw] = await sb.lvmDisk('centos', ['web01.img']);
    await sh(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw!, sb.path('web01.qcow2')]);
    const images = ['base.qcow2', 'top.qcow2', 'disk.vmdk', 'data.vdi', 'dirty.qcow2', 'live.qcow2', 'web01.qcow2'].map((f) => sb.path(f));
    const before = await Promise.all(images.map(sha256));
    const m = sb.writeManifest('q.yaml', `version: 1
images:
  top: { file: top.qcow2, format: qcow2 }
  disk: { file: disk.vmdk, format: vmdk, qemu_backend: storage-daemon }
  data: { file: data.vdi, format: vdi }
  dirty: { file: dirty.qcow2, format: qcow2, access: overlay }
  live: { file: live.qcow2, format: qcow2, allow_live: true }
  web01: { file: web01.qcow2, format: qcow2 }
mounts:
  - { what: top/part2, where: ${sb.path('mnt/top')} }
  - { what: top/part1, where: ${sb.path('mnt/top-boot')} }
  - { what: disk/part2, where: ${sb.path('mnt/disk')} }
  - { what: data, where: ${sb.path('mnt/data')} }
  - { what: dirty, where: ${sb.path('mnt/dirty')} }
  - { what: live, where: ${sb.path('mnt/live')} }
  - { what: web01/VolGroup/lv_root, where: ${sb.path('mnt/web01')} }
  - { what: web01/part1, where: ${sb.path('mnt/web01/boot')} }
`);
    const stopHolder = await sb.holdLock(sb.path('live.qcow2'), 'qcow2');
    try {
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      const out = plan.stdout;
      expect(out).toContain(`image      ${sb.path('top.qcow2')} (qcow2, 64.0 MiB virtual) → backing ${sb.path('base.qcow2')} (qcow2)`);
      expect(out).toMatch(/backend +qemu-nbd connects \/dev\/nbd\d+ \(the kernel has nbd; the module is loaded first, with max_part=16\)/);
      expect(out).toContain('$ modprobe nbd max_part=16');
      expect(out).toMatch(new RegExp(`\\$ qemu-nbd --read-only --format=qcow2 --pid-file=\\S+/top\\.pid --connect=/dev/nbd\\d+ ${sb.path('top.qcow2')}\\n`));
      expect(out).toMatch(/\$ mount -t ext4 -o ro,noload,nosuid,nodev,noexec \{nbd:top:p2\} /);
      expect(out).toMatch(/\$ losetup --find --show --read-only --partscan \S+\/disk\.raw/);
      // overlay: qemu-nbd writable over the throw-away overlay, and a mount that may replay
      expect(out).toMatch(/\$ qemu-nbd --format=qcow2 --pid-file=\S+ --connect=\/dev\/nbd\d+ \S+\/dirty\.overlay\.qcow2\n/);
      expect(out).toMatch(/\$ mount -t ext4 -o ro,nosuid,nodev,noexec \{nbd:dirty\} /);
      // in use: shared locking, which qemu-nbd only takes as --image-opts
      expect(out).toMatch(/warning: image live is in use by another process/);
      expect(out).toMatch(new RegExp(`\\$ qemu-nbd --read-only --image-opts --pid-file=\\S+ --connect=/dev/nbd\\d+ driver=qcow2,file\\.driver=file,file\\.filename=${sb.path('live.qcow2').replace(/[.]/g, '\\.')},force-share=on\\n`));
      expect(out).toMatch(/lvchange --activate y --devices \{nbd:web01:p2\} --config 'activation\{read_only_volume_list=\["VolGroup"\]\}'/);
      // five images through nbd, each on its own device
      const devices = [...out.matchAll(/--connect=(\/dev\/nbd\d+)/g)].map((x) => x[1]);
      expect(new Set(devices).size).toBe(5);
      await runProtocol(sb, {
        manifest: m, images: [], createdDirs: [sb.path('mnt')],
        whileApplied: async () => {
          expect(read(sb.path('mnt/top/etc/motd'))).toBe('from the top layer\n');
          expect(read(sb.path('mnt/top-boot/grub/grub.cfg'))).toBe('default=0\n');
          expect(read(sb.path('mnt/disk/etc/hostname'))).toBe('guest\n');
          expect(read(sb.path('mnt/data/srv/www/index.html'))).toBe('<h1>ok</h1>\n');
          expect(read(sb.path('mnt/dirty/etc/after-crash.txt'))).toBe('written before the crash\n');
          expect(read(sb.path('mnt/live/srv/www/index.html'))).toBe('<h1>ok</h1>\n');
          expect(read(sb.path('mnt/web01/etc/sysconfig/network-scripts/ifcfg-eth0'))).toBe('DEVICE=eth0\n');
          expect(read(sb.path('mnt/web01/boot/grub/grub.conf'))).toBe('default=0\n');
          const mounts = await ourMounts();
          expect(mounts).toHaveLength(8);
          expect(mounts.filter((l) => /^\/dev\/nbd\d+p[12] /.test(l))).toHaveLength(3);
          expect(mounts.filter((l) => /^\/dev\/nbd\d+ /.test(l))).toHaveLength(3);
          expect(mounts.filter((l) => /^\/dev\/loop\d+p2 /.test(l))).toHaveLength(1);
          expect(mounts.filter((l) => /^\/dev\/mapper\/VolGroup-lv_root /.test(l))).toHaveLength(1);
          for (const l of mounts) expect(l).toMatch(/\sro[,\s]/);
          // read-only nbd devices, but the overlay's
          const ro = (n: string) => readFileSync(`/sys/block/${n}/ro`, 'utf8').trim();
          for (const l of mounts) {
            const n = /^\/dev\/(nbd\d+)/.exec(l)?.[1];
            if (n) expect([l.split(' ')[1], ro(n)]).toEqual([l.split(' ')[1], l.includes('/mnt/dirty ') ? '0' : '1']);
          }
          expect((await sh(['dmsetup', 'info', '--columns', '--noheadings', '--options', 'attr', 'VolGroup-lv_root'])).trim()).toMatch(/^L-.r/);
          expect(await sh(['dmsetup', 'table', 'VolGroup-lv_root'])).toMatch(/linear 43:\d+ /); // over an nbd partition
        },
      });
    } finally {
      await stopHolder();
    }
    expect((await sh(['dmsetup', 'info', '--columns', '--noheadings', '--options', 'name'])).split('\n').filter((l) => l.trim().startsWith('VolGroup'))).toEqual([]);
    expect(await Promise.all(images.map(sha256)), 'image contents must not change').toEqual(before);
  });

  it('no FUSE (/dev/fuse made absent): plan still reads a qcow2, in user space, and chooses nbd; apply and destroy work', async () => {
    await sb.qemuDisk('convert', 'qcow2', sb.path('nofuse.qcow2'));
    const before = await sha256(sb.path('nofuse.qcow2'));
    const m = sb.writeManifest('nofuse.yaml', `version: 1
images:
  g: { file: nofuse.qcow2, format: qcow2 }
mounts:
  - { what: g/part2, where: ${sb.path('nf/root')} }
  - { what: g/part1, where: ${sb.path('nf/boot')} }
`);
    // the VM is throw-away, but the node is put back all the same
    const hidden = '/dev/.fuse-hidden-by-test';
    const hadFuse = existsSync('/dev/fuse');
    if (hadFuse) renameSync('/dev/fuse', hidden);
    try {
      expect(existsSync('/dev/fuse')).toBe(false);
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toMatch(/backend +qemu-nbd connects \/dev\/nbd\d+ \(the kernel has nbd/);
      expect(plan.stdout).toContain('g/part2: ext4 "root", uuid 6b0a7f3e-0000-4000-8000-000000000700');
      expect(plan.stdout).toContain('g/part1: ext4 "boot", uuid 6b0a7f3e-0000-4000-8000-00000000b007');
      expect(plan.stdout).not.toContain('qemu-storage-daemon');
      expect(await sb.leaks()).toEqual([]);
      expect(readdirSync(join(sb.stateDir, 'probe'))).toEqual([]);
      await runProtocol(sb, {
        manifest: m, images: [sb.path('nofuse.qcow2')], createdDirs: [sb.path('nf')],
        whileApplied: () => {
          expect(read(sb.path('nf/root/etc/hostname'))).toBe('guest\n');
          expect(read(sb.path('nf/boot/grub/grub.cfg'))).toBe('default=0\n');
        },
      });
    } finally {
      if (hadFuse) renameSync(hidden, '/dev/fuse');
    }
    expect(await sha256(sb.path('nofuse.qcow2'))).toBe(before);
  });

  // a module parameter, not a udev matter: this one runs in the lane without udev only (the suite counts no skip)
  if (udev === 'without udev') it.skipIf(!capabilities.deviceMapper())('nbd loaded with max_part=0: partitions through kpartx (auto) and offset loops of the nbd device', async () => {
    await modprobe('-r', 'nbd');
    await modprobe('nbd', 'max_part=0');
    try {
      await sb.qemuDisk('convert', 'qcow2', sb.path('g1.qcow2'));
      await sb.qemuDisk('convert', 'vdi', sb.path('g2.vdi'));
      const m = sb.writeManifest('mp0.yaml', `version: 1
images:
  g1: { file: g1.qcow2, format: qcow2 }
  g2: { file: g2.vdi, format: vdi, partitions: offset-loops }
mounts:
  - { what: g1/part2, where: ${sb.path('g1')} }
  - { what: g2/part2, where: ${sb.path('g2')} }
`);
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('module loaded with max_part=0');
      expect(plan.stdout).toMatch(/\$ kpartx -a -r -s \{nbd:g1\}/);
      expect(plan.stdout).toMatch(/\$ losetup --find --show --read-only --offset 17825792 --sizelimit 49283072 \/dev\/nbd\d+\n/);
      await runProtocol(sb, {
        manifest: m, images: [sb.path('g1.qcow2'), sb.path('g2.vdi')], createdDirs: [sb.path('g1'), sb.path('g2')],
        whileApplied: async () => {
          expect(read(sb.path('g1/etc/hostname'))).toBe('guest\n');
          expect(read(sb.path('g2/etc/hostname'))).toBe('guest\n');
          const mounts = await ourMounts();
          expect(mounts.filter((l) => /^\/dev\/mapper\/nbd\d+p2 /.test(l))).toHaveLength(1);
          expect(mounts.filter((l) => /^\/dev\/loop\d+ /.test(l))).toHaveLength(1);
        },
      });
    } finally {
      await modprobe('-r', 'nbd');
    }
  });
});
