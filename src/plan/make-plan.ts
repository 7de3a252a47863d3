import { posix } from 'node:path';
import { error, warning, type Diagnostic } from '../diagnostics.js';
import type { JournalEntry } from '../journal/format.js';
import type { Manifest } from '../manifest/types.js';
import type { MountEntry } from '../probe/findmnt.js';
import type { LoopDevice } from '../probe/losetup.js';
import { formatLvmUuid } from '../probe/lvm-metadata.js';
import type { ObservedState } from '../probe/observed.js';
import {
  buildDesired, describeAttach, dirAddress, mountpointDirs, type DesiredVgNode,
  type DesiredAttach, type DesiredDir, type DesiredMount, type DesiredPartmap,
} from './desired.js';
import { topoSort } from './graph.js';
import { describeChain, NBD_MAX_PART, type DesiredExport, type DesiredNbd } from './qemu.js';
import { overlayCreateArgv, storageDaemonArgv } from '../qemu/storage-daemon.js';
import { liveNbdDevice, nbdConnectArgv, nbdDisconnectArgv } from '../qemu/nbd.js';
import { imgplanDmUuid, lvDevicePath, lvMapName, lvmDmUuid, lvTable } from './lvm.js';
import { deviceName, resolveRef } from './refs.js';
import { VISIBLE_FLAGS } from './mount-options.js';
import type { Arg, Attr, Kind, Plan, PlannedAction, Reason, Ref, Step } from './types.js';

export interface PlanOptions {
  readonly mode: 'apply' | 'destroy';
}

export interface PlanResult {
  readonly plan?: Plan;
  /** errors mean no plan: nothing may be changed */
  readonly diagnostics: readonly Diagnostic[];
}

const REASONS: Readonly<Record<Reason, string>> = {
  'missing': 'does not exist yet',
  'not-in-manifest': 'made by imgplan, no longer in the manifest',
  'destroy': 'made by imgplan',
  'read-only-mismatch': 'attached with other access than the manifest wants',
  'options-differ': 'mounted with other options than the manifest wants',
  'source-changed': 'mounted by imgplan from a device the manifest no longer names',
  'dependency-replaced': 'the device under it is being replaced',
  'parent-replaced': 'the mount it sits in is being replaced',
  'managed': 'in place (made by imgplan)',
  'not-managed': 'already present, not made by imgplan: destroy leaves it alone',
};

/** The major:minor of a block device imgplan attached (a loop device, or an nbd device). */
function majMinOf(obs: ObservedState, device: string): string | undefined {
  return obs.loops.find((l) => l.device === device)?.majMin ?? obs.blockDevices.find((b) => `/dev/${b.name}` === device)?.majMin;
}

function verified(e: JournalEntry, obs: ObservedState): boolean {
  switch (e.kind) {
    case 'export': {
      // a daemon that died leaves its FUSE view mounted (and unusable): still ours to clean up
      const x = obs.exports?.[e.address.slice('export:'.length)];
      return x?.serving === true || x?.mounted === true;
    }
    case 'nbd':
      return obs.nbd !== undefined && liveNbdDevice(e, obs.nbd);
    case 'attach':
      // a view's dev and inode are new with each export, and a device node's say nothing: known by path
      if (e.byPath) return obs.loops.some((l) => l.device === e.device && l.backFile === e.file && l.offset === e.offset && l.sizelimit === e.sizelimit);
      return obs.loops.some((l) => l.device === e.device && l.backDev === e.backDev && l.backIno === e.backIno && l.offset === e.offset && l.sizelimit === e.sizelimit);
    case 'mount':
      return obs.mounts.some((m) => m.target === e.target && m.source === e.source);
    case 'dir':
      return obs.paths[e.path]?.kind === 'directory' || obs.mounts.some((m) => m.target === e.path);
    case 'vg':
      return e.mode === 'lvm'
        ? obs.dmMaps.some((m) => m.uuid?.startsWith(`LVM-${e.vgUuid.replace(/-/g, '')}`))
        : obs.dmMaps.some((m) => e.maps.includes(m.name));
    case 'partmap': {
      const majMin = majMinOf(obs, e.device);
      return majMin !== undefined && e.partitions.every((n) => mapperOf(obs, e.device, majMin, n) !== undefined);
    }
  }
}

/** kpartx's map of partition n of a loop device: named loopNpM, reading from that loop. */
function mapperOf(obs: ObservedState, device: string, majMin: string, n: number) {
  return obs.dmMaps.find((m) => m.name === `${deviceName(device)}p${n}` && m.devices[0] === majMin);
}

/**
 * VGs that LVM activated over devices imgplan attached without imgplan asking (udev's
 * auto-activation when a PV appears, field-notes G3), as journal entries: destroy must
 * deactivate them before it can detach, and a plan that wants them takes them over.
 */
function adoptedVgs(journal: readonly JournalEntry[], obs: ObservedState): JournalEntry[] {
  const out: JournalEntry[] = [];
  const known = new Set(journal.flatMap((e) => (e.kind === 'vg' ? [e.vgUuid.replace(/-/g, '')] : [])));
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
      out.push({ kind: 'vg', address: `vg:${image}/${vgName}`, dependsOn: [e.address], vgName, vgUuid: formatLvmUuid(raw), devices, mode: 'lvm', maps: maps.map((m) => m.name) });
    }
  }
  return out;
}

