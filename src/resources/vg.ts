import { error } from '../diagnostics.js';
import type { Manifest } from '../manifest/types.js';
import type { DesiredVgNode } from '../plan/desired.js';
import { imgplanDmUuid, lvDevicePath, lvMapName, lvmDmUuid, lvTable } from '../plan/lvm.js';
import { deviceName } from '../plan/refs.js';
import type { Arg, EntryBase, JournalEntry, Ref, Step } from '../plan/types.js';
import { formatLvmUuid } from '../probe/lvm-metadata.js';
import type { ObservedState } from '../probe/observed.js';
import { majMinOf, type Live } from './devices.js';
import { notMine, type Recovery, type ResourceKind, type Teardown } from './kind.js';

/** A guest VG whose LVs are active over imgplan's devices: activated by LVM, or mapped by imgplan itself. */
export interface VgEntry extends EntryBase<'vg'> {
  readonly vgName: string;
  readonly vgUuid: string;
  /** the PV devices the VG was activated from (every LVM command imgplan runs is limited to them) */
  readonly devices: readonly string[];
  /** lvm: activated by LVM (dm maps LVM-<vg uuid><lv uuid>); map: imgplan's own dm maps, by name */
  readonly mode: 'lvm' | 'map';
  readonly maps: readonly string[];
}

export type VgDetails =
  | {
      readonly from: 'manifest'; readonly name: string; readonly uuid: string; readonly seqno: number;
      /** host VGs with the same name */
      readonly clash: readonly { readonly name: string; readonly uuid: string }[];
      /** each PV, with its device when it is known now */
      readonly pvs: readonly { readonly image: string; readonly storage: string; readonly device?: string }[];
      readonly lvs: readonly { readonly name: string; readonly device: string }[];
      readonly mode: 'lvm' | 'map';
      readonly readOnly: boolean;
    }
  | { readonly from: 'journal'; readonly name: string; readonly uuid: string; readonly pvs: readonly string[] };

declare module '../plan/types.js' {
  interface KindTypes {
    vg: { entry: VgEntry; details: VgDetails; desired: DesiredVgNode; intent: VgEntry };
  }
}

/**
 * VGs that LVM activated over devices imgplan attached without imgplan asking (udev's
 * auto-activation when a PV appears, field-notes G3), as journal entries: destroy must
 * deactivate them before it can detach, and a plan that wants them takes them over.
 */
function adopt(journal: readonly JournalEntry[], obs: ObservedState, others: readonly JournalEntry[]): VgEntry[] {
  const out: VgEntry[] = [];
  // a VG another manifest activated over devices of this one is that manifest's, never adopted
  const known = new Set([...journal, ...others].flatMap((e) => (e.kind === 'vg' ? [e.vgUuid.replace(/-/g, '')] : [])));
  const pathOf = (majMin: string) => {
    const dm = obs.dmMaps.find((m) => m.majMin === majMin);
    if (dm) return `/dev/mapper/${dm.name}`;
    const b = obs.blockDevices.find((x) => x.majMin === majMin);
    return b ? `/dev/${b.name}` : undefined;
  };
  for (const e of journal) {
    if (e.kind !== 'attach' && e.kind !== 'partmap' && e.kind !== 'nbd') continue;
    const majMin = majMinOf(obs, e.device);
    if (!majMin) continue;
    const base = deviceName(e.device);
    const ours = new Set([majMin]);
    for (const b of obs.blockDevices) if (b.pkname === base && b.majMin) ours.add(b.majMin);
    for (const m of obs.dmMaps) if (m.devices.length === 1 && m.devices[0] === majMin && m.majMin) ours.add(m.majMin);
    const groups = new Map<string, typeof obs.dmMaps[number][]>();
    for (const m of obs.dmMaps) {
      if (!m.uuid?.startsWith('LVM-') || !m.devices.some((dv) => ours.has(dv))) continue;
      const vg = m.uuid.slice(4, 36);
      if (!known.has(vg)) groups.set(vg, [...(groups.get(vg) ?? []), m]);
    }
    for (const [raw, maps] of groups) {
      known.add(raw);
      // "Vol--Group-lv_root": the VG name is everything before the first single dash, dashes undoubled
      const vgName = maps[0]!.name.split(/(?<!-)-(?!-)/)[0]!.replace(/--/g, '-');
      const image = e.address.replace(/^(attach|partmap|nbd):/, '').split('/')[0]!;
      const devices = [...new Set(maps.flatMap((m) => m.devices))].flatMap((mm) => pathOf(mm) ?? []).sort();
      out.push({
        kind: 'vg', address: `vg:${image}/${vgName}`, dependsOn: [e.address], vgName, vgUuid: formatLvmUuid(raw), devices, mode: 'lvm',
        maps: maps.map((m) => m.name),
      });
    }
  }
  return out;
}

