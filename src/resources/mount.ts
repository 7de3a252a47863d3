import { error, warning } from '../diagnostics.js';
import type { Manifest } from '../manifest/types.js';
import { dirAddress, type DesiredMount } from '../plan/desired.js';
import { guestComponents } from '../plan/graph.js';
import { TRUST, VISIBLE_FLAGS } from '../plan/mount-options.js';
import { masksOthers, openToEveryone } from '../plan/reachable.js';
import type { Arg, EntryBase, Reason, Ref } from '../plan/types.js';
import type { MountEntry } from '../probe/findmnt.js';
import type { NtfsHealth } from '../probe/ntfs.js';
import type { ObservedState } from '../probe/observed.js';
import { isUnder } from './devices.js';
import { notMine, type Planning, type ResourceKind } from './kind.js';

/** A filesystem imgplan mounted. */
export interface MountedEntry extends EntryBase<'mount'> {
  readonly target: string;
  readonly source: string;
  readonly fstype: string;
}

export type MountDetails =
  | {
      readonly from: 'manifest';
      /** the manifest's source (IMAGE/partN, IMAGE/VG/LV) and what blkid found there */
      readonly what: string; readonly fstype: string; readonly label?: string; readonly uuid?: string;
      /** NTFS: the state Windows left the volume in */
      readonly windows?: NtfsHealth;
      /** the driver, where there was a choice (ntfs-3g, ntfs3) */
      readonly driver?: string;
      readonly device: string | Ref;
      readonly options: readonly string[];
      readonly where: string;
      /** the manifest mount this one is nested in: its mountpoint must exist inside that filesystem */
      readonly parent?: string;
    }
  | { readonly from: 'journal'; readonly source: string; readonly target: string };

declare module '../plan/types.js' {
  interface KindTypes {
    mount: { entry: MountedEntry; details: MountDetails; desired: DesiredMount; intent: MountedEntry };
  }
}