function loopMatches(d: DesiredAttach, l: LoopDevice): boolean {
  // kpartx on a loop whose partitions the kernel also scanned would show every PV twice
  const scanOk = d.method === 'partscan-loop' ? l.partscan : d.method === 'kpartx-loop' ? !l.partscan : true;
  if (d.via) return d.via.live && l.backFile === d.file && l.offset === d.offset && l.sizelimit === d.sizelimit && scanOk;
  return l.backDev === d.backDev && l.backIno === d.backIno && l.offset === d.offset && l.sizelimit === d.sizelimit && scanOk;
}

/** The devices a block device provides: itself, its kernel partitions (pN) and kpartx's maps of them (mapper:pN). */
function liveDevices(obs: ObservedState, device: string, majMin: string | undefined, managed: boolean): Live {
  const devices: Record<string, { path: string; majMin?: string }> = { device: { path: device, ...(majMin ? { majMin } : {}) } };
  const base = deviceName(device);
  for (const b of obs.blockDevices) {
    if (b.pkname === base && b.name.startsWith(base)) {
      const n = /p(\d+)$/.exec(b.name)?.[1];
      if (n) devices[`p${n}`] = { path: `/dev/${b.name}`, majMin: b.majMin };
    }
  }
  for (const m of obs.dmMaps) {
    const n = m.name.startsWith(`${base}p`) && majMin !== undefined && m.devices[0] === majMin ? /^p(\d+)$/.exec(m.name.slice(base.length))?.[1] : undefined;
    if (n) devices[`mapper:p${n}`] = { path: `/dev/mapper/${m.name}`, majMin: m.majMin };
  }
  return { devices, managed };
}

/** How a QEMU backend opens the image, in words. */
function qemuAccess(d: DesiredExport | DesiredNbd, overlay: string): string {
  if (d.overlay) return `writes go to the throw-away overlay ${overlay} (deleted by destroy); the image is only read`;
  if (d.writable) return 'read-write (--allow-writes)';
  return `read-only${d.forceShare ? ', shared locking (allow_live: the image is in use)' : ''}`;
}

interface Live {
  /** the device a mount uses for each attach attr ("device", "p3") */
  readonly devices: Readonly<Record<string, { path: string; majMin?: string }>>;
  readonly managed: boolean;
}

class Planner {
  readonly diags: Diagnostic[] = [];
  readonly actions: PlannedAction[] = [];
  readonly journal: readonly JournalEntry[];
  readonly stale: string[] = [];
  /** journal entries a desired object took over (the rest are orphans) */
  readonly claimed = new Set<string>();

  constructor(readonly obs: ObservedState) {
    const entries = obs.journal?.entries ?? [];
    const kept = entries.filter((e) => {
      if (verified(e, obs)) return true;
      this.stale.push(e.address);
      this.diags.push(warning('journal-stale', `${e.address} is in imgplan's journal but no longer on the system as recorded; forgetting it`));
      return false;
    });
    this.journal = [...kept, ...adoptedVgs(kept, obs)];
  }

  entry<K extends JournalEntry['kind']>(address: string, kind: K): Extract<JournalEntry, { kind: K }> | undefined {
    return this.journal.find((e) => e.address === address && e.kind === kind) as Extract<JournalEntry, { kind: K }> | undefined;
  }

  add(a: Omit<PlannedAction, 'reasonText'> & { reasonText?: string }): void {
    this.actions.push({ ...a, reasonText: a.reasonText ?? REASONS[a.reason] });
  }

  /** A QEMU image's storage-daemon export: in place while its daemon serves the view as wanted, else started. */
  export(d: DesiredExport): void {
    const mine = this.entry(d.address, 'export');
    const p = d.paths;
    const attrs: Attr[] = [
      { label: 'image', value: describeChain(d.chain) },
      { label: 'backend', value: `qemu-storage-daemon serves the disk as a raw file over FUSE, read by loop devices (${d.why})` },
      { label: 'access', value: qemuAccess(d, p.overlay) },
      { label: 'view', value: p.view },
    ];
    if (d.live && mine) {
      this.claimed.add(d.address);
      this.add({ address: d.address, kind: 'export', action: 'noop', replace: false, reason: 'managed', dependsOn: [], attrs, steps: [] });
      return;
    }
    if (mine) {
      this.claimed.add(d.address);
      this.add(this.deleteAction(mine, true, 'read-only-mismatch'));
    }
    const file = d.overlay ? p.overlay : d.image.file;
    const entry: JournalEntry = {
      kind: 'export', address: d.address, dependsOn: [], image: d.image.file, format: d.image.format, view: p.view, pidfile: p.pidfile,
      ...(d.overlay ? { overlay: p.overlay } : {}), writable: d.writable,
    };
    const steps: Step[] = [
      // the FUSE export mounts over an existing regular file
      { argv: ['install', '-D', '-m', '0600', '/dev/null', p.view], undo: ['rm', '-f', p.view], journal: { op: 'add', entry } },
      ...(d.overlay ? [{ argv: overlayCreateArgv(d.image.file, d.image.format, p.overlay), undo: ['rm', '-f', p.overlay], journal: { op: 'add' as const, entry } }] : []),
      {
        argv: storageDaemonArgv({ file, format: d.overlay ? 'qcow2' : d.image.format, view: p.view, pidfile: p.pidfile, writable: d.writable, forceShare: d.forceShare }),
        // rollback runs after the loops on the view are gone: the daemon unmounts its view as it exits
        undo: ['pkill', '--pidfile', p.pidfile, '--logpidfile'],
        journal: { op: 'add', entry },
      },
    ];
    this.add({ address: d.address, kind: 'export', action: 'create', replace: mine !== undefined, reason: mine ? 'read-only-mismatch' : 'missing', dependsOn: [], attrs, steps });
  }