/**
 * The LVs an interrupted activation left active: LVM's maps of this VG (by UUID) over the PV
 * devices it was run on, or imgplan's own maps by name and UUID.
 */
function recover(intent: VgEntry, obs: ObservedState, journal: readonly JournalEntry[]): Recovery<'vg'> {
  if (journal.some((e) => e.kind === 'vg' && e.vgUuid === intent.vgUuid)) return undefined;
  const raw = intent.vgUuid.replace(/-/g, '');
  const pvs = new Set(intent.devices.flatMap((d) => {
    const mm = d.startsWith('/dev/mapper/') ? obs.dmMaps.find((m) => `/dev/mapper/${m.name}` === d)?.majMin : majMinOf(obs, d);
    return mm ? [mm] : [];
  }));
  const live = intent.mode === 'lvm'
    ? obs.dmMaps.filter((m) => m.uuid?.startsWith(`LVM-${raw}`) && m.devices.some((d) => pvs.has(d)))
    : obs.dmMaps.filter((m) => intent.maps.includes(m.name) && m.uuid?.startsWith(`IMGPLAN-${raw}-`));
  return live.length ? { entry: intent } : undefined;
}

function teardown(e: VgEntry, obs: ObservedState): Teardown<'vg'> {
  const details = { from: 'journal' as const, name: e.vgName, uuid: e.vgUuid, pvs: e.devices };
  if (e.mode === 'lvm') {
    // by UUID and limited to its PVs: never an unscoped vgchange, which would hit the host's VGs
    const argv = ['vgchange', '--activate', 'n', ...e.devices.flatMap((dv) => ['--devices', dv]), '--select', `vg_uuid=${e.vgUuid}`];
    return { details, steps: [{ argv, settleBefore: true, retryBusy: true, journal: { op: 'forget', address: e.address } }] };
  }
  const live = e.maps.filter((n) => obs.dmMaps.some((m) => m.name === n));
  return {
    details,
    steps: live.map((n, i) => ({
      argv: ['dmsetup', 'remove', n], retryBusy: true,
      journal: i === live.length - 1 ? { op: 'forget' as const, address: e.address } : { op: 'record' as const, entry: e },
    })),
  };
}

/** Activating the LVs: LVM's own, scoped to the PVs, or (name clash) imgplan's dm maps from the guest's metadata. */
function activateSteps(d: DesiredVgNode, pvArgs: readonly Arg[], todo: readonly { lv: DesiredVgNode['lvs'][number]; name: string; uuid: string }[],
  all: readonly { lv: DesiredVgNode['lvs'][number]; name: string }[]): Step[] {
  const devFlags = pvArgs.flatMap((a) => ['--devices', a]);
  const entry = {
    kind: 'vg' as const, address: d.address, dependsOn: d.dependsOn, vgName: d.name, vgUuid: d.uuid, devices: pvArgs, mode: d.mode,
    maps: all.map((x) => x.name),
  };
  if (d.mode === 'lvm') {
    return [{
      argv: [
        'lvchange', '--activate', 'y', ...devFlags,
        // LVM would activate a read-write LV over a read-only PV and fail on the first write; say read-only outright
        ...(d.readOnly ? ['--config', `activation{read_only_volume_list=["${d.name}"]}`] : []),
        // read-only: also every LV already active, which udev may have auto-activated read-write when the PV
        // appeared (field-notes G3); lvchange reloads an active LV whose permission differs
        '--select', [...(todo.length ? todo : all).map((x) => `lv_uuid=${x.lv.uuid}`), ...(d.readOnly ? ['lv_active=active'] : [])].join(' || '),
      ],
      // let udev finish what the new PV devices triggered (auto-activation) first
      settleBefore: true,
      undo: ['vgchange', '--activate', 'n', ...devFlags, '--select', `vg_uuid=${d.uuid}`],
      waitFor: all.map((x) => `/dev/mapper/${x.name}`),
      intent: entry,
      journal: { op: 'record', entry },
    }];
  }
  const pvIndex = new Map(d.pvs.map((p, i) => [p.key, pvArgs[i]!]));
  return todo.map((x, i) => ({
    argv: ['dmsetup', 'create', '--concise', {
      concat: [`${x.name},${x.uuid},,${d.readOnly ? 'ro' : 'rw'},`, ...lvTable(d.meta, x.lv, (k) => pvIndex.get(k) as string | Ref)],
    }],
    undo: ['dmsetup', 'remove', x.name],
    waitFor: [`/dev/mapper/${x.name}`],
    ...(i === 0 ? { intent: entry } : {}),
    journal: { op: 'record' as const, entry },
  }));
}

