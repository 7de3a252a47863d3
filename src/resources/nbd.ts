import { posix } from 'node:path';
import type { Manifest } from '../manifest/types.js';
import { deviceName } from '../plan/refs.js';
import type { EntryBase, Step } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import { NBD_MAX_PART, chainLinks, type BackendChoice, type ChainLink, type DesiredNbd, type QemuAccess } from '../qemu/backend.js';
import { liveNbdDevice, nbdConnectArgv, nbdDisconnectArgv } from '../qemu/nbd.js';
import { overlayCreateArgv, removeFolderArgv } from '../qemu/storage-daemon.js';
import { isDeviceOrPartition, liveDevices, majMinOf } from './devices.js';
import { notMine, type ResourceKind, type Teardown } from './kind.js';

/** imgplan's qemu-nbd connection of a QEMU image to a kernel nbd device. */
export interface NbdEntry extends EntryBase<'nbd'> {
  /** /dev/nbdN, and the qemu-nbd server's pid file (its pid is the device's /sys/block/nbdN/pid) */
  readonly device: string;
  readonly pidfile: string;
  /** the guest image and its format */
  readonly image: string;
  readonly format: string;
  /** what qemu-nbd opened: the image, or the overlay */
  readonly file: string;
  readonly overlay?: string;
  readonly writable: boolean;
}

export type NbdDetails =
  | {
      readonly from: 'manifest'; readonly chain: readonly ChainLink[]; readonly backend: BackendChoice;
      /** the module is loaded by the plan (with max_part), or was loaded with max_part */
      readonly module: { readonly load: boolean; readonly maxPart: number };
      readonly partitions: readonly number[]; readonly access: QemuAccess; readonly device: string;
    }
  | { readonly from: 'journal'; readonly image: string; readonly format: string; readonly device: string; readonly overlay?: string };

declare module '../plan/types.js' {
  interface KindTypes {
    nbd: { entry: NbdEntry; details: NbdDetails; desired: DesiredNbd; intent: NbdEntry };
  }
}

function teardown(e: NbdEntry, obs: ObservedState): Teardown<'nbd'> {
  const keep = { op: 'record' as const, entry: e };
  const pid = obs.nbd?.devices.find((d) => d.device === e.device)?.pid;
  return {
    details: { from: 'journal', image: e.image, format: e.format, device: e.device, ...(e.overlay ? { overlay: e.overlay } : {}) },
    steps: [
      // last, once nothing uses the device: qemu-nbd -d "succeeds" under a mount or a map too, and
      // leaves the device half torn down; its server exits a moment after it returns, lock and all
      {
        argv: nbdDisconnectArgv(e.device), settleBefore: true,
        waitGone: [`/sys/block/${deviceName(e.device)}/pid`, ...(pid !== undefined ? [`/proc/${pid}`] : [])], journal: keep,
      },
      { argv: ['rm', '-f', e.pidfile, ...(e.overlay ? [e.overlay] : [])], journal: keep },
      { argv: removeFolderArgv(posix.dirname(e.pidfile)), journal: { op: 'forget', address: e.address } },
    ],
  };
}

function createSteps(d: DesiredNbd): Step[] {
  const file = d.overlay ? d.paths.overlay : d.image.file;
  const entry: NbdEntry = {
    kind: 'nbd', address: d.address, dependsOn: [], device: d.device, pidfile: d.paths.pidfile, image: d.image.file, format: d.image.format, file,
    ...(d.overlay ? { overlay: d.paths.overlay } : {}), writable: d.writable,
  };
  const n = deviceName(d.device).slice('nbd'.length);
  return [
    ...(d.loadModule ? [{ argv: ['modprobe', 'nbd', `max_part=${NBD_MAX_PART}`], journal: { op: 'none' as const } }] : []),
    { argv: ['install', '-d', '-m', '0700', d.paths.dir], journal: { op: 'none' } },
    ...(d.overlay ? [{
      argv: overlayCreateArgv(d.image.file, d.image.format, d.paths.overlay), undo: ['rm', '-f', d.paths.overlay], intent: entry,
      journal: { op: 'record' as const, entry },
    }] : []),
    {
      argv: nbdConnectArgv({
        device: d.device, file, format: d.overlay ? 'qcow2' : d.image.format, readOnly: !d.writable, pidfile: d.paths.pidfile,
        forceShare: d.forceShare,
      }),
      produces: { ref: d.address, attr: 'device' },
      producesValue: d.device,
      undo: nbdDisconnectArgv(d.device),
      // connected once the kernel names the server's pid; then the partitions the mounts need
      waitFor: [`/sys/block/nbd${n}/pid`, ...d.partitions.map((p) => ({ ref: d.address, attr: `p${p}` }))],
      ...(d.partitions.length ? { rescan: d.device } : {}),
      ...(d.overlay ? {} : { intent: entry }),
      journal: { op: 'record', entry },
    },
  ];
}

export const nbdKind: ResourceKind<'nbd'> = {
  kind: 'nbd',
  rank: 0,
  verify: (e, obs) => obs.nbd !== undefined && liveNbdDevice(e, obs.nbd),
  // the device was chosen at plan time: connected to a live qemu-nbd serving the intent's file there
  recover: (intent, obs, journal) => (obs.nbd !== undefined && liveNbdDevice(intent, obs.nbd)
    && !journal.some((e) => e.kind === 'nbd' && e.device === intent.device)
    ? { entry: intent }
    : undefined),
  plan(wanted, p) {
    for (const d of wanted) {
      const mine = p.mine('nbd', d.address);
      const details: NbdDetails = {
        from: 'manifest', chain: chainLinks(d.chain), backend: d.backend, module: { load: d.loadModule, maxPart: d.maxPart },
        partitions: d.partitions, access: { ...(d.overlay ? { overlay: d.paths.overlay } : {}), writable: d.writable, forceShare: d.forceShare },
        device: d.device,
      };
      const action = { address: d.address, kind: 'nbd' as const, replace: false, dependsOn: [], details };
      if (d.live && (mine || d.foreign)) {
        if (mine) p.claim(d.address);
        const owner = mine ? undefined : p.owner('nbd', (e) => e.device === d.device);
        p.add({ ...action, action: 'noop', ...(mine ? { reason: 'managed' as const } : notMine(owner)), steps: [] });
        p.provide(d.address, liveDevices(p.obs, d.device, majMinOf(p.obs, d.device), mine !== undefined));
        continue;
      }
      if (mine) p.replaceOld(mine, 'read-only-mismatch');
      p.add({ ...action, action: 'create', replace: mine !== undefined, reason: mine ? 'read-only-mismatch' : 'missing', steps: createSteps(d) });
    }
  },
  teardown,
  uses: (e) => [e.file, ...(e.overlay ? [e.overlay] : [])],
  holds: (e, path) => isDeviceOrPartition(path, e.device),
  serves: (e, obs) => (obs.nbd && liveNbdDevice(e, obs.nbd)
    ? { image: e.address.slice('nbd:'.length), path: e.device, via: 'nbd', writesImage: e.writable && !e.overlay }
    : undefined),
  facts: (_manifest: Manifest, obs: ObservedState) => (obs.nbd ? [
    `nbd-module ${obs.nbd.module} max_part=${obs.nbd.maxPart ?? '?'} qemu-nbd=${obs.nbd.qemuNbd}`,
    ...obs.nbd.devices.map((d) => `nbd ${d.device} ` +
      `${!d.connected ? 'free' : d.pid === undefined ? 'half-disconnected' : `pid=${d.pid} ${(d.cmdline ?? '').split('\0').join(' ').trim()}`}`),
  ] : []),
};
