import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { GuestReport } from '../../../src/core/guest.js';
import { imageNames, starterManifest, type InitImage } from '../../../src/core/init.js';
import type { ImageReport, InspectReport } from '../../../src/core/inspect.js';
import { loadManifest } from '../../../src/manifest/load.js';
import type { KernelFacts } from '../../../src/probe/observed.js';

/** `imgplan inspect --json` of a Debian-like GPT image (EFI vfat, /boot, root ext4), recorded on this project's host kernel. */
const recorded = (JSON.parse(readFileSync(new URL('../../fixtures/inspect/debian-gpt-efi.json', import.meta.url), 'utf8')) as InspectReport).images[0]!;

const kernel = (filesystems: KernelFacts['filesystems']): KernelFacts => ({
  release: '6.1.0-28-amd64', partscan: { labels: [], evidence: 'test' }, udev: false, deviceMapper: false, kpartx: false, filesystems,
});
const ALL = kernel({ ext4: 'registered', vfat: 'module', btrfs: 'registered', xfs: 'registered' });
const NO_VFAT = kernel({ ext4: 'registered', vfat: 'absent' });

const manifestOf = (images: readonly InitImage[], k = ALL, where?: string) => {
  const text = starterManifest(images, { command: 'imgplan init test', kernel: k, ...(where ? { where } : {}) });
  return { text, data: parse(text) as { mounts: { what: string; where: string; type: string; options?: string[] }[] } };
};
const guestOf = (r: ImageReport): GuestReport => r.guests![0]!;
const withGuest = (r: ImageReport, g: Partial<GuestReport>): ImageReport => ({ ...r, guests: [{ ...guestOf(r), ...g }] });
const entry = (line: number, spec: string, file: string, type = 'ext4', options = ['defaults']) => ({ line, spec, file, type, options });

