/**
 * The integration protocol for every attach backend, on a stock kernel that parses partition
 * tables and has device-mapper (run in the VM lane: `npm run test:vm`, with and without udev).
 */
import { describe, expect, it } from 'vitest';
import { capabilities, isRoot, sh, useSandbox, type PartSpec } from '../integration/harness.js';
import { read, runProtocol } from '../integration/protocol.js';

const sb = useSandbox();
const udev = process.env.LANE_UDEV === '1' ? 'with udev' : 'without udev';

const LAYOUTS: Record<'dos' | 'gpt', PartSpec[]> = {
  dos: [
    { size: '16M', fs: 'ext4', label: 'boot', files: { 'grub/grub.cfg': 'default=0\n' } },
    { type: '5' },
    { size: '40M', fs: 'xfs', label: 'root', files: { 'etc/hostname': 'guest\n', 'boot/': '' } },
  ],
  gpt: [
    { size: '16M', fs: 'ext4', label: 'boot', files: { 'grub/grub.cfg': 'default=0\n' } },
    { fs: 'ext4', label: 'root', files: { 'etc/hostname': 'guest\n', 'boot/': '' } },
  ],
};
const ROOT = { dos: 5, gpt: 2 } as const;

const BACKENDS = [
  { partitions: 'partscan', needs: 'partscan', step: /losetup --find --show --read-only --partscan /, device: /\/dev\/loop\d+p\d+/ },
  { partitions: 'kpartx', needs: 'deviceMapper', step: /kpartx -a -r -s \{attach:g\}/, device: /\/dev\/mapper\/loop\d+p\d+/ },
  { partitions: 'offset-loops', needs: undefined, step: /losetup --find --show --read-only --offset \d+ --sizelimit \d+ /, device: /\/dev\/loop\d+ / },
] as const;

for (const b of BACKENDS) {
  const missing = !isRoot ? 'root' : b.needs && !capabilities[b.needs]() ? (b.needs === 'partscan' ? 'kernel partition scan' : 'device-mapper and kpartx') : undefined;
  describe.skipIf(missing !== undefined)(`backend ${b.partitions} (${udev})${missing ? ` (skipped: needs ${missing})` : ''}`, () => {
    for (const label of ['dos', 'gpt'] as const) {
      it(`${label} image: /boot nested under root, apply twice, destroy twice, image unchanged`, async () => {
        const img = await sb.partitionedImage('g.img', label === 'dos' ? 96 : 64, label, LAYOUTS[label]);
        const m = sb.writeManifest('g.yaml', `version: 1
images:
  g: { file: g.img, format: raw, partitions: ${b.partitions} }
mounts:
  - { what: g/part1, where: ${sb.path('mnt/boot')}, type: ext4 }
  - { what: g/part${ROOT[label]}, where: ${sb.path('mnt')} }
`);
        const plan = await sb.imgplan(['plan', m]);
        expect(plan.code, plan.stderr).toBe(0);
        expect(plan.stdout).toMatch(b.step);
        await runProtocol(sb, {
          manifest: m,
          images: [img],
          createdDirs: [sb.path('mnt')],
          whileApplied: async () => {
            expect(read(sb.path('mnt/etc/hostname'))).toBe('guest\n');
            expect(read(sb.path('mnt/boot/grub/grub.cfg'))).toBe('default=0\n');
            const mounts = await sh(['findmnt', '--list', '--noheadings', '--output', 'SOURCE,TARGET,OPTIONS']);
            const ours = mounts.split('\n').filter((l) => l.includes(sb.root));
            expect(ours).toHaveLength(2);
            for (const l of ours) {
              expect(l).toMatch(b.device);
              expect(l).toMatch(/\sro[,\s]/);
            }
          },
        });
      });
    }
  });
}

describe.skipIf(!isRoot)(`backend whole-image loop (${udev})`, () => {
  it('an image that is one filesystem: one read-only loop, apply twice, destroy twice, image unchanged', async () => {
    const img = await sb.wholeImage('disk.img', 32, 'ext4', 'data', { 'srv/www/index.html': '<h1>ok</h1>\n' });
    const m = sb.writeManifest('disk.yaml', `version: 1\nimages:\n  d: { file: disk.img, format: raw }\nmounts:\n  - { what: d, where: ${sb.path('d')} }\n`);
    await runProtocol(sb, {
      manifest: m, images: [img], createdDirs: [sb.path('d')],
      whileApplied: () => expect(read(sb.path('d/srv/www/index.html'))).toBe('<h1>ok</h1>\n'),
    });
  });
});

describe.skipIf(!isRoot)(`vfat (${udev})`, () => {
  // the host kernel has no vfat driver; this stock kernel loads it as a module
  it('an EFI system partition (vfat on GPT) mounts read-only; apply twice, destroy twice, image unchanged', async () => {
    const img = await sb.partitionedImage('efi.img', 64, 'gpt', [
      { size: '40M', type: 'U', name: 'EFI system partition', fs: 'vfat', label: 'EFI', files: { 'EFI/BOOT/BOOTX64.EFI': 'MZ\n' } },
    ]);
    const m = sb.writeManifest('efi.yaml', `version: 1\nimages:\n  w: { file: efi.img, format: raw }\nmounts:\n  - { what: w/part1, where: ${sb.path('efi')}, type: vfat }\n`);
    await runProtocol(sb, {
      manifest: m, images: [img], createdDirs: [sb.path('efi')],
      whileApplied: () => expect(read(sb.path('efi/EFI/BOOT/BOOTX64.EFI'))).toBe('MZ\n'),
    });
  });
});

describe.skipIf(!isRoot || !capabilities.partscan())(`auto picks the kernel's partition scan here (${udev})`, () => {
  it('plan says partscan, with its evidence', async () => {
    await sb.partitionedImage('a.img', 32, 'dos', [{ fs: 'ext4', label: 'a' }]);
    const m = sb.writeManifest('a.yaml', `version: 1\nimages:\n  a: { file: a.img, format: raw }\nmounts:\n  - { what: a/part1, where: ${sb.path('a')} }\n`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.stdout).toMatch(/partition scan for dos, gpt tables \(kernel symbols msdos_partition, efi_partition\)/);
    expect(plan.stdout).toContain('losetup --find --show --read-only --partscan');
    expect(plan.stdout).toContain(`udev ${udev === 'with udev' ? 'running' : 'not running'}`);
  });
});
