import { describe, expect, it } from 'vitest';
import { DMSETUP_INFO, DMSETUP_TABLE } from '../../../src/probe/commands.js';
import { joinDm, parseDmInfo, parseDmTable } from '../../../src/probe/dmsetup.js';
import { recording } from '../golden-support.js';

/** Output recorded in the VM lane (stock kernel, kpartx maps of a loop device) by record-in-vm.sh. */
function recorded(state: string, argv: readonly string[]): string {
  const hit = recording(state).commands.find((c) => JSON.stringify(c.argv) === JSON.stringify(argv));
  if (!hit) throw new Error(`no ${argv.join(' ')} in ${state}`);
  return hit.stdout;
}

describe('dmsetup parsers (recorded with kpartx maps)', () => {
  it('reads names, kpartx UUIDs with colons, devices and read-only attr', () => {
    const info = parseDmInfo(recorded('kpartx/applied', DMSETUP_INFO.argv));
    expect(info.map((m) => m.name)).toEqual(['loop0p1', 'loop0p2']);
    expect(info[0]).toMatchObject({ majMin: '254:0', readOnly: true });
    expect(info[0]!.uuid).toMatch(/^part1-devnode_7:0_/);
    expect(info[1]!.openCount).toBe(1);
  });

  it('reads linear tables: the loop they read from and the offset', () => {
    const maps = joinDm(parseDmInfo(recorded('kpartx/applied', DMSETUP_INFO.argv)), parseDmTable(recorded('kpartx/applied', DMSETUP_TABLE.argv)));
    expect(maps.map((m) => [m.name, m.devices, m.offsets])).toEqual([
      ['loop0p1', ['7:0'], [2048]],
      ['loop0p2', ['7:0'], [34816]],
    ]);
  });

  it('no maps: "No devices found"', () => {
    expect(parseDmInfo(recorded('kpartx/fresh', DMSETUP_INFO.argv))).toEqual([]);
    expect(parseDmTable(recorded('kpartx/fresh', DMSETUP_TABLE.argv)).size).toBe(0);
  });
});
