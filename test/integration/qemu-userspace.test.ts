/**
 * Plan reads inside QEMU images in user space: qemu-img copies the ranges it reads into a sparse
 * probe view of its own (src/qemu/probe-view.ts); no qemu-storage-daemon, no FUSE, no nbd, and
 * nothing left behind but a file the next run sweeps. A PATH wrapper of qemu-storage-daemon fails
 * the test if plan ever starts one.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import { collectState } from '../../src/probe/collect.js';
import { ExecaRunner } from '../../src/runner/execa-runner.js';
import { CLI, isRoot, sh, sha256, useSandbox } from './harness.js';

const sb = useSandbox();
const canQemu = isRoot && existsSync('/usr/bin/qemu-img') && existsSync('/usr/sbin/pvcreate');

/** A folder for PATH whose qemu-storage-daemon records that it ran, and fails. */
function noDaemonBin(): { bin: string; ran: string } {
  const bin = sb.path('.no-daemon-bin');
  const ran = sb.path('.daemon-ran');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'qemu-storage-daemon'), `#!/bin/bash\necho "$@" >> ${ran}\nexit 1\n`, { mode: 0o755 });
  return { bin, ran };
}

const plan = (m: string, env: Record<string, string> = {}) =>
  execa(process.execPath, [CLI, 'plan', m], { reject: false, env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', ...env } });

describe.skipIf(!canQemu)('plan reads inside a QEMU image in user space', () => {
  it('a qcow2 with ext4, an LVM PV and a DOS extended partition of three logicals: the partitions and filesystems the raw disk shows, no daemon, nothing left', async () => {
    const raw = await sb.partitionedImage('d.img', 96, 'dos', [
      { size: '16M', fs: 'ext4', label: 'boot', files: { 'grub/grub.cfg': 'default=0' } },
      { size: '16M', type: '8e' },
      { type: '5' },
      { size: '8M', fs: 'ext4', label: 'log5' },
      { size: '8M', fs: 'ext4', label: 'log6' },
      { fs: 'ext4', label: 'log7' },
    ]);
    const table = (JSON.parse(await sh(['sfdisk', '--json', raw])) as { partitiontable: { partitions: { start: number; size: number }[] } }).partitiontable.partitions;
    expect(table).toHaveLength(6);
    // partition 2: a PV of VolGroup (lvm-disk.sh pv: lv_root on extents 0-3 after a 1 MiB metadata area), lv_root holding ext4
    await sh(['bash', join(import.meta.dirname, '../support/lvm-disk.sh'), 'pv', sb.path('pv.img')]);
    const p2 = table[1]!.start * 512;
    await sh(['dd', `if=${sb.path('pv.img')}`, `of=${raw}`, 'bs=1M', `seek=${p2}`, 'oflag=seek_bytes', 'conv=notrunc', 'status=none']);
    await sb.populate(raw, p2 + (1 << 20), 4 << 20, 'ext4', 'lvroot');
    await sh(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, sb.path('d.qcow2')]);
    const before = await sha256(sb.path('d.qcow2'));
    const text = (file: string, format: string, lv: boolean) => `version: 1
images:
  d: { file: ${file}, format: ${format} }
mounts:
  - { what: d/part1, where: ${sb.path('mnt/boot')} }
  - { what: d/part5, where: ${sb.path('mnt/l5')} }
  - { what: d/part6, where: ${sb.path('mnt/l6')} }
  - { what: d/part7, where: ${sb.path('mnt/l7')} }
${lv ? `  - { what: d/VolGroup/lv_root, where: ${sb.path('mnt/lv')} }\n` : ''}`;
    const { bin, ran } = noDaemonBin();
    const path = process.env.PATH;
    // what collect observes of the raw disk, read directly, is what it observes of the qcow2, read through its probe view
    const observe = async (file: string, format: string) => {
      const m = loadManifest({ path: sb.path(`${format}.yaml`), text: text(file, format, true), allowWrites: false }).manifest!;
      process.env.PATH = `${bin}:${path ?? ''}`;
      try {
        const img = (await collectState(new ExecaRunner(), m, { stateDir: sb.stateDir })).images.d!;
        return { table: img.table, contents: img.contents, lvm: img.lvm, lvContents: img.lvContents };
      } finally {
        process.env.PATH = path;
      }
    };
    const direct = await observe(raw, 'raw');
    const viaView = await observe(sb.path('d.qcow2'), 'qcow2');
    expect(direct.table!.partitions.map((p) => p.number)).toEqual([1, 2, 3, 5, 6, 7]);
    expect(Object.values(direct.contents).map((c) => c.LABEL).filter(Boolean).sort()).toEqual(['boot', 'log5', 'log6', 'log7']);
    expect(Object.values(direct.lvContents ?? {}).map((c) => c.LABEL)).toEqual(['lvroot']);
    expect({ ...viaView, table: { ...viaView.table!, device: '' } }).toEqual({ ...direct, table: { ...direct.table!, device: '' } });
    expect(await sb.leaks()).toEqual([]);

    // the CLI: no daemon started, nothing left, the image unchanged
    const m = sb.writeManifest('q.yaml', text(sb.path('d.qcow2'), 'qcow2', false));
    const r = await plan(m, { PATH: `${bin}:${path ?? ''}` });
    expect(r.exitCode, r.stderr).toBe(0);
    for (const l of ['log5', 'log6', 'log7', 'boot']) expect(r.stdout).toContain(`"${l}"`);
    expect(existsSync(ran), 'plan started qemu-storage-daemon').toBe(false);
    expect(await sb.leaks()).toEqual([]);
    expect(readdirSync(join(sb.stateDir, 'probe'))).toEqual([]);
    expect(await sha256(sb.path('d.qcow2'))).toBe(before);
  });
});
