import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capabilities, isRoot, sh, sha256, useSandbox } from './harness.js';

const sb = useSandbox();

/** On a kernel without device-mapper (this host), LVM metadata can be written but no LV activated. */
describe.skipIf(!isRoot || capabilities.deviceMapper() || !existsSync('/usr/sbin/pvcreate'))('LVM on a kernel without device-mapper', () => {
  it('the VG is found from the image bytes; the plan says device-mapper is missing, and touches nothing', async () => {
    const img = sb.path('pv.img');
    await sh(['truncate', '-s', '32M', img]);
    const loop = (await sh(['losetup', '--find', '--show', img])).trim();
    try {
      await sh(['pvcreate', '-q', '--devices', loop, loop], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
      await sh(['vgcreate', '-q', '--devices', loop, 'hostvg', loop], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
    } finally {
      await sh(['losetup', '--detach', loop]);
    }
    const before = await sha256(img);
    const m = sb.writeManifest('lvm.yaml', `version: 1\nimages:\n  d: { file: pv.img, format: raw }\nmounts:\n  - what: d/hostvg/lv_root\n    where: ${sb.path('root')}\n`);
    const r = await sb.imgplan(['apply', m, '--auto-approve']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('lvm.yaml:5:11: error: d/hostvg/lv_root needs device-mapper, which this kernel has not loaded');
    const wrong = sb.writeManifest('vg.yaml', `version: 1\nimages:\n  d: { file: pv.img, format: raw, volume_groups: [centos] }\n`);
    const w = await sb.imgplan(['plan', wrong]);
    expect(w.code).toBe(3);
    expect(w.stderr).toContain('vg.yaml:3:51: error: image d has no LVM volume group centos');
    expect(w.stderr).toContain('hint: volume groups found on d: hostvg');
    expect(await sha256(img)).toBe(before);
    expect(await sb.leaks()).toEqual([]);
  });
});
