/**
 * LVM inside guest images (VM lane: device-mapper, partition scan; with and without udev): the
 * old CentOS layout, a VG spanning two images, a guest VG named like a host VG, and a host whose
 * LVM only looks at the devices in its devices file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { capabilities, isRoot, sh, sha256, useSandbox } from '../integration/harness.js';
import { read, runProtocol } from '../integration/protocol.js';

const sb = useSandbox();
const udev = process.env.LANE_UDEV === '1' ? 'with udev' : 'without udev';
const canLvm = isRoot && capabilities.partscan() && capabilities.deviceMapper() && existsSync('/usr/sbin/lvchange');

const centos = (partitions = 'auto', extra = '') => sb.writeManifest('centos.yaml', `version: 1
images:
  web01: { file: web01.img, format: raw, partitions: ${partitions}${extra} }
mounts:
  - what: web01/VolGroup/lv_root
    where: ${sb.path('root')}
  - what: web01/part1
    where: ${sb.path('root/boot')}
`);

const dmNames = async () => (await sh(['dmsetup', 'info', '--columns', '--noheadings', '--options', 'name'])).split('\n').map((l) => l.trim()).filter((l) => l && l !== 'No devices found');

describe.skipIf(!canLvm)(`LVM in guest images (${udev})`, () => {
  for (const partitions of ['partscan', 'kpartx'] as const) {
    it(`CentOS layout via ${partitions}: /boot and VolGroup/lv_root, lv_swap left alone; protocol, sha256, no VG left active`, async () => {
      const [img] = await sb.lvmDisk('centos', ['web01.img']);
      const m = centos(partitions);
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toMatch(/\+ +activate +vg:web01\/VolGroup/);
      expect(plan.stdout).toMatch(/lvchange --activate y --devices \{attach:web01(:p2|\.*)?[^ ]*\} --config 'activation\{read_only_volume_list=\["VolGroup"\]\}' --select 'lv_uuid=[\w-]+ \|\| lv_active=active'$/m);
      expect(plan.stdout).toContain('source     web01/VolGroup/lv_root: ext4 "root"');
      await runProtocol(sb, {
        manifest: m, images: [img!], createdDirs: [sb.path('root')],
        whileApplied: async () => {
          expect(read(sb.path('root/etc/sysconfig/network-scripts/ifcfg-eth0'))).toBe('DEVICE=eth0\n');
          expect(read(sb.path('root/boot/grub/grub.conf'))).toBe('default=0\n');
          const names = await dmNames();
          expect(names).toContain('VolGroup-lv_root');
          // imgplan activates lv_root only; udev's own auto-activation of a kpartx map activates the whole VG
          // read-write (field-notes G3), which imgplan's activation turns read-only
          if (!(udev === 'with udev' && partitions === 'kpartx')) expect(names).not.toContain('VolGroup-lv_swap');
          else expect(await sh(['dmsetup', 'info', '--columns', '--noheadings', '--options', 'attr', 'VolGroup-lv_swap'])).toMatch(/^L-.r/);
          const info = await sh(['dmsetup', 'info', '--columns', '--noheadings', '--options', 'attr', 'VolGroup-lv_root']);
          expect(info.trim()).toMatch(/^L-.r/); // live, read-only
        },
      });
      expect((await dmNames()).filter((n) => n.startsWith('VolGroup'))).toEqual([]);
    });
  }

  it('imgplan init on the CentOS layout: the starter manifest mounts lv_root and /boot as the guest\'s fstab does; apply, read, destroy', async () => {
    const [img] = await sb.lvmDisk('centos', ['web01.img']);
    const before = await sha256(img!);
    const where = sb.path('init-root');
    const init = await sb.imgplan(['init', '--where', where, img!]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain(`# web01: ${img}: CentOS release 6.10 (Final) on VolGroup/lv_root`);
    expect(init.stdout).toContain('# note: fstab line 3, swap (/dev/mapper/VolGroup-lv_swap): left out: swap');
    const m = sb.writeManifest('starter.yaml', init.stdout);
    const apply = await sb.imgplan(['apply', m, '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    try {
      expect(read(`${where}/etc/hostname`)).toBe('centos6\n');
      expect(read(`${where}/boot/grub/grub.conf`)).toBe('default=0\n');
    } finally {
      const destroy = await sb.imgplan(['destroy', m, '--auto-approve']);
      expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
    }
    expect(await dmNames()).not.toContain('VolGroup-lv_root');
    expect(await sb.leaks()).toEqual([]);
    expect(await sha256(img!)).toBe(before);
  });

  it('a VG spanning two images is activated once both are attached; with one image missing, the plan names the PV', async () => {
    const [a, b] = await sb.lvmDisk('span', ['d1.img', 'd2.img']);
    const m = sb.writeManifest('span.yaml', `version: 1
images:
  d1: { file: d1.img, format: raw }
  d2: { file: d2.img, format: raw }
mounts:
  - what: d1/datavg/lv_data
    where: ${sb.path('data')}
`);
    await runProtocol(sb, {
      manifest: m, images: [a!, b!], createdDirs: [sb.path('data')],
      whileApplied: () => expect(read(sb.path('data/data/part.txt'))).toBe('spans-two-images\n'),
    });
    const half = sb.writeManifest('half.yaml', `version: 1\nimages:\n  d1: { file: d1.img, format: raw }\nmounts:\n  - what: d1/datavg/lv_data\n    where: ${sb.path('data')}\n`);
    const r = await sb.imgplan(['plan', half]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/half\.yaml:5:11: error: volume group datavg \(uuid [\w-]+\) needs physical volume [\w-]+ \(pv1, last seen in the guest as \/dev\/loop\d+, 32\.0 MiB\), which is on none of the manifest's images/);
  });

  it('a guest VG named like an active host VG: refused with both UUIDs; vg_name_clash: map mounts it and leaves the host VG alone', async () => {
    // the "host" VolGroup: another disk of the same layout, attached and active (built after the guest's:
    // vgcreate refuses a name whose /dev/VG exists)
    const [img] = await sb.lvmDisk('centos', ['web01.img']);
    const [hostImg] = await sb.lvmDisk('centos', ['host.img']);
    const hostLoop = (await sh(['losetup', '--find', '--show', '--partscan', hostImg!])).trim();
    try {
      for (let i = 0; i < 50 && !existsSync(`${hostLoop}p2`); i++) await new Promise((r) => setTimeout(r, 100));
      await sh(['vgchange', '--activate', 'y', '--devices', `${hostLoop}p2`, 'VolGroup']);
      const hostTable = await sh(['dmsetup', 'table', 'VolGroup-lv_root']);
      const hostUuid = (await sh(['vgs', '--noheadings', '-o', 'vg_uuid', '--devices', `${hostLoop}p2`])).trim();

      const refused = await sb.imgplan(['plan', centos()]);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(new RegExp(`centos\\.yaml:5:11: error: volume group VolGroup on image web01 \\(uuid [\\w-]+\\) has the same name as the host's VG \\(uuid ${hostUuid}\\)`));
      expect(refused.stderr).toContain('set vg_name_clash: map on image web01');

      const m = centos('auto', ', vg_name_clash: map');
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain(`clash      the host has a VG named VolGroup too (uuid ${hostUuid})`);
      expect(plan.stdout).toMatch(/dmsetup create --concise 'imgplan-web01-VolGroup-lv_root,IMGPLAN-\w+-\w+,,ro,0 81920 linear \{attach:web01:p2\} 2048'/);
      await runProtocol(sb, {
        manifest: m, images: [img!], createdDirs: [sb.path('root')],
        whileApplied: async () => {
          expect(read(sb.path('root/etc/sysconfig/network-scripts/ifcfg-eth0'))).toBe('DEVICE=eth0\n');
          expect(await sh(['dmsetup', 'table', 'VolGroup-lv_root'])).toBe(hostTable);
        },
      });
      // the host's VG: still active, same table, its LVs untouched
      expect(await sh(['dmsetup', 'table', 'VolGroup-lv_root'])).toBe(hostTable);
      expect((await dmNames()).filter((n) => n.startsWith('imgplan-'))).toEqual([]);
    } finally {
      await execa('vgchange', ['--activate', 'n', '--devices', `${hostLoop}p2`, 'VolGroup'], { reject: false });
      await execa('losetup', ['--detach', hostLoop], { reject: false });
    }
  });

  it('on a host whose LVM uses a devices file (newly attached PVs invisible to it), --devices still finds the guest VG', async () => {
    const conf = '/etc/lvm/lvm.conf';
    const original = readFileSync(conf, 'utf8');
    const devicesFile = '/etc/lvm/devices/system.devices';
    const hadDevicesFile = existsSync(devicesFile);
    try {
      writeFileSync(conf, original.replace(/^(\s*)# use_devicesfile = 0$/m, '$1use_devicesfile = 1'));
      await sh(['mkdir', '-p', '/etc/lvm/devices']);
      if (!hadDevicesFile) writeFileSync(devicesFile, '# LVM uses devices listed in this file.\nVERSION=1.1.1\n');
      expect(await sh(['lvmconfig', 'devices/use_devicesfile'])).toBe('use_devicesfile=1');
      const [img] = await sb.lvmDisk('centos', ['web01.img']);
      const before = await sha256(img!);
      const m = centos();
      const apply = await sb.imgplan(['apply', m, '--auto-approve']);
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      try {
        expect(read(sb.path('root/etc/sysconfig/network-scripts/ifcfg-eth0'))).toBe('DEVICE=eth0\n');
        // LVM itself, unscoped, does not see the guest's VG: the devices file is in force
        expect(await sh(['vgs', '--noheadings', '-o', 'vg_name'])).not.toContain('VolGroup');
      } finally {
        const destroy = await sb.imgplan(['destroy', m, '--auto-approve']);
        expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
      }
      expect(await sha256(img!)).toBe(before);
    } finally {
      writeFileSync(conf, original);
      if (!hadDevicesFile) await execa('rm', ['-f', devicesFile]);
    }
  });
});
