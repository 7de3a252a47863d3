import { posix } from 'node:path';
import type { Manifest } from '../manifest/types.js';
import type { EntryBase, Step } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import { chainLinks, type BackendChoice, type ChainLink, type DesiredExport, type QemuAccess } from '../qemu/backend.js';
import { overlayCreateArgv, removeFolderArgv, removeViewArgv, stopDaemonArgv, storageDaemonArgv } from '../qemu/storage-daemon.js';
import type { ResourceKind, Teardown } from './kind.js';

/** imgplan's qemu-storage-daemon export of a QEMU image: a raw view over FUSE that loop devices attach. */
export interface ExportEntry extends EntryBase<'export'> {
  /** the guest image and its format */
  readonly image: string;
  readonly format: string;
  /** the raw view qemu-storage-daemon serves over FUSE, and its pid file */
  readonly view: string;
  readonly pidfile: string;
  /** access: overlay: the throw-away qcow2 overlay that takes the writes */
  readonly overlay?: string;
  readonly writable: boolean;
}

export type ExportDetails =
  | { readonly from: 'manifest'; readonly chain: readonly ChainLink[]; readonly backend: BackendChoice; readonly access: QemuAccess; readonly view: string }
  | { readonly from: 'journal'; readonly image: string; readonly format: string; readonly view: string; readonly daemonGone: boolean;
      readonly overlay?: string };

declare module '../plan/types.js' {
  interface KindTypes {
    export: { entry: ExportEntry; details: ExportDetails; desired: DesiredExport; intent: ExportEntry };
  }
}

const imageOf = (e: ExportEntry) => e.address.slice('export:'.length);
const serving = (e: ExportEntry, obs: ObservedState) => {
  const x = obs.exports?.[imageOf(e)];
  return x?.serving === true || x?.mounted === true;
};

function teardown(e: ExportEntry, obs: ObservedState): Teardown<'export'> {
  const keep = { op: 'record' as const, entry: e };
  const x = obs.exports?.[imageOf(e)];
  const steps: Step[] = [
    // the loops on the view are gone by now
    ...(x?.serving !== false ? [{ argv: stopDaemonArgv(e.pidfile), waitGone: [e.pidfile], journal: keep }] : []),
    // a daemon that died leaves its view mounted and dead ("Transport endpoint is not connected")
    ...(x?.serving === false && x.mounted ? [{ argv: ['umount', e.view], retryBusy: true, journal: keep }] : []),
    { argv: removeViewArgv(e.view, e.overlay), journal: keep },
    { argv: removeFolderArgv(posix.dirname(e.view)), journal: { op: 'forget', address: e.address } },
  ];
  return {
    details: {
      from: 'journal', image: e.image, format: e.format, view: e.view, daemonGone: x?.serving === false,
      ...(e.overlay ? { overlay: e.overlay } : {}),
    },
    steps,
  };
}

function createSteps(d: DesiredExport): Step[] {
  const p = d.paths;
  const entry: ExportEntry = {
    kind: 'export', address: d.address, dependsOn: [], image: d.image.file, format: d.image.format, view: p.view, pidfile: p.pidfile,
    ...(d.overlay ? { overlay: p.overlay } : {}), writable: d.writable,
  };
  const journal = { op: 'record' as const, entry };
  return [
    // the FUSE export mounts over an existing regular file
    { argv: ['install', '-D', '-m', '0600', '/dev/null', p.view], undo: removeViewArgv(p.view), intent: entry, journal },
    ...(d.overlay ? [{ argv: overlayCreateArgv(d.image.file, d.image.format, p.overlay), undo: ['rm', '-f', p.overlay], journal }] : []),
    {
      argv: storageDaemonArgv({
        file: d.overlay ? p.overlay : d.image.file, format: d.overlay ? 'qcow2' : d.image.format, view: p.view, pidfile: p.pidfile,
        writable: d.writable, forceShare: d.forceShare,
      }),
      // rollback runs after the loops on the view are gone: the daemon unmounts its view as it exits
      undo: stopDaemonArgv(p.pidfile),
      journal,
    },
  ];
}

export const exportKind: ResourceKind<'export'> = {
  kind: 'export',
  rank: 0,
  // a daemon that died leaves its FUSE view mounted (and unusable): still ours to clean up
  verify: (e, obs) => serving(e, obs),
  // its daemon by the pid file it holds locked and the view it serves (observeExport): there is one per image and manifest
  recover(intent, obs, journal) {
    if (journal.some((e) => e.kind === 'export' && e.view === intent.view)) return undefined;
    if (serving(intent, obs)) return { entry: intent };
    // killed between `install -D` and the daemon's start: the empty view file (in imgplan's own folder) is the run's, to remove
    const view = obs.exports?.[imageOf(intent)]?.viewStat;
    return view?.kind === 'file' && view.size === 0 ? { entry: intent } : undefined;
  },
  plan(wanted, p) {
    for (const d of wanted) {
      const mine = p.mine('export', d.address);
      const details: ExportDetails = {
        from: 'manifest', chain: chainLinks(d.chain), backend: d.backend,
        access: { ...(d.overlay ? { overlay: d.paths.overlay } : {}), writable: d.writable, forceShare: d.forceShare }, view: d.paths.view,
      };
      const action = { address: d.address, kind: 'export' as const, replace: false, dependsOn: [], details };
      if (d.live && mine) {
        p.claim(d.address);
        p.add({ ...action, action: 'noop', reason: 'managed', steps: [] });
        continue;
      }
      if (mine) p.replaceOld(mine, 'read-only-mismatch');
      p.add({ ...action, action: 'create', replace: mine !== undefined, reason: mine ? 'read-only-mismatch' : 'missing', steps: createSteps(d) });
    }
  },
  teardown,
  uses: (e) => [e.image, ...(e.overlay ? [e.overlay] : [])],
  holds: (e, path) => path === e.view,
  serves: (e, obs) => (obs.exports?.[imageOf(e)]?.serving
    ? { image: imageOf(e), path: e.view, via: 'export', writesImage: e.writable && !e.overlay }
    : undefined),
  facts: (manifest: Manifest, obs: ObservedState) => manifest.images.flatMap((img) => {
    const x = obs.exports?.[img.name];
    return x ? [`export ${img.name} serving=${x.serving}${x.serving ? ` pid=${x.pid}` : ''}`] : [];
  }),
};