  /** A QEMU image's nbd connection: in place while its qemu-nbd serves the device as wanted, else connected. */
  nbd(d: DesiredNbd): Live | undefined {
    const mine = this.entry(d.address, 'nbd');
    const attrs: Attr[] = [
      { label: 'image', value: describeChain(d.chain) },
      { label: 'backend', value: `qemu-nbd connects ${d.device} (${d.why})` },
      ...(d.partitions.length ? [{ label: 'partitions', value: `${d.partitions.map((n) => `part${n}`).join(', ')}, as the kernel's partition nodes of the device` }] : []),
      { label: 'access', value: qemuAccess(d, d.paths.overlay) },
      { label: 'device', value: d.device },
    ];
    if (d.live && (mine || d.foreign)) {
      if (mine) this.claimed.add(d.address);
      this.add({ address: d.address, kind: 'nbd', action: 'noop', replace: false, reason: mine ? 'managed' : 'not-managed', dependsOn: [], attrs, steps: [] });
      return liveDevices(this.obs, d.device, majMinOf(this.obs, d.device), mine !== undefined);
    }
    if (mine) {
      this.claimed.add(d.address);
      this.add(this.deleteAction(mine, true, 'read-only-mismatch'));
    }
    const file = d.overlay ? d.paths.overlay : d.image.file;
    const entry: JournalEntry = {
      kind: 'nbd', address: d.address, dependsOn: [], device: d.device, pidfile: d.paths.pidfile, image: d.image.file, format: d.image.format, file,
      ...(d.overlay ? { overlay: d.paths.overlay } : {}), writable: d.writable,
    };
    const n = deviceName(d.device).slice('nbd'.length);
    const steps: Step[] = [
      ...(d.loadModule ? [{ argv: ['modprobe', 'nbd', `max_part=${NBD_MAX_PART}`], journal: { op: 'none' as const } }] : []),
      { argv: ['install', '-d', '-m', '0700', d.paths.dir], journal: { op: 'none' } },
      ...(d.overlay ? [{ argv: overlayCreateArgv(d.image.file, d.image.format, d.paths.overlay), undo: ['rm', '-f', d.paths.overlay], journal: { op: 'add' as const, entry } }] : []),
      {
        argv: nbdConnectArgv({ device: d.device, file, format: d.overlay ? 'qcow2' : d.image.format, readOnly: !d.writable, pidfile: d.paths.pidfile, forceShare: d.forceShare }),
        produces: { ref: d.address, attr: 'device' },
        producesValue: d.device,
        undo: nbdDisconnectArgv(d.device),
        // connected once the kernel names the server's pid; then the partitions the mounts need
        waitFor: [`/sys/block/nbd${n}/pid`, ...d.partitions.map((p) => ({ ref: d.address, attr: `p${p}` }))],
        ...(d.partitions.length ? { rescan: d.device } : {}),
        journal: { op: 'add', entry },
      },
    ];
    this.add({ address: d.address, kind: 'nbd', action: 'create', replace: mine !== undefined, reason: mine ? 'read-only-mismatch' : 'missing', dependsOn: [], attrs, steps });
    return undefined;
  }

  /** Attach: returns the live devices it provides when it stays as it is. */
  attach(d: DesiredAttach): Live | undefined {
    const obs = this.obs;
    const mine = this.entry(d.address, 'attach');
    const candidates = obs.loops.filter((l) => loopMatches(d, l));
    const journaledDevices = new Set(this.journal.filter((e) => e.kind === 'attach').map((e) => (e as { device: string }).device));
    const managedLoop = mine ? candidates.find((l) => l.device === mine.device) : undefined;
    const foreign = candidates.filter((l) => !journaledDevices.has(l.device)).sort((a, b) => a.device.localeCompare(b.device, 'en', { numeric: true }));
    if (d.readOnly && !d.via) {
      for (const l of obs.loops.filter((x) => x.backDev === d.backDev && x.backIno === d.backIno && !x.ro && !journaledDevices.has(x.device))) {
        this.diags.push(warning('image-attached-writable', `${l.device} (not made by imgplan) attaches ${d.image.file} read-write: the image can change under a read-only mount`,
          d.image.fileAt, `find its user with: losetup --list ${l.device}`));
      }
    }
    const desc = describeAttach(d);
    const attrs = (device: string | undefined): Attr[] => [
      { label: 'image', value: d.via?.kind === 'export' ? `${d.file}, the raw view of ${d.image.file}` : d.via?.kind === 'nbd' ? `${d.file}, the nbd device of ${d.image.file}` : `${d.image.file} (${d.image.format})` },
      ...(desc.partition ? [{ label: 'partition', value: desc.partition }] : []),
      ...(d.method === 'partscan-loop' ? [{ label: 'partitions', value: `${d.partitions.map((n) => `part${n}`).join(', ')}, as the kernel's partition nodes of the device` }] : []),
      { label: 'method', value: desc.method },
      { label: 'access', value: d.readOnly ? 'read-only' : d.image.access === 'overlay' ? 'read-write (the writes go to the overlay)' : 'read-write (--allow-writes)' },
      { label: 'device', value: device ?? { ref: d.address, attr: 'device' } },
    ];
    const live = (l: LoopDevice, managed: boolean): Live => liveDevices(obs, l.device, l.majMin, managed);
    const deps: string[] = d.via ? [d.via.address] : [];
    if (managedLoop && managedLoop.ro === d.readOnly) {
      this.claimed.add(d.address);
      this.add({ address: d.address, kind: 'attach', action: 'noop', replace: false, reason: 'managed', dependsOn: deps, attrs: attrs(managedLoop.device), steps: [] });
      return live(managedLoop, true);
    }
    const usable = foreign.find((l) => l.ro === d.readOnly);
    if (!managedLoop && usable) {
      this.add({ address: d.address, kind: 'attach', action: 'noop', replace: false, reason: 'not-managed', dependsOn: deps, attrs: attrs(usable.device), steps: [] });
      return live(usable, false);
    }
    const replace = managedLoop !== undefined;
    if (mine && replace) {
      this.claimed.add(d.address);
      this.add(this.deleteAction(mine, true, 'read-only-mismatch'));
    }
    const argv: Arg[] = ['losetup', '--find', '--show'];
    if (d.readOnly) argv.push('--read-only');
    if (d.method === 'partscan-loop') argv.push('--partscan');
    if (d.method === 'offset-loop') argv.push('--offset', String(d.offset), '--sizelimit', String(d.sizelimit));
    argv.push(d.file);
    const device = { ref: d.address, attr: 'device' };
    const step: Step = {
      argv,
      produces: device,
      undo: ['losetup', '--detach', device],
      ...(d.method === 'partscan-loop' ? { waitFor: d.partitions.map((n) => ({ ref: d.address, attr: `p${n}` })) } : {}),
      journal: {
        op: 'add',
        entry: {
          kind: 'attach', address: d.address, dependsOn: deps, device, file: d.file, backDev: d.backDev, backIno: d.backIno,
          offset: d.offset, sizelimit: d.sizelimit, readOnly: d.readOnly, partscan: d.method === 'partscan-loop', ...(d.via ? { byPath: true } : {}),
        },
      },
    };
    this.add({ address: d.address, kind: 'attach', action: 'create', replace, reason: replace ? 'read-only-mismatch' : 'missing', dependsOn: deps, attrs: attrs(undefined), steps: [step] });
    return undefined;
  }

