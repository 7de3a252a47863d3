import type { DesiredPartmap } from '../plan/desired.js';
import { resolveRef } from '../plan/refs.js';
import type { Arg, EntryBase, Ref } from '../plan/types.js';
import { deviceName } from '../plan/refs.js';
import { majMinOf, mapperOf } from './devices.js';
import { notMine, type ResourceKind } from './kind.js';

/** kpartx's read-only device-mapper maps of a device's partitions (/dev/mapper/loopNpM). */
export interface PartmapEntry extends EntryBase<'partmap'> {
  /** the loop device kpartx mapped; its maps are /dev/mapper/<loopN>p<M> */
  readonly device: string;
  readonly partitions: readonly number[];
}

export type PartmapDetails =
  | { readonly from: 'manifest'; readonly partitions: readonly number[]; readonly table: string; readonly device: string | Ref }
  | { readonly from: 'journal'; readonly device: string; readonly maps: readonly string[] };

declare module '../plan/types.js' {
  interface KindTypes {
    partmap: { entry: PartmapEntry; details: PartmapDetails; desired: DesiredPartmap; intent: PartmapEntry };
  }
}

export const partmapKind: ResourceKind<'partmap'> = {
  kind: 'partmap',
  rank: 2,
  verify(e, obs) {
    const majMin = majMinOf(obs, e.device);
    return majMin !== undefined && e.partitions.every((n) => mapperOf(obs, e.device, majMin, n) !== undefined);
  },
  // kpartx's maps of the journaled loop it was run on (named loopNpM, reading from it): those that are there
  recover(intent, obs, journal) {
    const majMin = majMinOf(obs, intent.device);
    const mapped = majMin === undefined ? [] : intent.partitions.filter((n) => mapperOf(obs, intent.device, majMin, n) !== undefined);
    const taken = journal.some((e) => e.kind === 'partmap' && e.device === intent.device);
    return mapped.length && !taken ? { entry: { ...intent, partitions: mapped } } : undefined;
  },
  // in place when every partition the mounts need is mapped from the live device
  plan(wanted, p) {
    for (const d of wanted) {
      const live = p.live(d.attach);
      const mine = p.mine('partmap', d.address);
      const device: string | Ref = live?.devices.device?.path ?? { ref: d.attach, attr: 'device' };
      const action = {
        address: d.address, kind: 'partmap' as const, replace: false, dependsOn: [d.attach],
        details: { from: 'manifest' as const, partitions: d.partitions, table: d.label, device },
      };
      if (live && d.partitions.every((n) => live.devices[`mapper:p${n}`])) {
        if (mine) p.claim(d.address);
        const owner = mine ? undefined : p.owner('partmap', (e) => e.device === live.devices.device?.path);
        p.add({ ...action, action: 'noop', ...(mine ? { reason: 'managed' as const } : notMine(owner)), steps: [] });
        continue;
      }
      if (mine) p.replaceOld(mine, 'dependency-replaced');
      const arg: Arg = device;
      const entry = { kind: 'partmap' as const, address: d.address, dependsOn: [d.attach], device: arg, partitions: d.partitions };
      p.add({
        ...action, action: 'create', replace: mine !== undefined, reason: mine ? 'dependency-replaced' : 'missing',
        steps: [{
          argv: ['kpartx', '-a', ...(d.readOnly ? ['-r'] : []), '-s', arg],
          undo: ['kpartx', '-d', '-s', arg],
          waitFor: d.partitions.map((n) => ({ ref: d.attach, attr: `mapper:p${n}` })),
          intent: entry,
          journal: { op: 'record', entry },
        }],
      });
    }
  },
  uses: (e) => [e.device],
  holds: (e, path) => e.partitions.some((n) => path === `/dev/mapper/${deviceName(e.device)}p${n}`),
  teardown: (e) => ({
    details: { from: 'journal', device: e.device, maps: e.partitions.map((n) => resolveRef(e.device, `mapper:p${n}`)) },
    // -d on the loop device, never on the image: without udev `kpartx -d IMAGE` finds no loop and does nothing (field-notes G8)
    steps: [{ argv: ['kpartx', '-d', '-s', e.device], settleBefore: true, retryBusy: true, journal: { op: 'forget', address: e.address } }],
  }),
};