describe('starterManifest over a recorded inspect report', () => {
  it('mounts the guest the way its fstab does, nested, below /mnt/NAME', () => {
    const { data, text } = manifestOf([{ name: 'web01', report: recorded }]);
    expect(data.mounts).toEqual([
      { what: 'web01/part3', where: '/mnt/web01', type: 'ext4' },
      { what: 'web01/part2', where: '/mnt/web01/boot', type: 'ext4' },
      { what: 'web01/part1', where: '/mnt/web01/boot/efi', type: 'vfat' },
    ]);
    expect(text).toContain('# web01: /srv/images/web01.img: Debian GNU/Linux 12 (bookworm) on part3');
    expect(text).toContain('# note: fstab line 4, none (/dev/vda9): left out: swap');
  });

  it('leaves out what this kernel cannot mount, and what would nest inside it', () => {
    const g = guestOf(recorded);
    const report = withGuest(recorded, { fstab: [...g.fstab!, { ...entry(9, 'LABEL=root', '/boot/efi/EFI/x'), volume: 'part3' }] });
    const { data, text } = manifestOf([{ name: 'web01', report }], NO_VFAT);
    expect(data.mounts.map((m) => m.where)).toEqual(['/mnt/web01', '/mnt/web01/boot']);
    expect(text).toMatch(/note: \/boot\/efi in the guest's fstab \(LABEL=EFI\): left out: this kernel .* cannot mount vfat/);
    expect(text).toContain('note: fstab line 9, /boot/efi/EFI/x (LABEL=root): left out: it is inside /boot/efi, which is not mounted');
  });

  it('when the guest has no fstab: only its root, and says so; when no guest: the largest Linux filesystem, as a guess', () => {
    const noFstab = withGuest(recorded, { fstab: undefined as never });
    delete (noFstab.guests![0] as { fstab?: unknown }).fstab;
    const a = manifestOf([{ name: 'web01', report: noFstab }]);
    expect(a.data.mounts).toEqual([{ what: 'web01/part3', where: '/mnt/web01', type: 'ext4' }]);
    expect(a.text).toContain('note: the guest has no /etc/fstab: only its root is mounted');
    expect(a.text).toContain('note: web01/part1 (vfat "EFI"): not in the guest\'s fstab, not mounted');

    const noGuest: ImageReport = { ...recorded, guests: [] };
    const b = manifestOf([{ name: 'web01', report: noGuest }], ALL, '/srv/case42');
    expect(b.data.mounts).toEqual([{ what: 'web01/part3', where: '/srv/case42', type: 'ext4' }]);
    expect(b.text).toContain('note: a guess: no guest\'s /etc was found, so the largest Linux filesystem (web01/part3) is the root');
  });

  it('a disk with only other filesystems and no identity (no hivex here): each in a folder of its own', () => {
    const parts = recorded.partition_table!.partitions.map((p, i) => ({ ...p, filesystem: { type: i === 0 ? 'vfat' : 'ntfs', label: `v${i}` } }));
    const report: ImageReport = { ...recorded, guests: [], partition_table: { ...recorded.partition_table!, partitions: parts } };
    const { data, text } = manifestOf([{ name: 'disk', report }]);
    expect(data.mounts.map((m) => [m.what, m.where, m.type])).toEqual([
      ['disk/part1', '/mnt/disk/part1', 'vfat'], ['disk/part2', '/mnt/disk/part2', 'ntfs'], ['disk/part3', '/mnt/disk/part3', 'ntfs'],
    ]);
    expect(text).toContain('note: no Linux root was found: each filesystem is mounted in a folder of its own');
  });

  it('resolves an fstab entry by label on another image, and puts each image below --where when there are several', () => {
    const g = guestOf(recorded);
    const report = withGuest(recorded, { fstab: [...g.fstab!, { ...entry(9, 'LABEL=data', '/srv'), note: 'label data: not in this image' }] });
    const data: ImageReport = { file: '/srv/images/web01-data.img', format: 'raw', size_bytes: 1 << 25, filesystem: { type: 'xfs', label: 'data' }, vgs: [], problems: [] };
    const m = manifestOf([{ name: 'web01', report }, { name: 'web01-data', report: data }], ALL, '/srv/case42');
    expect(m.data.mounts.find((x) => x.what === 'web01-data')).toEqual({ what: 'web01-data', where: '/srv/case42/web01/srv', type: 'xfs' });
  });

  it('never lets a hostile fstab or LV name become YAML syntax, a path outside the folder, or a manifest that does not load', () => {
    const g = guestOf(recorded);
    const hostile = [
      entry(20, 'LABEL=boot', '/a/../../etc'), entry(21, 'LABEL=boot', '/x\ny: 1'), entry(22, 'LABEL=boot', '/boot'),
      entry(23, 'LABEL=root', '/"quoted": [x]'), entry(24, '/dev/mapper/vg-lv', '/lv'),
    ].map((e) => ({ ...e, volume: e.spec === 'LABEL=root' ? 'part3' : 'part2' }));
    const report: ImageReport = {
      ...withGuest(recorded, { fstab: [...g.fstab!, ...hostile] }),
      vgs: [{ name: 'vg', uuid: 'u', pvs: ['part2'], pv_count: 1, lvs: [{ name: 'lv\n- what: x', uuid: 'v', size_bytes: 1, filesystem: { type: 'ext4' } }] }],
    };
    const { text, data } = manifestOf([{ name: 'web01', report }]);
    expect(loadManifest({ path: '/tmp/imgplan.yaml', text, allowWrites: false }).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    for (const m of data.mounts) expect(m.where === '/mnt/web01' || m.where.startsWith('/mnt/web01/')).toBe(true);
    expect(text).toContain('fstab line 20, /a/../../etc (LABEL=boot): left out: its mountpoint is not a plain absolute path');
    expect(text).toContain('fstab line 21, /x\\ny: 1 (LABEL=boot): left out: its mountpoint is not a plain absolute path');
    expect(text).toContain('/boot in the guest\'s fstab (LABEL=boot): web01/part2 is mounted already (imgplan mounts each volume once)');
    // the second /boot line leaves the first one mounted, and /boot/efi inside it
    expect(data.mounts.map((m) => m.where)).toEqual(['/mnt/web01', '/mnt/web01/boot', '/mnt/web01/boot/efi']);
  });

  it('property: whatever the guest\'s fstab says, the manifest loads and holds no raw control character', () => {
    const g = guestOf(recorded);
    const volumes = ['part1', 'part2', 'part3', 'part9', 'whole', 'vg/lv', undefined];
    const arbEntry = fc.record({
      spec: fc.constantFrom('LABEL=root', 'LABEL=boot', 'UUID=x', 'LABEL=EFI', '/dev/vda1', 'nas:/x'),
      file: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(fc.constantFrom('boot', 'efi', '..', '.', '', 'a b', 'x\u001b', '@'), { maxLength: 5 })
        .map((a) => `/${a.join('/')}`)),
      type: fc.constantFrom('ext4', 'vfat', 'swap', 'nfs', 'btrfs', 'tmpfs'),
      options: fc.array(fc.constantFrom('defaults', 'nofail', 'subvol=@', 'subvol=a,b', '_netdev', 'bind'), { maxLength: 3 }),
      volume: fc.constantFrom(...volumes),
    });
    fc.assert(fc.property(fc.array(arbEntry, { maxLength: 12 }), fc.constantFrom(undefined, '@', 'root'), (entries, subvolume) => {
      const fstab = entries.map((e, i) => {
        const { volume, ...rest } = e;
        return { ...rest, line: i + 1, ...(volume !== undefined ? { volume } : {}) };
      });
      const report = withGuest(recorded, { fstab: [...g.fstab!.slice(0, 1), ...fstab], ...(subvolume ? { subvolume } : {}) });
      const { text, data } = manifestOf([{ name: 'web01', report }]);
      for (const m of data.mounts) expect(m.where === '/mnt/web01' || m.where.startsWith('/mnt/web01/')).toBe(true);
      expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      const loaded = loadManifest({ path: '/tmp/imgplan.yaml', text, allowWrites: false });
      expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    }), { numRuns: 300 });
  });
});

describe('imageNames', () => {
  it('makes manifest names from file names: lower case, [a-z0-9_-], unique', () => {
    expect(imageNames(['/srv/Web01.qcow2', '/a/web01.img', '/b/2019 disk.raw', '/c/$(x);.img', '/d/web01.vmdk'])).toEqual([
      'web01', 'web01-2', 'disk', 'x', 'web01-3',
    ]);
    for (const n of imageNames(['/x/-.img', '/x/ÄÖ.img', `/x/${'a'.repeat(200)}.img`])) expect(n).toMatch(/^[a-z][a-z0-9_-]{0,63}$/);
  });
});
