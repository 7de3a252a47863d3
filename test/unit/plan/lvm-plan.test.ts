import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordedReader } from '../recorded-bytes.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/manifest/load.js';
import { makePlan } from '../../../src/core/make-plan.js';
import { inspectLvmPv, type LvmPv } from '../../../src/probe/lvm-metadata.js';
import type { ObservedState } from '../../../src/probe/observed.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { planToJson } from '../../../src/render/plan-json.js';
import { renderDiagnostics } from '../../../src/render/diagnostics.js';
import { argvText } from '../../../src/render/plan-text.js';
import { PLAIN } from '../../../src/render/style.js';

/** The CentOS PV recorded in the VM lane (test/fixtures/lvm/record.sh), read by the product's reader. */
const centosPv = (): Promise<LvmPv> => inspectLvmPv(recordedReader('lvm/centos-pv'));

let pv: LvmPv;
beforeAll(async () => {
  pv = await centosPv();
});

const IMG = '/srv/web01.img';
function state(over: Partial<ObservedState> = {}): ObservedState {
  const root = pv.vg!.lvs.find((l) => l.name === 'lv_root')!;
  return {
    kernel: { release: '6.1.0-26-amd64', partscan: { labels: ['dos', 'gpt'], evidence: 'test' }, udev: false, deviceMapper: true, kpartx: true, filesystems: { ext4: 'registered' } },
    blockDevices: [], loops: [], mounts: [], dmMaps: [],
    images: {
      web01: {
        file: IMG, stat: { kind: 'file', dev: '8:1', ino: 12, size: 100663296, mtimeMs: 1 },
        table: { label: 'dos', sectorSize: 512, partitions: [{ number: 1, start: 2048, size: 32768, type: '83', bootable: true }, { number: 2, start: 34816, size: 161792, type: '8e', bootable: false }] },
        contents: { whole: { PTTYPE: 'dos' }, part1: { TYPE: 'ext4', LABEL: 'boot' }, part2: { TYPE: 'LVM2_member' } },
        lvm: { part2: pv },
        lvContents: { [root.uuid]: { TYPE: 'ext4', LABEL: 'root' } },
      },
    },
    paths: { '/mnt/root': { kind: 'missing' }, '/mnt': { kind: 'directory', empty: true } },
    mountedXfsUuids: {}, journal: null, journalPath: '/run/imgplan/journal/x.json', hostVgs: [],
    ...over,
  };
}

function plan(yaml: string, obs: ObservedState, mode: 'apply' | 'destroy' = 'apply') {
  const text = `version: 1\n${yaml}`;
  const m = loadManifest({ path: '/srv/rescue.yaml', text, allowWrites: false });
  if (!m.manifest) throw new Error(JSON.stringify(m.diagnostics));
  const r = makePlan(m.manifest, obs, { mode });
  return { ...r, errors: renderDiagnostics(r.diagnostics.filter((d) => d.severity === 'error'), PLAIN, text) };
}

const ROOT = `images:\n  web01: { file: /srv/web01.img, format: raw }\nmounts:\n  - what: web01/VolGroup/lv_root\n    where: /mnt/root\n`;