  /** kpartx maps: in place when every partition the mounts need is mapped from the live loop. */
  partmap(d: DesiredPartmap, live: Live | undefined): void {
    const mine = this.entry(d.address, 'partmap');
    const device: Arg = live?.devices.device?.path ?? { ref: d.attach, attr: 'device' };
    const attrs: Attr[] = [
      { label: 'partitions', value: `${d.partitions.map((n) => `part${n}`).join(', ')} of the ${d.label} table, as /dev/mapper/<loop>pN` },
      { label: 'loop', value: device },
    ];
    if (live && d.partitions.every((n) => live.devices[`mapper:p${n}`])) {
      if (mine) this.claimed.add(d.address);
      this.add({ address: d.address, kind: 'partmap', action: 'noop', replace: false, reason: mine ? 'managed' : 'not-managed', dependsOn: [d.attach], attrs, steps: [] });
      return;
    }
    if (mine) {
      this.claimed.add(d.address);
      this.add(this.deleteAction(mine, true, 'dependency-replaced'));
    }
    const step: Step = {
      argv: ['kpartx', '-a', ...(d.readOnly ? ['-r'] : []), '-s', device],
      undo: ['kpartx', '-d', '-s', device],
      waitFor: d.partitions.map((n) => ({ ref: d.attach, attr: `mapper:p${n}` })),
      journal: { op: 'add', entry: { kind: 'partmap', address: d.address, dependsOn: [d.attach], device, partitions: d.partitions } },
    };
    this.add({ address: d.address, kind: 'partmap', action: 'create', replace: mine !== undefined, reason: mine ? 'dependency-replaced' : 'missing', dependsOn: [d.attach], attrs, steps: [step] });
  }

