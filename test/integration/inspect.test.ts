/**
 * `imgplan inspect`: what images hold, read with the real tools from images the tests build
 * (sfdisk, mkfs, pvcreate, mkntfs, qemu-img), nothing attached or mounted, nothing written.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { ImageReport, InspectReport } from '../../src/core/inspect.js';
import { isRoot, sh, sha256, useSandbox } from './harness.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(
  JSON.parse(readFileSync(new URL('../../schemas/inspect.schema.json', import.meta.url), 'utf8')) as object,
);

async function inspectJson(args: string[]): Promise<{ code: number; report: InspectReport; stderr: string }> {
  const r = await sb.imgplan(['inspect', '--json', ...args]);
  const report = JSON.parse(r.stdout) as InspectReport;
  expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
  return { code: r.code, report, stderr: r.stderr };
}

const part = (r: ImageReport, n: number) => r.partition_table?.partitions.find((p) => p.number === n);

describeRoot('imgplan inspect (host kernel)', () => {
  it('MBR and GPT guests, an LVM PV and a hibernated Windows disk: every partition, filesystem, VG and LV; nothing attached or changed', async () => {
    const mbr = await sb.partitionedImage('web01.img', 400, 'dos', [
      { size: '16M', fs: 'ext4', label: 'boot' },
      { size: '8M', type: '82' },
      { fs: 'xfs', label: 'root' },
    ]);
    const gpt = await sb.partitionedImage('db01.img', 160, 'gpt', [{ size: '16M', fs: 'vfat', label: 'EFI', name: 'EFI System' }, { fs: 'btrfs', label: 'data' }]);
    const [pv] = await sb.lvmDisk('pv', ['pv.img'], 'VolGroup');
    const win = await sb.windowsDisk('win.img', 'win7', 'hibernated');
    const images = [mbr, gpt, pv!, win];
    const before = await Promise.all(images.map(sha256));

    const { code, report } = await inspectJson(images);
    expect(code).toBe(0);
    const [m, g, p, w] = report.images as [ImageReport, ImageReport, ImageReport, ImageReport];
    expect(m).toMatchObject({ file: mbr, format: 'raw', size_bytes: 400 << 20, problems: [], partition_table: { label: 'dos', sector_size: 512 } });
    expect(part(m, 1)).toMatchObject({ number: 1, start_bytes: 1 << 20, size_bytes: 16 << 20, type: '83', whole: true, filesystem: { type: 'ext4', label: 'boot' } });
    expect(part(m, 2)).toMatchObject({ type: '82', whole: true });
    expect(part(m, 2)!.filesystem).toBeUndefined();
    expect(part(m, 3)!.filesystem).toMatchObject({ type: 'xfs', label: 'root' });
    expect(g.partition_table?.label).toBe('gpt');
    expect(part(g, 1)).toMatchObject({ name: 'EFI System', filesystem: { type: 'vfat', label: 'EFI' } });
    expect(part(g, 2)!.filesystem).toMatchObject({ type: 'btrfs', label: 'data' });
    expect(p.filesystem).toMatchObject({ type: 'LVM2_member', vg: 'VolGroup' });
    expect(p.vgs).toEqual([expect.objectContaining({
      name: 'VolGroup', pvs: ['whole'], pv_count: 1,
      lvs: [expect.objectContaining({ name: 'lv_root', size_bytes: 4 << 20 }), expect.objectContaining({ name: 'lv_swap', size_bytes: 2 << 20 })],
    })]);
    // win7: the System Reserved volume shut down clean, C: hibernated
    expect(w.partition_table?.partitions.map((x) => x.filesystem?.windows?.state)).toEqual(['clean', 'hibernated']);

    // the same as text for people: one block per image, the guest's strings shown, not interpreted
    const text = await sb.imgplan(['inspect', ...images]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${mbr}: raw, 400.0 MiB\n  dos partition table, 512-byte sectors\n    part1   1.0 MiB +16.0 MiB`);
    expect(text.stdout).toMatch(/part3 .* xfs {2}"root"/);
    expect(text.stdout).toContain('LVM volume group VolGroup');
    expect(text.stdout).toContain('Windows: hibernated');

    expect(await sb.leaks()).toEqual([]);
    expect(await sh(['losetup', '--list', '--noheadings', '--output', 'BACK-FILE'])).not.toContain(sb.root);
    expect(await Promise.all(images.map(sha256))).toEqual(before);
  });

  it('a QEMU image is read with the format given, never the one QEMU guesses; a wrong one is a problem (exit 1)', async () => {
    const q = sb.path('web01.qcow2');
    await sb.qemuDisk('convert', 'qcow2', q);
    const before = await sha256(q);
    const right = await inspectJson(['--format', 'qcow2', q]);
    expect(right.code, right.stderr).toBe(0);
    const [r] = right.report.images as [ImageReport];
    expect(r).toMatchObject({ format: 'qcow2', size_bytes: 64 << 20, problems: [] });
    expect(part(r, 1)!.filesystem).toMatchObject({ type: 'ext4', label: 'boot' });
    expect(part(r, 2)!.filesystem).toMatchObject({ type: 'ext4', label: 'root' });

    const wrong = await inspectJson([q]);
    expect(wrong.code).toBe(1);
    expect(wrong.report.images[0]!.problems).toEqual([expect.stringContaining('QEMU\'s format probe says qcow2, but it was read as raw')]);
    expect(wrong.report.images[0]!.partition_table).toBeUndefined();
    expect((await sb.imgplan(['inspect', '--format', 'qcow3', q])).code).toBe(3);
    expect(await sb.leaks()).toEqual([]);
    expect(await sha256(q)).toBe(before);
  });

  it('a truncated GPT copy: the partitions its primary header lists, which are still whole, and what they hold (exit 1)', async () => {
    const file = await sb.partitionedImage('cut.img', 64, 'gpt', [{ size: '16M', fs: 'ext4', label: 'boot' }, { fs: 'ext4', label: 'root' }]);
    await sh(['truncate', '-s', '24M', file]);
    const { code, report } = await inspectJson([file]);
    expect(code).toBe(1);
    const [r] = report.images as [ImageReport];
    expect(r.partition_table).toMatchObject({ label: 'gpt', rejected_by_sfdisk: true });
    expect(part(r, 1)).toMatchObject({ whole: true, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', filesystem: { type: 'ext4', label: 'boot' } });
    expect(part(r, 2)).toMatchObject({ whole: false });
    expect(r.problems).toEqual([
      'a GPT disk of 64.0 MiB cut to 24.0 MiB (truncated): sfdisk rejects its partition table',
      'partition 2 ends past the end of the image: truncated',
    ]);
  });
});

describeRoot('imgplan inspect MANIFEST (host kernel)', () => {
  it('inspects the manifest\'s images under their names, each with its own format; --format with a manifest is refused', async () => {
    const raw = await sb.wholeImage('data.img', 32, 'ext4', 'data');
    const q = sb.path('web01.qcow2');
    await sb.qemuDisk('convert', 'qcow2', q);
    const m = sb.writeManifest('rescue.yaml', `version: 1
images:
  web01: { file: web01.qcow2, format: qcow2 }
  data: { file: data.img, format: raw }
mounts:
  - { what: data, where: ${sb.path('mnt/data')} }
`);
    const { code, report } = await inspectJson([m]);
    expect(code).toBe(0);
    expect(report.images.map((i) => [i.name, i.format, i.problems])).toEqual([['web01', 'qcow2', []], ['data', 'raw', []]]);
    expect(part(report.images[0]!, 2)!.filesystem).toMatchObject({ type: 'ext4', label: 'root' });
    expect(report.images[1]!.filesystem).toMatchObject({ type: 'ext4', label: 'data' });
    expect((await sb.imgplan(['inspect', m])).stdout).toMatch(/^web01 \S+web01\.qcow2: qcow2, 64\.0 MiB$/m);
    const refused = await sb.imgplan(['inspect', '--format', 'raw', m]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('--format is for image files');
    const broken = await sb.imgplan(['inspect', sb.writeManifest('broken.yaml', 'version: 1\nimages: []\n')]);
    expect(broken.code).toBe(3);
    expect(await sb.leaks()).toEqual([]);
    expect(raw).toBe(sb.path('data.img'));
  });
});
