import { warning } from '../diagnostics.js';
import type { Manifest } from '../manifest/types.js';
import type { AttachMethod, DesiredAttach } from '../plan/desired.js';
import type { Arg, EntryBase, Ref, Step } from '../plan/types.js';
import type { LoopDevice } from '../probe/losetup.js';
import type { ObservedState } from '../probe/observed.js';
import { isDeviceOrPartition, liveDevices } from './devices.js';
import { notMine, type ResourceKind } from './kind.js';

/** A loop device imgplan attached: of an image, a partition of it (offset), a storage-daemon view or an nbd device. */
export interface AttachEntry extends EntryBase<'attach'> {
  readonly device: string;
  readonly file: string;
  readonly backDev: string;
  readonly backIno: number;
  readonly offset: number;
  readonly sizelimit: number;
  readonly readOnly: boolean;
  readonly partscan: boolean;
  /**
   * backed by a file or device imgplan made (a storage-daemon view, an nbd device): matched by
   * path, since the view's dev and inode change with each export and a device node's say nothing
   */
  readonly byPath?: boolean;
  /**
   * the loop's /sys/block/loopN/diskseq right after the attach (kernel 5.15+): a number the kernel
   * never gives again, so a later loop of the same number, over the same file, is not taken for this one
   */
  readonly diskseq?: number;
}

/** A loop device about to be attached: which one, losetup --find says only once it has run. */
export type AttachIntent = Omit<AttachEntry, 'device' | 'diskseq'>;

export type AttachDetails =
  | {
      readonly from: 'manifest';
      readonly image: string;
      readonly format: string;
      /** what the loop reads when it is not the image file: the raw view of imgplan's export, or its nbd device */
      readonly via?: { readonly kind: 'export' | 'nbd'; readonly file: string };
      readonly method: AttachMethod;
      readonly imageSize: number;
      readonly offset: number;
      readonly sizelimit: number;
      /** offset loop: the partition it covers */
      readonly partition?: { readonly table: string; readonly number: number; readonly start: number; readonly sectors: number;
        readonly bytes: number; readonly type: string };
      /** partition scan: the kernel partitions the mounts need */
      readonly partitions: readonly number[];
      readonly access: 'read-only' | 'read-write' | 'overlay';
      readonly device: string | Ref;
    }
  | { readonly from: 'journal'; readonly file: string; readonly device: string };

declare module '../plan/types.js' {
  interface KindTypes {
    attach: { entry: AttachEntry; details: AttachDetails; desired: DesiredAttach; intent: AttachIntent };
  }
}

function loopMatches(d: DesiredAttach, l: LoopDevice): boolean {
  // kpartx on a loop whose partitions the kernel also scanned would show every PV twice
  const scanOk = d.method === 'partscan-loop' ? l.partscan : d.method === 'kpartx-loop' ? !l.partscan : true;
  if (d.via) return d.via.live && l.backFile === d.file && l.offset === d.offset && l.sizelimit === d.sizelimit && scanOk;
  return l.backDev === d.backDev && l.backIno === d.backIno && l.offset === d.offset && l.sizelimit === d.sizelimit && scanOk;
}

/** A loop over what the entry or intent names (by device and inode, or by path), at its offset and size limit. */
function sameLoop(x: AttachIntent, l: LoopDevice): boolean {
  return l.offset === x.offset && l.sizelimit === x.sizelimit
    // a view's dev and inode are new with each export, and a device node's say nothing: known by path
    && (x.byPath ? l.backFile === x.file : l.backDev === x.backDev && l.backIno === x.backIno);
}

function details(d: DesiredAttach, device: string | Ref): AttachDetails {
  const p = d.partition;
  return {
    from: 'manifest', image: d.image.file, format: d.image.format, ...(d.via ? { via: { kind: d.via.kind, file: d.file } } : {}),
    method: d.method, imageSize: d.imageSize, offset: d.offset, sizelimit: d.sizelimit,
    ...(d.method === 'offset-loop' && p
      ? {
        partition: {
          table: p.label, number: p.part.number, start: p.part.start, sectors: p.part.size, bytes: p.part.size * p.sectorSize,
          type: p.part.type,
        },
      }
      : {}),
    partitions: d.method === 'partscan-loop' ? d.partitions : [],
    access: d.readOnly ? 'read-only' : d.image.access === 'overlay' ? 'overlay' : 'read-write',
    device,
  };
}

function createStep(d: DesiredAttach, deps: readonly string[]): Step {
  const argv: Arg[] = ['losetup', '--find', '--show'];
  if (d.readOnly) argv.push('--read-only');
  if (d.method === 'partscan-loop') argv.push('--partscan');
  if (d.method === 'offset-loop') argv.push('--offset', String(d.offset), '--sizelimit', String(d.sizelimit));
  argv.push(d.file);
  const device = { ref: d.address, attr: 'device' };
  const intent: AttachIntent = {
    kind: 'attach', address: d.address, dependsOn: deps, file: d.file, backDev: d.backDev, backIno: d.backIno,
    offset: d.offset, sizelimit: d.sizelimit, readOnly: d.readOnly, partscan: d.method === 'partscan-loop', ...(d.via ? { byPath: true } : {}),
  };
  return {
    argv,
    produces: device,
    undo: ['losetup', '--detach', device],
    ...(d.method === 'partscan-loop' ? { waitFor: d.partitions.map((n) => ({ ref: d.address, attr: `p${n}` })) } : {}),
    intent,
    reads: [{ field: 'diskseq', path: { concat: ['/sys/block/', { ref: d.address, attr: 'name' }, '/diskseq'] } }],
    journal: { op: 'record', entry: { ...intent, device } },
  };
}