  /** A VG's LVs: active (by LVM, or mapped by imgplan) over the live devices of its PVs, or to be activated. */
  vg(d: DesiredVgNode, pvLive: (attach: string) => Live | undefined): Live | undefined {
    const mine = this.entry(d.address, 'vg');
    const pvDevs = d.pvs.map((p) => pvLive(p.attach)?.devices[p.sourceAttr]);
    const pvArgs: Arg[] = d.pvs.map((p, i) => pvDevs[i]?.path ?? { ref: p.attach, attr: p.sourceAttr });
    const pvMajMins = new Set(pvDevs.flatMap((x) => (x?.majMin ? [x.majMin] : [])));
    const maps = d.lvs.map((lv) => {
      const name = lvMapName(d, lv.name);
      const uuid = d.mode === 'lvm' ? lvmDmUuid(d.uuid, lv.uuid) : imgplanDmUuid(d.uuid, lv.uuid);
      const live = this.obs.dmMaps.find((m) => m.name === name);
      const ok = live !== undefined && live.uuid === uuid && live.devices.every((dv) => pvMajMins.has(dv)) && (!d.readOnly || live.readOnly);
      return { lv, name, uuid, live, ok };
    });
    for (const x of maps) {
      if (x.live && x.live.uuid !== x.uuid) {
        this.diags.push(error('dm-name-taken', `the device-mapper name ${x.name}, which ${d.name}/${x.lv.name} needs, is taken by another device (uuid ${x.live.uuid ?? 'none'})`,
          undefined, `see it with: dmsetup info ${x.name}`));
      }
    }
    const mode = d.mode === 'lvm'
      ? `LVM activates the LVs${d.readOnly ? ' read-only' : ''}, every command limited to the PVs with --devices`
      : `name clash: imgplan maps the LVs itself${d.readOnly ? ', read-only,' : ''} from the guest's metadata (LVM never activates this VG)`;
    const attrs: Attr[] = [
      { label: 'volume', value: `LVM VG ${d.name}, uuid ${d.uuid}, metadata seqno ${d.meta.seqno}` },
      ...d.clash.map((c) => ({ label: 'clash', value: `the host has a VG named ${c.name} too (uuid ${c.uuid})` })),
      { label: 'PVs', value: d.pvs.map((p, i) => `${p.image}/${p.storage}${typeof pvArgs[i] === 'string' ? ` (${pvArgs[i] as string})` : ''}`).join(', ') },
      { label: 'LVs', value: d.lvs.map((lv) => `${lv.name} → ${lvDevicePath(d, lv.name)}`).join(', ') },
      { label: 'method', value: mode },
    ];
    const devices = (ms: typeof maps): Live['devices'] =>
      Object.fromEntries(ms.filter((x) => x.live).map((x) => [`lv:${x.lv.name}`, { path: `/dev/mapper/${x.name}`, majMin: x.live!.majMin }]));
    const allLive = pvDevs.every(Boolean);
    if (allLive && maps.every((x) => x.ok)) {
      if (mine) {
        this.claimed.add(d.address);
        this.add({ address: d.address, kind: 'vg', action: 'noop', replace: false, reason: 'managed', dependsOn: d.dependsOn, attrs, steps: [] });
        return { devices: devices(maps), managed: true };
      }
      if (d.pvs.some((p) => !pvLive(p.attach)?.managed)) {
        this.add({ address: d.address, kind: 'vg', action: 'noop', replace: false, reason: 'not-managed', dependsOn: d.dependsOn, attrs, steps: [] });
        return { devices: devices(maps), managed: false };
      }
      // active over imgplan's own devices without a journal entry: udev auto-activated it on attach (field-notes G3)
    }
    const replace = mine !== undefined && (!allLive || mine.devices.join() !== pvArgs.join());
    if (mine) {
      this.claimed.add(d.address);
      if (replace) this.add(this.deleteAction(mine, true, 'dependency-replaced'));
    }
    const devFlags = pvArgs.flatMap((a) => ['--devices', a]);
    const entry = { kind: 'vg' as const, address: d.address, dependsOn: d.dependsOn, vgName: d.name, vgUuid: d.uuid, devices: pvArgs, mode: d.mode, maps: maps.map((x) => x.name) };
    const todo = maps.filter((x) => !x.ok || replace);
    let steps: Step[];
    if (d.mode === 'lvm') {
      steps = [{
        argv: [
          'lvchange', '--activate', 'y', ...devFlags,
          // LVM would activate a read-write LV over a read-only PV and fail on the first write; say read-only outright
          ...(d.readOnly ? ['--config', `activation{read_only_volume_list=["${d.name}"]}`] : []),
          // read-only: also every LV already active, which udev may have auto-activated read-write when the PV
          // appeared (field-notes G3); lvchange reloads an active LV whose permission differs
          '--select', [...(todo.length ? todo : maps).map((x) => `lv_uuid=${x.lv.uuid}`), ...(d.readOnly ? ['lv_active=active'] : [])].join(' || '),
        ],
        // let udev finish what the new PV devices triggered (auto-activation) first
        settleBefore: true,
        undo: ['vgchange', '--activate', 'n', ...devFlags, '--select', `vg_uuid=${d.uuid}`],
        waitFor: maps.map((x) => `/dev/mapper/${x.name}`),
        journal: { op: 'add', entry },
      }];
    } else {
      const pvIndex = new Map(d.pvs.map((p, i) => [p.key, pvArgs[i]!]));
      steps = todo.map((x) => ({
        argv: ['dmsetup', 'create', '--concise', { concat: [`${x.name},${x.uuid},,${d.readOnly ? 'ro' : 'rw'},`, ...lvTable(d.meta, x.lv, (k) => pvIndex.get(k) as string | Ref)] }],
        undo: ['dmsetup', 'remove', x.name],
        waitFor: [`/dev/mapper/${x.name}`],
        journal: { op: 'add', entry },
      }));
    }
    const adopting = !mine && allLive && maps.every((x) => x.ok);
    this.add({
      address: d.address, kind: 'vg', action: 'create', replace, reason: replace ? 'dependency-replaced' : 'missing',
      ...(adopting ? { reasonText: 'already active over imgplan\'s devices (udev activated it on attach): imgplan takes it over' } : {}),
      dependsOn: d.dependsOn, attrs, steps,
    });
    return undefined;
  }

  dirs(d: DesiredDir): void {
    const mine = this.entry(d.address, 'dir');
    if (mine) {
      this.claimed.add(d.address);
      this.add({ address: d.address, kind: 'dir', action: 'noop', replace: false, reason: 'managed', dependsOn: d.dependsOn, attrs: [{ label: 'path', value: d.path }], steps: [] });
      return;
    }
    this.add({
      address: d.address, kind: 'dir', action: 'create', replace: false, reason: 'missing', reasonText: 'mountpoint directory does not exist',
      dependsOn: d.dependsOn, attrs: [{ label: 'path', value: d.path }],
      steps: [{ argv: ['mkdir', d.path], undo: ['rmdir', d.path], journal: { op: 'add', entry: { kind: 'dir', address: d.address, dependsOn: d.dependsOn, path: d.path } } }],
    });
  }