function planMount(d: DesiredMount, p: Planning): void {
  const where = d.spec.where;
  const top: MountEntry | undefined = [...p.obs.mounts].reverse().find((m) => m.target === where);
  const mine = p.mine('mount', d.address);
  const src = p.live(d.attach)?.devices[d.sourceAttr];
  const sourceArg: string | Ref = src ? src.path : d.staticSource ?? { ref: d.attach, attr: d.sourceAttr };
  const parentChanging = d.parent !== undefined && p.planned(d.parent, 'create');
  const details: MountDetails = {
    from: 'manifest', what: d.spec.what, fstype: d.fstype, ...(d.label ? { label: d.label } : {}), ...(d.uuid ? { uuid: d.uuid } : {}),
    ...(d.windows ? { windows: d.windows } : {}), ...(d.driver ? { driver: d.driver } : {}),
    device: sourceArg, options: d.options, where, ...(d.parent ? { parent: d.parent } : {}),
  };
  const dependsOn = [...d.dependsOn, ...(p.planned(dirAddress(where)) ? [dirAddress(where)] : [])];
  const action = { address: d.address, kind: 'mount' as const, dependsOn, details };

  const open = d.parent === undefined && !masksOthers(d.options) ? openToEveryone(where, p.obs.paths) : undefined;
  if (open) {
    const closest = open[open.length - 1]!;
    p.problem(warning('guest-tree-reachable',
      `the guest's files at ${where} will be open to every host user: ${open.join(', ')} ${open.length > 1 ? 'are' : 'is'} searchable by ` +
        'all, so only the modes and owners inside the guest decide who reads them', d.spec.whereAt,
      closest === '/'
        ? 'put where under a directory only root can enter (one imgplan creates is made 0700)'
        : `fence it: chmod 0700 ${closest}, or put where under a directory imgplan creates (it makes them 0700)`));
  }

  let replace = false;
  let reason: Reason = 'missing';
  if (top && parentChanging) {
    // the parent filesystem is (re)mounted first, so whatever is mounted here now must go
    if (!mine) {
      p.problem(error('mount-conflict',
        `${where} is mounted from ${top.source}, not by imgplan, on top of ${d.parent?.slice('mount:'.length)}, which must be remounted`,
        d.spec.whereAt, `unmount it (umount ${where}) and run imgplan again`));
      return;
    }
    replace = true;
    reason = 'parent-replaced';
  } else if (top) {
    // subvol=NAME: the subvolume findmnt shows as the mount's folder ("/dev/loop0[/@]") must be that one
    const subvol = d.options.find((o) => o.startsWith('subvol='))?.slice('subvol='.length).replace(/^\/*/, '/');
    const sameSource = (src !== undefined
      ? (src.majMin !== undefined && top.majMin === src.majMin) || top.source === src.path
      : d.staticSource !== undefined && top.source === d.staticSource) && (subvol === undefined || (top.fsroot ?? '/') === subvol);
    if (sameSource) {
      const wantFlags = d.options.filter((o) => VISIBLE_FLAGS.has(o));
      const roWrong = d.readOnly !== top.options.includes('ro');
      // findmnt shows suid, dev and exec by the absence of nosuid, nodev and noexec
      const missingFlags = [...wantFlags.filter((f) => !top.options.includes(f)),
        ...d.options.filter((o) => TRUST[o] !== undefined && top.options.includes(TRUST[o]))];
      if (!roWrong && missingFlags.length === 0) {
        if (mine) p.claim(d.address);
        const owner = mine ? undefined : p.owner('mount', (e) => e.target === where && e.source === top.source);
        p.add({ ...action, action: 'noop', replace: false, ...(mine ? { reason: 'managed' as const } : notMine(owner)), steps: [] });
        return;
      }
      if (!mine) {
        p.problem(error('mount-conflict',
          `${where} is already mounted from ${top.source} with options ${top.options.join(',')}, ` +
            `not as the manifest wants (${d.options.join(',')}); it was not mounted by imgplan`,
          d.spec.whereAt, `unmount it (umount ${where}) and run imgplan again`));
        return;
      }
      replace = true;
      reason = roWrong ? 'read-only-mismatch' : 'options-differ';
    } else if (mine) {
      // ours, but from a device the manifest no longer leads to
      replace = true;
      reason = p.planned(d.attach, 'delete') ? 'dependency-replaced' : 'source-changed';
    } else {
      p.problem(error('mount-conflict', `${where} is already mounted from ${top.source} (${top.fstype}), not from ${d.spec.what}`, d.spec.whereAt,
        `unmount it (umount ${where}) or choose another mountpoint`));
      return;
    }
  }
  // a guest's symlink (boot -> /etc, or -> ../../..) would put the guest's filesystem over a host directory
  const parentWhere = d.parent?.slice('mount:'.length);
  const inGuest = parentWhere ? guestComponents([parentWhere], where) : [];
  const linked = parentChanging ? undefined : (parentWhere ? inGuest : [where]).find((c) => p.obs.paths[c]?.link !== undefined);
  if (linked) {
    const to = p.obs.paths[linked]!.link!;
    p.problem(parentWhere
      ? error('mountpoint-symlink', `mountpoint ${where} leads through ${linked}, a symlink (to ${to}) in the guest's filesystem at ${parentWhere}`,
        d.spec.whereAt, 'imgplan never follows a guest\'s symlinks: choose a mountpoint that is a real directory in the guest, or one outside it')
      : error('mountpoint-symlink', `mountpoint ${where} is a symlink (to ${to})`, d.spec.whereAt,
        'imgplan mounts on the path it checked, never through a link: write the path it leads to as where'));
    return;
  }
  if (!replace) {
    const info = p.obs.paths[where];
    if (d.parent) {
      // inside a parent mount: the directory belongs to the guest; it can only be checked once the parent is in place
      if (!parentChanging && info?.kind !== 'directory') {
        p.problem(error('mountpoint-missing',
          `mountpoint ${where} does not exist inside the filesystem mounted at ${d.parent.slice('mount:'.length)}`, d.spec.whereAt,
          'the parent filesystem is read-only; choose a mountpoint that exists in it, or one outside it'));
        return;
      }
    } else if (info?.kind === 'directory' && !info.empty) {
      p.problem(error('mountpoint-not-empty', `mountpoint ${where} is not empty`, d.spec.whereAt,
        'imgplan never mounts over files: choose an empty or new directory'));
      return;
    } else if (info && info.kind !== 'directory' && info.kind !== 'missing') {
      p.problem(error('mountpoint-not-dir', `mountpoint ${where} exists and is not a directory`, d.spec.whereAt));
      return;
    }
  }
  if (replace && mine) p.replaceOld(mine, reason);
  const arg: Arg = sourceArg;
  // inside a guest's tree the kernel mounts on the directory apply opened without following links
  // (-c: mount(8) must not resolve /proc/self/fd/3 back to a path; -i: no helper program gets it;
  // the trailing slash makes the kernel follow the fd's link: util-linux 2.41 mounts with
  // move_mount(2), which, unlike mount(2), does not follow a final symlink and fails with EINVAL);
  // ntfs-3g is such a helper (FUSE), so its nested mounts rely on the check right before the mount
  const pinned = parentWhere !== undefined && d.mountType !== 'ntfs-3g';
  const entry = { kind: 'mount' as const, address: d.address, dependsOn, target: where, source: arg, fstype: d.mountType };
  p.add({
    ...action, action: 'create', replace, reason,
    steps: [{
      argv: pinned
        ? ['mount', '-c', '-i', '-t', d.mountType, '-o', d.options.join(','), arg, '/proc/self/fd/3/']
        : ['mount', '-t', d.mountType, '-o', d.options.join(','), arg, where],
      // the parent is mounted by now: its tree is the guest's, checked again right before the mount
      ...(inGuest.length ? { noSymlinks: inGuest } : {}),
      ...(pinned ? { dirFd3: { base: parentWhere, path: where } } : {}),
      undo: ['umount', where],
      intent: entry,
      journal: { op: 'record', entry },
    }],
  });
}

export const mountKind: ResourceKind<'mount'> = {
  kind: 'mount',
  rank: 5,
  verify: (e, obs) => obs.mounts.some((m) => m.target === e.target && m.source === e.source),
  // by source and target; planned only where no such mount was (it would be used as it is, or refused)
  recover: (intent, obs, journal) => (obs.mounts.some((m) => m.target === intent.target && m.source === intent.source)
    && !journal.some((e) => e.kind === 'mount' && e.target === intent.target) ? { entry: intent } : undefined),
  plan(wanted, p) {
    // parents before children, so a nested mount knows whether its parent stays in place
    const byPath = [...wanted].sort((a, b) => a.spec.where.localeCompare(b.spec.where));
    for (const d of byPath.sort((a, b) => a.spec.where.length - b.spec.where.length)) planMount(d, p);
  },
  uses: (e) => [e.source, e.target],
  holds: (e, path) => isUnder(path, e.target),
  teardown: (e) => ({
    details: { from: 'journal', source: e.source, target: e.target },
    steps: [{ argv: ['umount', e.target], retryBusy: true, journal: { op: 'forget', address: e.address } }],
  }),
  facts(manifest: Manifest, obs: ObservedState) {
    const wheres = manifest.mounts.map((m) => m.where);
    const watched = (target: string) => wheres.some((w) => w === target || w.startsWith(`${target}/`) || target.startsWith(`${w}/`));
    return obs.mounts.filter((m) => watched(m.target) && m.target !== '/').map((m) =>
      `mount ${m.target} from ${m.source} (${m.fstype}) ${m.options.filter((o) => ['ro', 'rw', 'nosuid', 'nodev', 'noexec'].includes(o)).join(',')}`);
  },
};
