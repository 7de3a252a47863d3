import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordedReader } from '../recorded-bytes.js';
import { MalformedImageError } from '../../../src/probe/bytes.js';
import { describe, expect, it } from 'vitest';
import { formatLvmUuid, inspectLvmPv, parseLvmText, type LvmLv } from '../../../src/probe/lvm-metadata.js';
import { parseVgsReport } from '../../../src/probe/lvm-report.js';
import { lvMapName, lvTable, notActivatable } from '../../../src/plan/lvm.js';

const DIR = join(import.meta.dirname, '../../fixtures/lvm');

const recorded = (name: string, edit?: (reads: Record<string, Buffer>) => void) => recordedReader(`lvm/${name}`, edit);

describe('LVM physical volumes read from image bytes', () => {
  it('the CentOS layout: VG VolGroup with lv_root (10 extents) and lv_swap, one PV', async () => {
    const pv = await inspectLvmPv(recorded('centos-pv'));
    expect(pv.problems).toEqual([]);
    const vg = pv.vg!;
    expect(vg.name).toBe('VolGroup');
    expect(vg.uuid).toMatch(/^\w{6}(-\w{4}){5}-\w{6}$/);
    expect(vg.extentSize).toBe(8192);
    expect(vg.pvs).toEqual([expect.objectContaining({ key: 'pv0', uuid: pv.pvUuid, peStart: 2048 })]);
    expect(vg.lvs.map((l) => [l.name, l.segments.map((s) => [s.type, s.startExtent, s.extentCount, s.stripes])])).toEqual([
      ['lv_root', [['striped', 0, 10, [{ pv: 'pv0', pe: 0 }]]]],
      ['lv_swap', [['striped', 0, 2, [{ pv: 'pv0', pe: 10 }]]]],
    ]);
  });

  it('a VG over two whole-disk PVs: both carry the metadata, one LV with a segment on each', async () => {
    const a = await inspectLvmPv(recorded('span-pv0'));
    const b = await inspectLvmPv(recorded('span-pv1'));
    expect(a.vg!.uuid).toBe(b.vg!.uuid);
    expect(a.vg!.pvs.map((p) => p.uuid)).toEqual([a.pvUuid, b.pvUuid]);
    const lv = a.vg!.lvs.find((l) => l.name === 'lv_data')!;
    expect(lv.segments.map((s) => [s.startExtent, s.extentCount, s.stripes[0]])).toEqual([[0, 5, { pv: 'pv0', pe: 0 }], [5, 3, { pv: 'pv1', pe: 0 }]]);
    // the table imgplan loads in map mode: the same linear pieces LVM would
    expect(lvTable(a.vg!, lv, (k) => `<${k}>`).join('')).toBe('0 40960 linear <pv0> 2048,40960 24576 linear <pv1> 2048');
  });

  it('not a PV: problems; a damaged metadata area (its only copy): a MalformedImageError, no guess', async () => {
    expect(await inspectLvmPv(async (_o, n) => new Uint8Array(n))).toEqual({ pvUuid: '', problems: ['no LVM2 label in the first four sectors'] });
    const e = await inspectLvmPv(recorded('centos-pv', (reads) => {
      // the metadata area header sits at 4 KiB: break its magic
      reads['4096+512']![5] = 0x21;
    })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MalformedImageError);
    expect((e as Error).message).toBe('PV Dp3iYH-3oLE-nheg-TIQ8-I5y4-JfTr-mn3Sut: metadata area at 4096: no metadata area header (at byte 4096)');
  });

  it('parses the text format: sections, lists, strings with escapes, comments', () => {
    const t = parseLvmText('# c\nvg {\n id = "a\\"b"\n status = ["READ", "WRITE"] # tail\n n = 3\n sub { x = -1 }\n}\ncontents = "Text"\n');
    expect(t).toEqual({ vg: { id: 'a"b', status: ['READ', 'WRITE'], n: 3, sub: { x: -1 } }, contents: 'Text' });
    expect(() => parseLvmText('vg {\n id = \n')).toThrow(/line 3: expected a value/);
  });

  it('UUIDs as LVM prints them', () => {
    expect(formatLvmUuid('Dd7fSkqjhkolMI1e0xCRYSAPY8seNT2v')).toBe('Dd7fSk-qjhk-olMI-1e0x-CRYS-APY8-seNT2v');
  });
});

describe('LVM reports and names', () => {
  it('vgs --reportformat json, recorded in the VM lane', () => {
    expect(parseVgsReport(readFileSync(join(DIR, 'vgs-empty.json'), 'utf8'))).toEqual([]);
    expect(parseVgsReport(readFileSync(join(DIR, 'vgs-volgroup.json'), 'utf8'))).toEqual([{ name: 'VolGroup', uuid: expect.stringMatching(/^\w{6}(-\w{4}){5}-\w{6}$/), lvCount: 2 }]);
    expect(() => parseVgsReport('{"nope":1}')).toThrow(/report/);
  });

  it('dm names double dashes; imgplan\'s own names carry the image', () => {
    expect(lvMapName({ mode: 'lvm', owner: 'w', name: 'ubuntu-vg' }, 'root')).toBe('ubuntu--vg-root');
    expect(lvMapName({ mode: 'map', owner: 'web01', name: 'VolGroup' }, 'lv_root')).toBe('imgplan-web01-VolGroup-lv_root');
  });

  it('only linear and striped, visible LVs are activated read-only', () => {
    const lv = (type: string, status = ['READ', 'VISIBLE']): LvmLv => ({ name: 'x', uuid: 'u', status, segments: [{ startExtent: 0, extentCount: 1, type, stripes: [] }] });
    expect(notActivatable(lv('striped'))).toBeUndefined();
    expect(notActivatable(lv('thin'))).toBe('x is a thin volume; imgplan activates only linear and striped LVs, which it can map read-only without writing LVM metadata');
    expect(notActivatable(lv('snapshot'))).toMatch(/^x is a snapshot;/);
    expect(notActivatable(lv('raid1'))).toMatch(/^x is a raid1 LV;/);
    expect(notActivatable(lv('striped', ['READ']))).toMatch(/internal LV/);
  });
});