  mount(d: DesiredMount, live: Live | undefined, attachReplaced: boolean, parentChanging: boolean): void {
    const where = d.spec.where;
    const top: MountEntry | undefined = [...this.obs.mounts].reverse().find((m) => m.target === where);
    const mine = this.entry(d.address, 'mount');
    const src = live?.devices[d.sourceAttr];
    const sourceArg: Arg = src ? src.path : d.staticSource ?? { ref: d.attach, attr: d.sourceAttr };
    const attrs: Attr[] = [
      { label: 'source', value: `${d.spec.what}: ${d.fstype}${d.label ? ` "${d.label}"` : ''}${d.uuid ? `, uuid ${d.uuid}` : ''}` },
      ...(d.windows ? [{ label: 'windows', value: d.windows }] : []),
      ...(d.driver ? [{ label: 'driver', value: d.driver }] : []),
      { label: 'device', value: sourceArg },
      { label: 'options', value: d.options.join(',') },
      ...(d.parent ? [{ label: 'mountpoint', value: `${where} must exist inside the filesystem of ${d.parent}` }] : []),
    ];
    const dirDeps = this.actions.filter((a) => a.address === dirAddress(where)).map((a) => a.address);
    const dependsOn = [...d.dependsOn, ...dirDeps];

    let replace = false;
    let reason: Reason = 'missing';
    if (top && parentChanging) {
      // the parent filesystem is (re)mounted first, so whatever is mounted here now must go
      if (!mine) {
        this.diags.push(error('mount-conflict', `${where} is mounted from ${top.source}, not by imgplan, on top of ${d.parent?.slice('mount:'.length)}, which must be remounted`,
          d.spec.whereAt, `unmount it (umount ${where}) and run imgplan again`));
        return;
      }
      replace = true;
      reason = 'parent-replaced';
    } else if (top) {
      const sameSource = src !== undefined ? (src.majMin !== undefined && top.majMin === src.majMin) || top.source === src.path : d.staticSource !== undefined && top.source === d.staticSource;
      if (sameSource) {
        const wantFlags = d.options.filter((o) => VISIBLE_FLAGS.has(o));
        const roWrong = d.readOnly !== top.options.includes('ro');
        const missingFlags = wantFlags.filter((f) => !top.options.includes(f));
        if (!roWrong && missingFlags.length === 0) {
          if (mine) this.claimed.add(d.address);
          this.add({ address: d.address, kind: 'mount', action: 'noop', replace: false, reason: mine ? 'managed' : 'not-managed', dependsOn, attrs, steps: [] });
          return;
        }
        if (!mine) {
          this.diags.push(error('mount-conflict', `${where} is already mounted from ${top.source} with options ${top.options.join(',')}, not as the manifest wants (${d.options.join(',')}); it was not mounted by imgplan`,
            d.spec.whereAt, `unmount it (umount ${where}) and run imgplan again`));
          return;
        }
        replace = true;
        reason = roWrong ? 'read-only-mismatch' : 'options-differ';
      } else if (mine) {
        // ours, but from a device the manifest no longer leads to
        replace = true;
        reason = attachReplaced ? 'dependency-replaced' : 'source-changed';
      } else {
        this.diags.push(error('mount-conflict', `${where} is already mounted from ${top.source} (${top.fstype}), not from ${d.spec.what}`, d.spec.whereAt,
          `unmount it (umount ${where}) or choose another mountpoint`));
        return;
      }
    }
    if (!replace) {
      const info = this.obs.paths[where];
      if (d.parent) {
        // inside a parent mount: the directory belongs to the guest; it can only be checked once the parent is in place
        if (!parentChanging && info?.kind !== 'directory') {
          this.diags.push(error('mountpoint-missing', `mountpoint ${where} does not exist inside the filesystem mounted at ${d.parent.slice('mount:'.length)}`, d.spec.whereAt,
            'the parent filesystem is read-only; choose a mountpoint that exists in it, or one outside it'));
          return;
        }
      } else if (info?.kind === 'directory' && !info.empty) {
        this.diags.push(error('mountpoint-not-empty', `mountpoint ${where} is not empty`, d.spec.whereAt,
          'imgplan never mounts over files: choose an empty or new directory'));
        return;
      } else if (info && info.kind !== 'directory' && info.kind !== 'missing') {
        this.diags.push(error('mountpoint-not-dir', `mountpoint ${where} exists and is not a directory`, d.spec.whereAt));
        return;
      }
    }
    if (replace && mine) {
      this.claimed.add(d.address);
      this.add(this.deleteAction(mine, true, reason));
    }
    const step: Step = {
      argv: ['mount', '-t', d.mountType, '-o', d.options.join(','), sourceArg, where],
      undo: ['umount', where],
      journal: { op: 'add', entry: { kind: 'mount', address: d.address, dependsOn, target: where, source: sourceArg, fstype: d.mountType } },
    };
    this.add({ address: d.address, kind: 'mount', action: 'create', replace, reason, dependsOn, attrs, steps: [step] });
  }

