/**
 * Hostile LVM metadata for the host lane (hostile.test.ts) and the VM lane (test/vm/lvm-hostile.test.ts):
 * a real whole-disk PV made by lvm2 (lvm-disk.sh pv), and copies of it whose metadata text
 * test/support/lvm-craft.mjs rewrote with names and UUIDs that LVM never writes, each copy with
 * its own PV and VG UUIDs so that no two images of a manifest hold "one" VG.
 */
import { expect } from 'vitest';
import { craftPv, freshUuid, readPv, renameSection, sectionId, setSectionId } from '../support/lvm-craft.mjs';
import { sh, sha256, type Sandbox } from './harness.js';

/** Images of the manifest whose plan reports every variant at once (imgplan's reader reads each text). */
const ONE_PLAN = ['lvuuid', 'vguuid', 'lvpath', 'vgopt', 'renamed'] as const;

export interface HostileLvm {
  /** the PV lvm2 made, untouched */
  readonly base: string;
  /** every crafted image */
  readonly images: readonly string[];
  /** sha256 of each image, right after crafting */
  readonly before: readonly string[];
  readonly rootUuid: string;
  /** a copy of the base with fresh UUIDs and `edit` applied to its text */
  variant(name: string, edit: (text: string) => string): Promise<string>;
  /** the three manifests (images' extra YAML, e.g. ", vg_name_clash: map"): one plan each */
  manifests(extra?: string): { readonly all: string; readonly vgtable: string; readonly lvesc: string };
}

export async function hostileLvm(sb: Sandbox): Promise<HostileLvm> {
  const [base] = await sb.lvmDisk('pv', ['base.img']);
  const rootUuid = sectionId(readPv(base!).mdas[0]!.text, 'lv_root');
  // the crafting is exact: the same text (and PV UUID) written back leaves every byte as lvm2 wrote it
  const original = await sha256(base!);
  craftPv(base!, 0, { text: (t) => t, pvUuid: readPv(base!).pvUuid });
  expect(await sha256(base!), 'crafting the same text must change no byte').toBe(original);

  const variant = async (name: string, edit: (t: string) => string) => {
    const file = sb.path(`${name}.img`);
    await sh(['cp', '--sparse=always', base!, file]);
    craftPv(file, 0, { pvUuid: freshUuid(), text: (t) => edit(setSectionId(t, 'VolGroup', freshUuid())) });
    return file;
  };
  const images = [
    // a --select widened (and an escape), a dm --concise table in the dm UUID, a path out of
    // /dev/mapper, an option for a VG name, and a valid rename
    await variant('lvuuid', (t) => setSectionId(t, 'lv_root', `${rootUuid} || lv_name=~.*;\u001b[2J`)),
    await variant('vguuid', (t) => setSectionId(t, 'VolGroup', `${sectionId(t, 'VolGroup')},,rw,0 8 linear /dev/sda 0;`)),
    await variant('lvpath', (t) => renameSection(t, 'lv_swap', '../../../dev/sda')),
    await variant('vgopt', (t) => renameSection(t, 'VolGroup', '--devices')),
    await variant('renamed', (t) => renameSection(t, 'VolGroup', 'Crafted_vg')),
    // text LVM's own parser (libdm-config) reads, a quoted section name and a bare one with
    // escapes, but imgplan's does not: a malformed PV stops the plan at that image, so one manifest each
    await variant('vgtable', (t) => renameSection(t, 'VolGroup', 'evil,x,,rw,0 8 linear /dev/sda 0;')),
    await variant('lvesc', (t) => renameSection(t, 'lv_swap', '\u001b[31mlv_evil\u001b]0;owned\u0007')),
  ];
  const before = await Promise.all(images.map(sha256));

  const manifests = (extra = '') => {
    const tag = extra ? '-x' : '';
    const one = (n: string) => sb.writeManifest(`${n}${tag}.yaml`,
      `version: 1\nimages:\n  ${n}: { file: ${n}.img, format: raw${extra} }\nmounts:\n  - { what: ${n}/VolGroup/lv_root, where: ${sb.path(`mnt/${n}`)} }\n`);
    return {
      all: sb.writeManifest(`all${tag}.yaml`, `version: 1
images:
${ONE_PLAN.map((n) => `  ${n}: { file: ${n}.img, format: raw${extra}${n === 'renamed' ? ', volume_groups: [VolGroup]' : ''} }`).join('\n')}
mounts:
${ONE_PLAN.filter((n) => n !== 'renamed').map((n) => `  - { what: ${n}/VolGroup/lv_root, where: ${sb.path(`mnt/${n}`)} }`).join('\n')}
`),
      vgtable: one('vgtable'),
      lvesc: one('lvesc'),
    };
  };
  return { base: base!, images, before, rootUuid, variant, manifests };
}

/** A refusal at plan time: exit 3, and nothing in the text view that a terminal would act on. */
export function expectRefusal(r: { code: number; stdout: string; stderr: string }, what: string): void {
  expect(r.code, `${what}\n${r.stdout}${r.stderr}`).toBe(3);
  expect(r.stdout + r.stderr, what).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
}

/** What plan (or apply) says for the three manifests: each image and its bad field named. */
export function expectNamed(h: HostileLvm, out: { all: string; vgtable: string; lvesc: string }): void {
  const { all, vgtable, lvesc } = out;
  expect(all).toContain(`the LVM metadata of volume group VolGroup (read from lvuuid/whole) holds LV "lv_root"'s uuid "${h.rootUuid} || lv_name=~.*;\\u001b[2J", which LVM itself never writes`);
  expect(all).toMatch(/the LVM metadata of volume group VolGroup \(read from vguuid\/whole\) holds a VG uuid "[\w-]+,,rw,0 8 linear \/dev\/sda 0;"/);
  expect(all).toContain('the LVM metadata of volume group VolGroup (read from lvpath/whole) holds an LV name "../../../dev/sda"');
  expect(all).toContain('image vgopt has no LVM volume group VolGroup; the LVM metadata it has (read from vgopt/whole) holds a VG name "--devices"');
  // the valid rename: imgplan's reader reads the crafted text
  expect(all).toContain('error: image renamed has no LVM volume group VolGroup');
  expect(all).toContain('hint: volume groups found on renamed: Crafted_vg');
  expect(all).toContain('5 errors; nothing was changed.');
  expect(all).not.toContain('has the same name as');
  expect(vgtable).toMatch(/imgplan: error: image vgtable: the whole disk holds a malformed LVM physical volume: PV [\w-]+: metadata area at 4096: metadata text line 1: expected a name, found ""evil,x,,r"/);
  expect(lvesc).toMatch(/imgplan: error: image lvesc: the whole disk holds a malformed LVM physical volume: PV [\w-]+: metadata area at 4096: metadata text line \d+: expected a name, found "\\e\[31mlv_ev"/);
}