describe('LVM in the plan (recorded PV metadata)', () => {
  it('attach, then activate only the LV the mount needs, read-only and scoped to the PV, then mount', () => {
    const r = plan(ROOT, state());
    expect(r.errors.trim()).toBe('');
    const steps = r.plan!.actions.flatMap((a) => a.steps.map((s) => argvText(s.argv)));
    const root = pv.vg!.lvs.find((l) => l.name === 'lv_root')!;
    expect(steps).toEqual([
      `losetup --find --show --read-only --partscan ${IMG}`,
      'mkdir --mode=0700 /mnt/root',
      `lvchange --activate y --devices {attach:web01:p2} --config 'activation{read_only_volume_list=["VolGroup"]}' --select 'lv_uuid=${root.uuid} || lv_active=active'`,
      'mount -t ext4 -o ro,noload,nosuid,nodev,noexec /dev/mapper/VolGroup-lv_root /mnt/root',
    ]);
    expect(r.plan!.actions.find((a) => a.kind === 'vg')!.steps[0]!.undo).toEqual(['vgchange', '--activate', 'n', '--devices', { ref: 'attach:web01', attr: 'p2' }, '--select', `vg_uuid=${pv.vg!.uuid}`]);
  });

  it('the activation journals its intent first (LVM\'s and imgplan\'s own maps), and an interrupted one is found by VG UUID over its PVs', () => {
    const hostVgs = [{ name: 'VolGroup', uuid: 'HOSTVG-0000-0000-0000-0000-0000-000000', lvCount: 2 }];
    for (const [yaml, over] of [[ROOT, {}], [ROOT.replace('format: raw }', 'format: raw, vg_name_clash: map }'), { hostVgs }]] as const) {
      const vg = plan(yaml, state(over)).plan!.actions.find((a) => a.kind === 'vg')!;
      const first = vg.steps[0]!;
      expect(first.journal.op === 'record' && first.intent).toEqual(first.journal.op === 'record' ? first.journal.entry : undefined);
      expect(vg.steps.slice(1).every((st) => st.intent === undefined)).toBe(true);
    }
    const raw = (u: string) => u.replace(/-/g, '');
    const intent = { kind: 'vg' as const, address: 'vg:web01/VolGroup', dependsOn: ['attach:web01'], vgName: 'VolGroup', vgUuid: pv.vg!.uuid,
      devices: ['/dev/loop0p2'], mode: 'lvm' as const, maps: ['VolGroup-lv_root'] };
    const attach = { kind: 'attach' as const, address: 'attach:web01', dependsOn: [], device: '/dev/loop0', file: IMG, backDev: '8:1', backIno: 12,
      offset: 0, sizelimit: 0, readOnly: true, partscan: true };
    const active = (devices: string[]) => state({
      loops: [{ device: '/dev/loop0', majMin: '7:0', backFile: IMG, backDev: '8:1', backIno: 12, offset: 0, sizelimit: 0, ro: true, partscan: true, autoclear: false }],
      blockDevices: [{ name: 'loop0p2', majMin: '259:1', type: 'part', pkname: 'loop0', size: 82837504, ro: true }],
      dmMaps: [{ name: 'VolGroup-lv_root', uuid: `LVM-${raw(pv.vg!.uuid)}${raw(pv.vg!.lvs[0]!.uuid)}`, majMin: '254:0', readOnly: true, openCount: 0,
        devices, offsets: [2048] }],
      journal: { formatVersion: 2, manifest: '/srv/rescue.yaml', manifestSha256: 'x', entries: [attach], intents: [intent] },
    });
    expect(plan(ROOT, active(['259:1']), 'destroy').plan!.recovered).toEqual([intent]);
    // the same VG UUID active over another device (a clone of the image) is not the run's
    expect(plan(ROOT, active(['8:17']), 'destroy').plan!.forget).toEqual(['vg:web01/VolGroup']);
  });

  it('volume_groups activates every linear LV of the VG, swap included, without mounting', () => {
    const r = plan(`images:\n  web01: { file: /srv/web01.img, format: raw, volume_groups: [VolGroup] }\n`, state());
    const vg = r.plan!.actions.find((a) => a.kind === 'vg')!;
    expect(argvText(vg.steps[0]!.argv)).toMatch(/--select 'lv_uuid=[\w-]+ \|\| lv_uuid=[\w-]+ \|\| lv_active=active'$/);
  });

  it('a host VG of the same name: refused with both UUIDs by default', () => {
    const r = plan(ROOT, state({ hostVgs: [{ name: 'VolGroup', uuid: 'HOSTVG-0000-0000-0000-0000-0000-000000', lvCount: 2 }] }));
    expect(r.errors).toContain(`/srv/rescue.yaml:5:11: error: volume group VolGroup on image web01 (uuid ${pv.vg!.uuid}) has the same name as the host's VG (uuid HOSTVG-0000-0000-0000-0000-0000-000000)`);
    expect(r.errors).toContain('hint: set vg_name_clash: map on image web01');
  });

  it('vg_name_clash: map builds imgplan-owned read-only dm maps from the guest metadata', () => {
    const yaml = ROOT.replace('format: raw }', 'format: raw, vg_name_clash: map }');
    const r = plan(yaml, state({ hostVgs: [{ name: 'VolGroup', uuid: 'HOSTVG-0000-0000-0000-0000-0000-000000', lvCount: 2 }] }));
    expect(r.errors.trim()).toBe('');
    const vg = r.plan!.actions.find((a) => a.kind === 'vg')!;
    expect(vg.steps.map((s) => argvText(s.argv))).toEqual([
      `dmsetup create --concise 'imgplan-web01-VolGroup-lv_root,IMGPLAN-${pv.vg!.uuid.replace(/-/g, '')}-${pv.vg!.lvs[0]!.uuid.replace(/-/g, '')},,ro,0 81920 linear {attach:web01:p2} 2048'`,
    ]);
    expect(r.plan!.actions.find((a) => a.kind === 'mount')!.steps[0]!.argv).toContain('/dev/mapper/imgplan-web01-VolGroup-lv_root');
    // the JSON plan carries the table as one argument of text and refs, and validates against the published schema
    const json = planToJson(r.plan!) as { steps: { argv: unknown[] }[] };
    const validate = new Ajv2020({ allErrors: true, strict: true }).compile(JSON.parse(readFileSync(join(import.meta.dirname, '../../../schemas/plan.schema.json'), 'utf8')) as object);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(json.steps.find((st) => st.argv[0] === 'dmsetup')!.argv[3]).toEqual({ concat: [expect.stringMatching(/^imgplan-web01-VolGroup-lv_root,IMGPLAN-\w+-\w+,,ro,$/), '0 81920 linear ', { ref: 'attach:web01', attr: 'p2' }, ' 2048'] });
  });

  it('mounting the PV partition itself points at its LVs', () => {
    const r = plan(ROOT.replace('web01/VolGroup/lv_root', 'web01/part2'), state());
    expect(r.errors).toContain('error: web01/part2 holds an LVM physical volume; mount its logical volumes with what: IMAGE/VG/LV');
    expect(r.errors).toContain('hint: it belongs to VG VolGroup: what: web01/VolGroup/LV, where LV is one of lv_root, lv_swap');
  });

  it('a wrong LV or VG name says what there is', () => {
    expect(plan(ROOT.replace('lv_root', 'lv_home'), state()).errors).toContain('volume group VolGroup (on web01) has no logical volume lv_home\n');
    expect(plan(ROOT.replace('VolGroup', 'centos'), state()).errors).toContain('hint: volume groups found on web01: VolGroup');
  });

  it('destroy deactivates a VG that udev auto-activated over imgplan\'s loop before detaching it, by UUID and --devices', () => {
    const raw = (u: string) => u.replace(/-/g, '');
    const obs = state({
      loops: [{ device: '/dev/loop0', majMin: '7:0', backFile: IMG, backDev: '8:1', backIno: 12, offset: 0, sizelimit: 0, ro: true, partscan: true, autoclear: false }],
      blockDevices: [{ name: 'loop0p2', majMin: '259:1', type: 'part', pkname: 'loop0', size: 82837504, ro: true }],
      dmMaps: [{ name: 'VolGroup-lv_swap', uuid: `LVM-${raw(pv.vg!.uuid)}${raw(pv.vg!.lvs[1]!.uuid)}`, majMin: '254:0', readOnly: true, openCount: 0, devices: ['259:1'], offsets: [83968] }],
      journal: { formatVersion: 2, manifest: '/srv/rescue.yaml', manifestSha256: 'x', intents: [], entries: [
        { kind: 'attach', address: 'attach:web01', dependsOn: [], device: '/dev/loop0', file: IMG, backDev: '8:1', backIno: 12, offset: 0, sizelimit: 0, readOnly: true, partscan: true },
      ] },
    });
    const r = plan(ROOT, obs, 'destroy');
    expect(r.plan!.actions.map((a) => argvText(a.steps[0]!.argv))).toEqual([
      `vgchange --activate n --devices /dev/loop0p2 --select vg_uuid=${pv.vg!.uuid}`,
      'losetup --detach /dev/loop0',
    ]);
  });
});