  deleteAction(e: JournalEntry, replace: boolean, reason: Reason): Omit<PlannedAction, 'reasonText'> & { reasonText?: string } {
    switch (e.kind) {
      case 'export': {
        const keep = { op: 'add' as const, entry: e };
        const x = this.obs.exports?.[e.address.slice('export:'.length)];
        return {
          address: e.address, kind: 'export', action: 'delete', replace, reason, dependsOn: e.dependsOn,
          attrs: [{ label: 'image', value: `${e.image} (${e.format})` }, { label: 'view', value: e.view },
            ...(x?.serving === false ? [{ label: 'daemon', value: 'gone (its view is still mounted)' }] : []),
            ...(e.overlay ? [{ label: 'overlay', value: `${e.overlay} (deleted, with every write it took)` }] : [])],
          steps: [
            // the loops on the view are gone by now: stopped, the daemon unmounts its view and removes its pid
            // file itself (unmounted under a running daemon, the view leaves it spinning); -L: only a daemon
            // that still holds its pid file locked, never a process that reused the pid
            ...(x?.serving !== false ? [{ argv: ['pkill', '--pidfile', e.pidfile, '--logpidfile'], waitGone: [e.pidfile], journal: keep }] : []),
            // a daemon that died leaves its view mounted and dead ("Transport endpoint is not connected")
            ...(x?.serving === false && x.mounted ? [{ argv: ['umount', e.view], retryBusy: true, journal: keep }] : []),
            { argv: ['rm', '-f', e.view, ...(e.overlay ? [e.overlay] : [])], journal: keep },
            // the folder is the manifest's, shared by its images: gone with the last of them
            { argv: ['rmdir', '--ignore-fail-on-non-empty', posix.dirname(e.view)], journal: { op: 'remove', address: e.address } },
          ],
        };
      }
      case 'nbd': {
        const keep = { op: 'add' as const, entry: e };
        const pid = this.obs.nbd?.devices.find((d) => d.device === e.device)?.pid;
        return {
          address: e.address, kind: 'nbd', action: 'delete', replace, reason, dependsOn: e.dependsOn,
          attrs: [{ label: 'image', value: `${e.image} (${e.format})` }, { label: 'device', value: e.device },
            ...(e.overlay ? [{ label: 'overlay', value: `${e.overlay} (deleted, with every write it took)` }] : [])],
          steps: [
            // last, once nothing uses the device: qemu-nbd -d "succeeds" under a mount or a map too, and
            // leaves the device half torn down; its server exits a moment after it returns, lock and all
            { argv: nbdDisconnectArgv(e.device), settleBefore: true, waitGone: [`/sys/block/${deviceName(e.device)}/pid`, ...(pid !== undefined ? [`/proc/${pid}`] : [])], journal: keep },
            { argv: ['rm', '-f', e.pidfile, ...(e.overlay ? [e.overlay] : [])], journal: keep },
            { argv: ['rmdir', '--ignore-fail-on-non-empty', posix.dirname(e.pidfile)], journal: { op: 'remove' as const, address: e.address } },
          ],
        };
      }
      case 'attach':
        return {
          address: e.address, kind: 'attach', action: 'delete', replace, reason, dependsOn: e.dependsOn,
          attrs: [{ label: 'image', value: e.file }, { label: 'device', value: e.device }],
          steps: [{ argv: ['losetup', '--detach', e.device], retryBusy: true, journal: { op: 'remove', address: e.address } }],
        };
      case 'partmap':
        return {
          address: e.address, kind: 'partmap', action: 'delete', replace, reason, dependsOn: e.dependsOn,
          attrs: [{ label: 'loop', value: e.device }, { label: 'maps', value: e.partitions.map((n) => resolveRef(e.device, `mapper:p${n}`)).join(', ') }],
          // -d on the loop device, never on the image: without udev `kpartx -d IMAGE` finds no loop and does nothing (field-notes G8)
          steps: [{ argv: ['kpartx', '-d', '-s', e.device], settleBefore: true, retryBusy: true, journal: { op: 'remove', address: e.address } }],
        };
      case 'vg': {
        const attrs: Attr[] = [{ label: 'volume', value: `LVM VG ${e.vgName}, uuid ${e.vgUuid}` }, { label: 'PVs', value: e.devices.join(', ') }];
        if (e.mode === 'lvm') {
          return {
            address: e.address, kind: 'vg', action: 'delete', replace, reason, dependsOn: e.dependsOn, attrs,
            // by UUID and limited to its PVs: never an unscoped vgchange, which would hit the host's VGs
            steps: [{ argv: ['vgchange', '--activate', 'n', ...e.devices.flatMap((dv) => ['--devices', dv]), '--select', `vg_uuid=${e.vgUuid}`], settleBefore: true, retryBusy: true, journal: { op: 'remove', address: e.address } }],
          };
        }
        const live = e.maps.filter((n) => this.obs.dmMaps.some((m) => m.name === n));
        return {
          address: e.address, kind: 'vg', action: 'delete', replace, reason, dependsOn: e.dependsOn, attrs,
          steps: live.map((n, i) => ({ argv: ['dmsetup', 'remove', n], retryBusy: true, journal: i === live.length - 1 ? { op: 'remove' as const, address: e.address } : { op: 'add' as const, entry: e } })),
        };
      }
      case 'dir':
        return {
          address: e.address, kind: 'dir', action: 'delete', replace, reason, dependsOn: e.dependsOn,
          attrs: [{ label: 'path', value: e.path }],
          steps: [{ argv: ['rmdir', e.path], journal: { op: 'remove', address: e.address } }],
        };
      case 'mount':
        return {
          address: e.address, kind: 'mount', action: 'delete', replace, reason, dependsOn: e.dependsOn,
          attrs: [{ label: 'device', value: e.source }, { label: 'mountpoint', value: e.target }],
          steps: [{ argv: ['umount', e.target], retryBusy: true, journal: { op: 'remove', address: e.address } }],
        };
    }
  }
}

