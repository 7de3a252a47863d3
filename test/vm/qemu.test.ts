/**
 * QEMU images through nbd (VM lane: Debian's stock kernel has the nbd module; with and without
 * udev): qemu-nbd connects each image read-only to /dev/nbdN, whose kernel partitions (or kpartx
 * maps, or offset loops where max_part is 0) the mounts use. The storage-daemon path runs here
 * too, with a partition scan of its view. Images come from test/support/qemu-disk.sh and
 * lvm-disk.sh; the leak guard also catches nbd connections and QEMU daemons left behind.
 */
import { existsSync, readFileSync } from 'node:fs';
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

describe.skipIf(!canNbd)(`QEMU images through nbd (${udev})`, () => {
  it('qcow2 with a backing file and a whole vdi through nbd (the module loaded first), a vmdk through a storage-daemon view with partition scan', async () => {
    // start from an unloaded module: apply loads it, and the plan says so
    await modprobe('-r', 'nbd');
    await sb.qemuDisk('chain', sb.path('base.qcow2'), sb.path('top.qcow2'));
    await sb.qemuDisk('convert', 'vmdk', sb.path('disk.vmdk'));
    await sb.qemuDisk('whole', 'vdi', sb.path('data.vdi'));
    const m = sb.writeManifest('q.yaml', `version: 1
images:
  top: { file: top.qcow2, format: qcow2 }
  disk: { file: disk.vmdk, format: vmdk, qemu_backend: storage-daemon }
  data: { file: data.vdi, format: vdi }
mounts:
  - { what: top/part2, where: ${sb.path('mnt/top')} }
  - { what: top/part1, where: ${sb.path('mnt/top-boot')} }
  - { what: disk/part2, where: ${sb.path('mnt/disk')} }
  - { what: data, where: ${sb.path('mnt/data')} }
`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`image      ${sb.path('top.qcow2')} (qcow2, 64.0 MiB virtual) → backing base.qcow2 (qcow2)`);
    expect(plan.stdout).toMatch(/backend +qemu-nbd connects \/dev\/nbd\d+ \(the kernel has nbd: module loaded first \(modprobe nbd max_part=16\)\)/);
    expect(plan.stdout).toContain('$ modprobe nbd max_part=16');
    expect(plan.stdout).toMatch(new RegExp(`\\$ qemu-nbd --read-only --format=qcow2 --pid-file=\\S+/top\\.pid --connect=/dev/nbd\\d+ ${sb.path('top.qcow2')}\\n`));
    expect(plan.stdout).toMatch(/\$ mount -t ext4 -o ro,noload \{nbd:top:p2\} /);
    expect(plan.stdout).toMatch(/\$ losetup --find --show --read-only --partscan \S+\/disk\.raw/);
    await runProtocol(sb, {
      manifest: m,
      images: ['base.qcow2', 'top.qcow2', 'disk.vmdk', 'data.vdi'].map((f) => sb.path(f)),
      createdDirs: [sb.path('mnt')],
      whileApplied: async () => {
        expect(read(sb.path('mnt/top/etc/motd'))).toBe('from the top layer\n');
        expect(read(sb.path('mnt/top-boot/grub/grub.cfg'))).toBe('default=0\n');
        expect(read(sb.path('mnt/disk/etc/hostname'))).toBe('guest\n');
        expect(read(sb.path('mnt/data/srv/www/index.html'))).toBe('<h1>ok</h1>\n');
        const mounts = await ourMounts();
        expect(mounts).toHaveLength(4);
        expect(mounts.filter((l) => /^\/dev\/nbd\d+p[12] /.test(l))).toHaveLength(2);
        expect(mounts.filter((l) => /^\/dev\/nbd\d+ /.test(l))).toHaveLength(1);
        expect(mounts.filter((l) => /^\/dev\/loop\d+p2 /.test(l))).toHaveLength(1);
        for (const l of mounts) expect(l).toMatch(/\sro[,\s]/);
        // the nbd devices are read-only and served by the qemu-nbd the journal names
        const nbds = mounts.map((l) => /^\/dev\/(nbd\d+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
        for (const n of new Set(nbds)) expect(readFileSync(`/sys/block/${n}/ro`, 'utf8').trim()).toBe('1');
      },
    });
  });

  it('access: overlay on a dirty ext4 in qcow2: the journal replays into the overlay, the image is unchanged', async () => {
    await sb.qemuDisk('dirty-ext4-qcow2', sb.path('dirty.qcow2'));
    const m = sb.writeManifest('ov.yaml', `version: 1\nimages:\n  d: { file: dirty.qcow2, format: qcow2, access: overlay }\nmounts:\n  - { what: d, where: ${sb.path('ov')} }\n`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/\$ qemu-nbd --format=qcow2 --pid-file=\S+ --connect=\/dev\/nbd\d+ \S+\/d\.overlay\.qcow2\n/);
    await runProtocol(sb, {
      manifest: m, images: [sb.path('dirty.qcow2')], createdDirs: [sb.path('ov')],
      whileApplied: () => expect(read(sb.path('ov/etc/after-crash.txt'))).toBe('written before the crash\n'),
    });
  });

  it('LVM inside a qcow2 through nbd: /boot and VolGroup/lv_root from the nbd partitions, no VG left active', async () => {
    const [raw] = await sb.lvmDisk('centos', ['web01.img']);
    await sh(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw!, sb.path('web01.qcow2')]);
    const m = sb.writeManifest('lvm.yaml', `version: 1
images:
  web01: { file: web01.qcow2, format: qcow2 }
mounts:
  - { what: web01/VolGroup/lv_root, where: ${sb.path('root')} }
  - { what: web01/part1, where: ${sb.path('root/boot')} }
`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/lvchange --activate y --devices \{nbd:web01:p2\} --config 'activation\{read_only_volume_list=\["VolGroup"\]\}'/);
    await runProtocol(sb, {
      manifest: m, images: [sb.path('web01.qcow2')], createdDirs: [sb.path('root')],
      whileApplied: async () => {
        expect(read(sb.path('root/etc/sysconfig/network-scripts/ifcfg-eth0'))).toBe('DEVICE=eth0\n');
        expect(read(sb.path('root/boot/grub/grub.conf'))).toBe('default=0\n');
        expect((await sh(['dmsetup', 'info', '--columns', '--noheadings', '--options', 'attr', 'VolGroup-lv_root'])).trim()).toMatch(/^L-.r/);
        expect(await sh(['dmsetup', 'table', 'VolGroup-lv_root'])).toMatch(/linear 43:\d+ /); // over an nbd partition
      },
    });
    const left = (await sh(['dmsetup', 'info', '--columns', '--noheadings', '--options', 'name'])).split('\n').filter((l) => l.trim().startsWith('VolGroup'));
    expect(left).toEqual([]);
  });

  it('an image held by a running VM: allow_live reads it through nbd with shared locking (--image-opts force-share=on)', async () => {
    await sb.qemuDisk('whole', 'qcow2', sb.path('live.qcow2'));
    const before = await sha256(sb.path('live.qcow2'));
    const pidfile = sb.path('holder.pid');
    await sh(['qemu-storage-daemon', '--blockdev', `driver=file,node-name=f,filename=${sb.path('live.qcow2')}`, '--blockdev', 'driver=qcow2,node-name=q,file=f', '--pidfile', pidfile, '--daemonize']);
    const pid = Number(read(pidfile).trim());
    try {
      const m = sb.writeManifest('l.yaml', `version: 1\nimages:\n  vm: { file: live.qcow2, format: qcow2, allow_live: true }\nmounts:\n  - { what: vm, where: ${sb.path('l')} }\n`);
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toMatch(/warning: image vm is in use by another process/);
      expect(plan.stdout).toMatch(new RegExp(`\\$ qemu-nbd --read-only --image-opts --pid-file=\\S+ --connect=/dev/nbd\\d+ driver=qcow2,file\\.driver=file,file\\.filename=${sb.path('live.qcow2').replace(/[.]/g, '\\.')},force-share=on\\n`));
      await runProtocol(sb, {
        manifest: m, images: [], createdDirs: [sb.path('l')],
        whileApplied: () => expect(read(sb.path('l/srv/www/index.html'))).toBe('<h1>ok</h1>\n'),
      });
    } finally {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
    }
    expect(await sha256(sb.path('live.qcow2'))).toBe(before);
  });

  it.skipIf(!capabilities.deviceMapper())('nbd loaded with max_part=0: partitions through kpartx (auto) or offset loops of the nbd device', async () => {
    await modprobe('-r', 'nbd');
    await modprobe('nbd', 'max_part=0');
    try {
      await sb.qemuDisk('convert', 'qcow2', sb.path('g.qcow2'));
      for (const [partitions, device] of [['auto', /^\/dev\/mapper\/nbd\d+p2 /], ['offset-loops', /^\/dev\/loop\d+ /]] as const) {
        const m = sb.writeManifest(`${partitions}.yaml`, `version: 1\nimages:\n  g: { file: g.qcow2, format: qcow2, partitions: ${partitions} }\nmounts:\n  - { what: g/part2, where: ${sb.path('g')} }\n`);
        const plan = await sb.imgplan(['plan', m]);
        expect(plan.code, plan.stderr).toBe(0);
        expect(plan.stdout).toContain('module loaded, max_part 0');
        expect(plan.stdout).toMatch(partitions === 'auto' ? /\$ kpartx -a -r -s \{nbd:g\}/ : /\$ losetup --find --show --read-only --offset 17825792 --sizelimit 49283072 \/dev\/nbd\d+\n/);
        await runProtocol(sb, {
          manifest: m, images: [sb.path('g.qcow2')], createdDirs: [sb.path('g')],
          whileApplied: async () => {
            expect(read(sb.path('g/etc/hostname'))).toBe('guest\n');
            expect(await ourMounts()).toEqual([expect.stringMatching(device)]);
          },
        });
      }
    } finally {
      await modprobe('-r', 'nbd');
    }
  });
});