export const vgKind: ResourceKind<'vg'> = {
  kind: 'vg',
  rank: 3,
  verify: (e, obs) => (e.mode === 'lvm'
    ? obs.dmMaps.some((m) => m.uuid?.startsWith(`LVM-${e.vgUuid.replace(/-/g, '')}`))
    : obs.dmMaps.some((m) => e.maps.includes(m.name))),
  recover,
  adopt,
  // active (by LVM, or mapped by imgplan) over the live devices of its PVs, or to be activated
  plan(wanted, p) {
    for (const d of wanted) {
      const mine = p.mine('vg', d.address);
      const pvDevs = d.pvs.map((pv) => p.live(pv.attach)?.devices[pv.sourceAttr]);
      const pvArgs: Arg[] = d.pvs.map((pv, i) => pvDevs[i]?.path ?? { ref: pv.attach, attr: pv.sourceAttr });
      const pvMajMins = new Set(pvDevs.flatMap((x) => (x?.majMin ? [x.majMin] : [])));
      const maps = d.lvs.map((lv) => {
        const name = lvMapName(d, lv.name);
        const uuid = d.mode === 'lvm' ? lvmDmUuid(d.uuid, lv.uuid) : imgplanDmUuid(d.uuid, lv.uuid);
        const live = p.obs.dmMaps.find((m) => m.name === name);
        const ok = live !== undefined && live.uuid === uuid && live.devices.every((dv) => pvMajMins.has(dv)) && (!d.readOnly || live.readOnly);
        return { lv, name, uuid, live, ok };
      });
      for (const x of maps) {
        if (x.live && x.live.uuid !== x.uuid) {
          p.problem(error('dm-name-taken',
            `the device-mapper name ${x.name}, which ${d.name}/${x.lv.name} needs, is taken by another device (uuid ${x.live.uuid ?? 'none'})`,
            undefined, `see it with: dmsetup info ${x.name}`));
        }
      }
      const details: VgDetails = {
        from: 'manifest', name: d.name, uuid: d.uuid, seqno: d.meta.seqno, clash: d.clash.map((c) => ({ name: c.name, uuid: c.uuid })),
        pvs: d.pvs.map((pv, i) => ({ image: pv.image, storage: pv.storage, ...(typeof pvArgs[i] === 'string' ? { device: pvArgs[i] as string } : {}) })),
        lvs: d.lvs.map((lv) => ({ name: lv.name, device: lvDevicePath(d, lv.name) })), mode: d.mode, readOnly: d.readOnly,
      };
      const action = { address: d.address, kind: 'vg' as const, replace: false, dependsOn: d.dependsOn, details };
      const devices = (): Live['devices'] =>
        Object.fromEntries(maps.filter((x) => x.live).map((x) => [`lv:${x.lv.name}`, { path: `/dev/mapper/${x.name}`, majMin: x.live!.majMin }]));
      const allLive = pvDevs.every(Boolean);
      if (allLive && maps.every((x) => x.ok)) {
        if (mine) {
          p.claim(d.address);
          p.add({ ...action, action: 'noop', reason: 'managed', steps: [] });
          p.provide(d.address, { devices: devices(), managed: true });
          continue;
        }
        const owner = p.owner('vg', (e) => e.vgUuid === d.uuid);
        if (owner !== undefined || d.pvs.some((pv) => !p.live(pv.attach)?.managed)) {
          p.add({ ...action, action: 'noop', ...notMine(owner), steps: [] });
          p.provide(d.address, { devices: devices(), managed: false });
          continue;
        }
        // active over imgplan's own devices without a journal entry: udev auto-activated it on attach (field-notes G3)
      }
      const replace = mine !== undefined && (!allLive || mine.devices.join() !== pvArgs.join());
      if (mine) {
        if (replace) p.replaceOld(mine, 'dependency-replaced');
        else p.claim(d.address);
      }
      const adopting = !mine && allLive && maps.every((x) => x.ok);
      p.add({
        ...action, action: 'create', replace, reason: replace ? 'dependency-replaced' : adopting ? 'adopt' : 'missing',
        steps: activateSteps(d, pvArgs, maps.filter((x) => !x.ok || replace), maps),
      });
    }
  },
  teardown,
  uses: (e) => e.devices,
  holds: (e, path) => e.maps.some((m) => path === `/dev/mapper/${m}`) || path.startsWith(`/dev/${e.vgName}/`),
  facts: (_manifest: Manifest, obs: ObservedState) => (obs.hostVgs ?? []).map((v) => `host-vg ${v.name} ${v.uuid}`),
};