const KIND_ORDER: Readonly<Record<Kind, number>> = { export: 0, nbd: 0, attach: 1, partmap: 2, vg: 3, dir: 4, mount: 5 };

function order(planner: Planner, all: readonly PlannedAction[]): PlannedAction[] {
  const deps = new Map<string, Set<string>>();
  for (const a of all) deps.set(a.address, new Set([...(deps.get(a.address) ?? []), ...a.dependsOn]));
  for (const e of planner.journal) deps.set(e.address, new Set([...(deps.get(e.address) ?? []), ...e.dependsOn]));
  const seq = topoSort([...deps.keys()], (n) => [...(deps.get(n) ?? [])]);
  const rank = new Map(seq.map((n, i) => [n, i]));
  const r = (a: PlannedAction) => rank.get(a.address) ?? 0;
  const deletes = all.filter((a) => a.action === 'delete').sort((a, b) => r(b) - r(a));
  const creates = all.filter((a) => a.action === 'create').sort((a, b) => r(a) - r(b) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
  return [...deletes, ...creates];
}

/** The pure front door: manifest + observed state → the ordered plan, or the errors that prevent one. */
export function makePlan(manifest: Manifest, obs: ObservedState, opts: PlanOptions): PlanResult {
  const planner = new Planner(obs);
  const { desired, diagnostics } = buildDesired(manifest, obs);
  const context = {
    kernel: obs.kernel.release,
    udev: obs.kernel.udev,
    partscan: obs.kernel.partscan,
    writableImages: manifest.images.filter((i) => i.access === 'read-write').map((i) => i.name),
    overlayImages: manifest.images.filter((i) => i.access === 'overlay').map((i) => i.name),
  };
  const header = { formatVersion: 1 as const, mode: opts.mode, manifest: { path: manifest.path, sha256: manifest.sha256 }, context };

  if (opts.mode === 'destroy') {
    const actions = planner.journal.map((e) => ({ ...planner.deleteAction(e, false, 'destroy'), reasonText: REASONS.destroy }));
    return {
      plan: { ...header, actions: order(planner, actions), unchanged: [], warnings: planner.diags, forget: planner.stale },
      diagnostics: planner.diags,
    };
  }

  const errs = [...diagnostics];
  const live = new Map<string, Live | undefined>();
  const replacedAttaches = new Set<string>();
  for (const d of desired) {
    if (d.kind === 'export') planner.export(d);
    else if (d.kind === 'nbd') live.set(d.address, planner.nbd(d));
    else continue;
    if (planner.actions.some((a) => a.address === d.address && a.action === 'delete')) replacedAttaches.add(d.address);
  }
  for (const d of desired) {
    if (d.kind !== 'attach') continue;
    live.set(d.address, planner.attach(d));
    if (planner.actions.some((a) => a.address === d.address && a.action === 'delete')) replacedAttaches.add(d.address);
  }
  for (const d of desired) if (d.kind === 'partmap') planner.partmap(d, live.get(d.attach));
  for (const d of desired) {
    if (d.kind !== 'vg') continue;
    live.set(d.address, planner.vg(d, (a) => live.get(a)));
    if (planner.actions.some((a) => a.address === d.address && a.action === 'delete')) replacedAttaches.add(d.address);
  }
  const journaledDirs = new Set(planner.journal.filter((e) => e.kind === 'dir').map((e) => (e as { path: string }).path));
  const mounts = desired.filter((d): d is DesiredMount => d.kind === 'mount').sort((a, b) => a.spec.where.localeCompare(b.spec.where));
  const seenDirs = new Set<string>();
  for (const m of mounts) {
    if (m.parent) continue;
    for (const dir of mountpointDirs(m.spec.where, obs, journaledDirs)) {
      if (seenDirs.has(dir.address)) continue;
      seenDirs.add(dir.address);
      planner.dirs(dir);
    }
  }
  // parents before children, so a nested mount knows whether its parent stays in place
  for (const m of [...mounts].sort((a, b) => a.spec.where.length - b.spec.where.length)) {
    const parentChanging = m.parent !== undefined && planner.actions.some((a) => a.address === m.parent && a.action === 'create');
    planner.mount(m, live.get(m.attach), replacedAttaches.has(m.attach), parentChanging);
  }
  for (const e of planner.journal) {
    if (!planner.claimed.has(e.address)) planner.add(planner.deleteAction(e, false, 'not-in-manifest'));
  }
  errs.push(...planner.diags.filter((d) => d.severity === 'error'));
  if (errs.some((d) => d.severity === 'error')) return { diagnostics: [...errs, ...planner.diags.filter((d) => d.severity === 'warning')] };

  // a delete of an address that is also created is the first half of a replacement
  const creates = new Set(planner.actions.filter((a) => a.action === 'create').map((a) => a.address));
  const all = planner.actions.map((a) => (a.action === 'delete' && creates.has(a.address) ? { ...a, replace: true } : a));
  const deleted = new Set(all.filter((a) => a.action === 'delete').map((a) => a.address));
  const finalAll = all.map((a) => (a.action === 'create' && deleted.has(a.address) ? { ...a, replace: true } : a));
  const unchanged = finalAll.filter((a) => a.action === 'noop').sort((a, b) => a.address.localeCompare(b.address));
  const warnings = [...diagnostics.filter((d) => d.severity === 'warning'), ...planner.diags];
  const plan = { ...header, actions: order(planner, finalAll.filter((a) => a.action !== 'noop')), unchanged, warnings, forget: planner.stale };
  return { plan, diagnostics: warnings };
}
