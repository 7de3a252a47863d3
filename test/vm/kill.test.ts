/**
 * Kill -9 at the steps of an apply, then destroy: nothing is left (VM lane: device-mapper, nbd,
 * partition scan; with and without udev). The same generic loop as the host's kill test
 * (test/integration/kill-loop.ts), driven from the plan's step list, over a manifest that makes in
 * one apply what the host cannot: kpartx maps of a loop, an LVM VG activated on one of them (the
 * CentOS layout, test/support/lvm-disk.sh), and a qcow2 connected through qemu-nbd with the
 * kernel's partitions of it; its mounts nest across all three (LV, then a kpartx map in it, then
 * an nbd partition in that).
 *
 * Budget (TCG: a CLI call costs seconds, a kill costs an apply and a destroy): the steps the host
 * lane kills around as well (losetup of a file, mkdir, install) are left out; each lane tries one
 * kill per remaining step, the two lanes between them both: the lane with udev kills after the
 * odd ones' commands and before the even ones', the lane without udev the other way round.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capabilities, isRoot, sh, sha256, useSandbox } from '../integration/harness.js';
import { killAtSteps, killSummary, type KillWhen } from '../integration/kill-loop.js';
import type { JsonStep } from '../integration/step-wrappers.js';

const sb = useSandbox();
const udev = process.env.LANE_UDEV === '1';
const can = isRoot && capabilities.partscan() && capabilities.deviceMapper() && existsSync('/usr/sbin/lvchange') && existsSync('/usr/bin/qemu-nbd')
  && (existsSync('/sys/module/nbd') || (await sh(['modprobe', '--dry-run', '--quiet', 'nbd']).then(() => true, () => false)));

describe.skipIf(!can)(`killed at the steps of an apply (SIGKILL), destroy still removes everything (${udev ? 'with' : 'without'} udev)`, () => {
  it('kpartx maps, a VG, an nbd connection, mounts nested across them: before or after each step\'s command', async () => {
    const started = Date.now();
    // loaded before the plan: a plan that loads it has a step no later apply has
    if (!existsSync('/sys/module/nbd')) await sh(['modprobe', 'nbd', 'max_part=16']);
    const [web01] = await sb.lvmDisk('centos', ['web01.img']);
    const data = sb.path('data.qcow2');
    await sb.qemuDisk('convert', 'qcow2', data);
    const images = [web01!, data];
    const before = await Promise.all(images.map(sha256));
    const root = sb.path('web01');
    const manifest = sb.writeManifest('kill.yaml', `version: 1
images:
  web01: { file: web01.img, format: raw, partitions: kpartx }
  data: { file: data.qcow2, format: qcow2, qemu_backend: nbd }
mounts:
  - { what: web01/VolGroup/lv_root, where: ${root} }
  - { what: web01/part1, where: ${root}/boot }
  - { what: data/part2, where: ${root}/boot/grub }
`);
    const plan = await sb.imgplan(['plan', manifest, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const steps = (JSON.parse(plan.stdout) as { steps: JsonStep[] }).steps;
    // what the manifest is for: every one of these kinds is made, and killed around
    for (const cmd of ['losetup', 'kpartx', 'lvchange', 'qemu-nbd', 'mount']) expect(steps.map((s) => String(s.argv[0]))).toContain(cmd);

    // the kinds the host lane kills around too (loops of files, directories, the nbd folder) are not killed here: a kill
    // costs half a minute under TCG. The others get one kill per step in each lane, the other one in the other lane (see the top)
    const vmOnly = steps.filter((s) => !['losetup', 'mkdir', 'install'].includes(String(s.argv[0])));
    const kills = (s: JsonStep): readonly KillWhen[] => {
      const i = vmOnly.indexOf(s);
      return i < 0 ? [] : (i % 2 === 0) === udev ? ['after'] : ['before'];
    };
    // with udev, the kpartx map of the PV makes udev auto-activate the VG (field-notes G3): killed before
    // lvchange, the VG is there all the same, and destroy takes it over
    const appearsUnasked = (s: JsonStep) => udev && s.address.startsWith('vg:');
    const result = await killAtSteps(sb, { manifest, steps, gone: [root], kills, appearsUnasked, progress: (l) => console.log(l) });
    console.log(killSummary(steps.length, result, started, udev ? 'with udev' : 'without udev'));
    for (const f of result.failed) console.log(f);
    expect(result.failed).toEqual([]);
    expect(await Promise.all(images.map(sha256)), 'image contents must not change').toEqual(before);
  }, 900_000);
});