describe('hostile LVM metadata (names and UUIDs are image bytes)', () => {
  /** The recorded PV with one field of its VG metadata replaced, as a crafted image would have it. */
  const crafted = (edit: (vg: NonNullable<LvmPv['vg']>) => NonNullable<LvmPv['vg']>): ObservedState => {
    const base = state();
    return { ...base, images: { web01: { ...base.images.web01!, lvm: { part2: { ...pv, vg: edit(pv.vg!) } } } } };
  };
  const lvRenamed = (name: string) => crafted((vg) => ({ ...vg, lvs: vg.lvs.map((l) => (l.name === 'lv_swap' ? { ...l, name } : l)) }));
  const CLASH = ROOT.replace('format: raw }', 'format: raw, vg_name_clash: map }');
  const hostVg = { hostVgs: [{ name: 'VolGroup', uuid: 'Host00-0000-0000-0000-0000-0000-000000', lvCount: 2 }] };

  it.each([
    // a second device in a dm --concise table, writable, over a host disk
    ['an LV name that is dm table syntax', () => lvRenamed('x,,,rw,0 8 linear /dev/sda 0;y'), 'an LV name "x,,,rw,0 8 linear /dev/sda 0;y"'],
    ['an LV name that starts with a hyphen (an option)', () => lvRenamed('--help'), 'an LV name "--help"'],
    ['a terminal escape in an LV name', () => lvRenamed('lv\u001b[2J'), 'an LV name "lv\\u001b[2J"'],
    ['an LV UUID that widens a --select', () => crafted((vg) => ({ ...vg, lvs: vg.lvs.map((l) => ({ ...l, uuid: `${l.uuid} || lv_name=~.*` })) })), 'uuid "'],
    ['a VG UUID with a quote', () => crafted((vg) => ({ ...vg, uuid: `${vg.uuid}"` })), 'a VG uuid "'],
    // no manifest can name it: the plan says what is wrong with it, not only that VolGroup is missing
    ['a VG name that is an option', () => crafted((vg) => ({ ...vg, name: '--devices' })), 'image web01 has no LVM volume group VolGroup; the LVM metadata it has (read from web01/part2) holds a VG name "--devices"'],
  ] as const)('%s is refused at plan time, in both activation modes, and nothing is planned', (_what, make, named) => {
    const obs = make();
    for (const [yaml, o] of [[ROOT, obs], [CLASH, { ...obs, ...hostVg }]] as const) {
      const r = plan(yaml, o);
      expect(r.plan).toBeUndefined();
      expect(r.diagnostics.map((d) => d.code)).toContain('lvm-bad-metadata');
      expect(r.errors).toContain(named);
      expect(r.errors).toContain('read from web01/part2');
      // the text view never hands an escape to the terminal
      expect(r.errors).not.toMatch(/\u001b/);
    }
  });

  it('the recorded metadata itself passes', () => {
    expect(plan(ROOT, state()).plan).toBeDefined();
    expect(plan(CLASH, { ...state(), ...hostVg }).plan).toBeDefined();
  });
});