export const attachKind: ResourceKind<'attach'> = {
  kind: 'attach',
  rank: 1,
  verify: (e, obs) => obs.loops.some((l) => l.device === e.device && sameLoop(e, l)
    // the same number, detached and attached again over the same file since, is another loop
    && (e.diskseq === undefined || l.diskseq === undefined || l.diskseq === e.diskseq)),
  recover(intent, obs, journal) {
    const taken = new Set(journal.flatMap((e) => (e.kind === 'attach' ? [e.device] : [])));
    const fits = obs.loops.filter((l) => !taken.has(l.device) && sameLoop(intent, l) && l.ro === intent.readOnly && l.partscan === intent.partscan);
    if (fits.length === 0) return undefined;
    // the plan attaches only where no such loop was (it would have used it), so the one made first after the intent is the run's;
    // without diskseq (kernels before 5.15) two of them cannot be told apart
    if (fits.length > 1 && fits.some((l) => l.diskseq === undefined)) {
      return {
        unsure: `${intent.address}: an interrupted run was attaching ${intent.file}, and ${fits.map((l) => l.device).join(', ')} all fit; ` +
          'imgplan cannot tell which one it made (this kernel has no loop diskseq), so it leaves them alone',
      };
    }
    const l = [...fits].sort((a, b) => (a.diskseq ?? 0) - (b.diskseq ?? 0))[0]!;
    return { entry: { ...intent, device: l.device, ...(l.diskseq !== undefined ? { diskseq: l.diskseq } : {}) } };
  },
  plan(wanted, p) {
    const obs = p.obs;
    const journaled = new Set(p.journal.flatMap((e) => (e.kind === 'attach' ? [e.device] : [])));
    for (const d of wanted) {
      const mine = p.mine('attach', d.address);
      const candidates = obs.loops.filter((l) => loopMatches(d, l));
      const managedLoop = mine ? candidates.find((l) => l.device === mine.device) : undefined;
      const foreign = candidates.filter((l) => !journaled.has(l.device)).sort((a, b) => a.device.localeCompare(b.device, 'en', { numeric: true }));
      if (d.readOnly && !d.via) {
        for (const l of obs.loops.filter((x) => x.backDev === d.backDev && x.backIno === d.backIno && !x.ro && !journaled.has(x.device))) {
          p.problem(warning('image-attached-writable',
            `${l.device} (not made by imgplan) attaches ${d.image.file} read-write: the image can change under a read-only mount`,
            d.image.fileAt, `find its user with: losetup --list ${l.device}`));
        }
      }
      const dependsOn = d.via ? [d.via.address] : [];
      const action = { address: d.address, kind: 'attach' as const, replace: false, dependsOn };
      if (managedLoop && managedLoop.ro === d.readOnly) {
        p.claim(d.address);
        p.add({ ...action, action: 'noop', reason: 'managed', details: details(d, managedLoop.device), steps: [] });
        p.provide(d.address, liveDevices(obs, managedLoop.device, managedLoop.majMin, true));
        continue;
      }
      const usable = foreign.find((l) => l.ro === d.readOnly);
      if (!managedLoop && usable) {
        const owner = p.owner('attach', (e) => e.device === usable.device);
        p.add({ ...action, action: 'noop', ...notMine(owner), details: details(d, usable.device), steps: [] });
        p.provide(d.address, liveDevices(obs, usable.device, usable.majMin, false));
        continue;
      }
      const replace = managedLoop !== undefined;
      if (mine && replace) p.replaceOld(mine, 'read-only-mismatch');
      p.add({
        ...action, action: 'create', replace, reason: replace ? 'read-only-mismatch' : 'missing',
        details: details(d, { ref: d.address, attr: 'device' }), steps: [createStep(d, dependsOn)],
      });
    }
  },
  uses: (e) => [e.file],
  holds: (e, path) => isDeviceOrPartition(path, e.device),
  teardown: (e) => ({
    details: { from: 'journal', file: e.file, device: e.device },
    steps: [{ argv: ['losetup', '--detach', e.device], retryBusy: true, journal: { op: 'forget', address: e.address } }],
  }),
  facts(manifest: Manifest, obs: ObservedState) {
    const images = new Map<string, string>();
    for (const img of manifest.images) {
      const st = obs.images[img.name]?.stat;
      if (st && st.kind !== 'missing') images.set(`${st.dev}/${st.ino}`, img.name);
    }
    const views = new Map<string, string>();
    for (const img of manifest.images) {
      const x = obs.exports?.[img.name];
      if (x) views.set(x.view, img.name);
    }
    for (const d of obs.nbd?.devices ?? []) views.set(d.device, d.device);
    return obs.loops.flatMap((l) => {
      const of = images.get(`${l.backDev}/${l.backIno}`) ?? (l.backFile !== undefined ? views.get(l.backFile) : undefined);
      return of ? [`loop ${l.device} image=${of} offset=${l.offset} sizelimit=${l.sizelimit} ro=${l.ro} partscan=${l.partscan}`] : [];
    });
  },
};
