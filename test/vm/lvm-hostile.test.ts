/**
 * Hostile LVM metadata (VM lane: device-mapper; with and without udev): VG and LV names and UUIDs
 * that LVM never writes, crafted into the metadata lvm2 wrote on a real PV (test/support/lvm-craft.mjs,
 * with LVM's checksums; the images: test/integration/hostile-lvm.ts), in both activation modes:
 * LVM's own, and `vg_name_clash: map` beside an active host VG of the same name. plan and apply
 * refuse them at plan time (exit 3) naming the image and the bad field, with nothing attached or
 * activated and the images unchanged. Every CLI call costs seconds under TCG: each manifest holds
 * as many variants as one plan can report.
 */
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { capabilities, isRoot, sh, sha256, useSandbox } from '../integration/harness.js';
import { expectNamed, expectRefusal, hostileLvm, type HostileLvm } from '../integration/hostile-lvm.js';
import { readPv, sectionId } from '../support/lvm-craft.mjs';

const sb = useSandbox();
const udev = process.env.LANE_UDEV === '1' ? 'with udev' : 'without udev';
const canLvm = isRoot && capabilities.deviceMapper() && existsSync('/usr/sbin/lvchange');
const LVM_ENV = { LVM_SUPPRESS_FD_WARNINGS: '1' };

const dmNames = async () => (await sh(['dmsetup', 'ls'])).split('\n').map((l) => l.split('\t')[0]!.trim()).filter((l) => l && l !== 'No devices found').sort();

/**
 * plan of the three manifests, and apply of the one with most variants (apply plans the same way
 * first; each call costs seconds under TCG): all refused, each image and field named; nothing
 * mapped, attached or made.
 */
async function refused(h: HostileLvm, mode: string, extra: string): Promise<void> {
  const m = h.manifests(extra);
  const dmBefore = await dmNames();
  const out: Record<string, string> = {};
  for (const [key, file] of Object.entries(m)) {
    const r = await sb.imgplan(['plan', file]);
    expectRefusal(r, `${mode}: imgplan plan ${file}`);
    out[key] = r.stderr;
  }
  expectNamed(h, out as Parameters<typeof expectNamed>[1]);
  const apply = await sb.imgplan(['apply', m.all, '--auto-approve']);
  expectRefusal(apply, `${mode}: imgplan apply ${m.all}`);
  expect(apply.stderr, mode).toContain('holds an LV name "../../../dev/sda"');
  expect(await dmNames(), mode).toEqual(dmBefore);
  const mine = (l: string) => h.images.some((i) => l.includes(`(${i})`)) || l.includes(sb.path('mnt'));
  expect((await sb.leaks()).filter(mine), mode).toEqual([]);
  expect(existsSync(sb.path('mnt')), mode).toBe(false);
}

describe.skipIf(!canLvm)(`hostile LVM metadata (${udev})`, () => {
  it('names and UUIDs crafted into real metadata: refused by plan and apply in both activation modes, nothing attached or activated, images unchanged', async () => {
    const h = await hostileLvm(sb);

    // LVM's own activation: no host VG of that name
    expect((await dmNames()).filter((n) => n.startsWith('VolGroup-'))).toEqual([]);
    await refused(h, 'default mode', '');

    // vg_name_clash: map, beside an active host VolGroup: one more crafted copy (its own UUIDs),
    // which real LVM checks (pvck) and activates, so the crafting writes what LVM takes as its own
    const hostImg = await h.variant('host', (t) => t);
    const hostLoop = (await sh(['losetup', '--find', '--show', hostImg])).trim();
    try {
      const pvck = await execa('pvck', ['--dump', 'headers', hostLoop], { reject: false, env: { LC_ALL: 'C', ...LVM_ENV } });
      expect(pvck.exitCode, pvck.stdout + pvck.stderr).toBe(0);
      expect(pvck.stdout).not.toContain('CHECK');
      expect(pvck.stdout).toMatch(/metadata text at \d+ crc 0x[0-9a-f]+ # vgname VolGroup seqno \d+/);
      await sh(['vgchange', '--activate', 'y', '--devices', hostLoop, 'VolGroup'], { env: LVM_ENV });
      const hostUuid = (await sh(['vgs', '--noheadings', '-o', 'vg_uuid', '--devices', hostLoop], { env: LVM_ENV })).trim();
      expect(hostUuid).toBe(sectionId(readPv(hostImg).mdas[0]!.text, 'VolGroup'));
      expect(await dmNames()).toEqual(expect.arrayContaining(['VolGroup-lv_root', 'VolGroup-lv_swap']));
      const hostTable = await sh(['dmsetup', 'table', 'VolGroup-lv_root']);
      await refused(h, 'vg_name_clash: map', ', vg_name_clash: map');
      expect(await sh(['dmsetup', 'table', 'VolGroup-lv_root'])).toBe(hostTable);
    } finally {
      await execa('vgchange', ['--activate', 'n', '--devices', hostLoop, 'VolGroup'], { reject: false, env: LVM_ENV });
      await execa('losetup', ['--detach', hostLoop], { reject: false });
    }
    expect(await Promise.all(h.images.map(sha256)), 'image contents must not change').toEqual(h.before);
  });
});
