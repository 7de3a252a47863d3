import type { Manifest } from '../manifest/types.js';
import type { DesiredDir } from '../plan/desired.js';
import type { EntryBase } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import { isUnder } from './devices.js';
import type { ResourceKind } from './kind.js';

/** A mountpoint directory imgplan made (outside any guest filesystem). */
export interface DirEntry extends EntryBase<'dir'> {
  readonly path: string;
}

export interface DirDetails {
  readonly path: string;
}

declare module '../plan/types.js' {
  interface KindTypes {
    dir: { entry: DirEntry; details: DirDetails; desired: DesiredDir; intent: DirEntry };
  }
}

const present = (e: DirEntry, obs: ObservedState) => obs.paths[e.path]?.kind === 'directory' || obs.mounts.some((m) => m.target === e.path);

export const dirKind: ResourceKind<'dir'> = {
  kind: 'dir',
  rank: 4,
  verify: present,
  // planned only where nothing was: a directory there now is the one the interrupted mkdir made
  recover: (intent, obs, journal) =>
    (present(intent, obs) && !journal.some((e) => e.kind === 'dir' && e.path === intent.path) ? { entry: intent } : undefined),
  plan(wanted, p) {
    for (const d of wanted) {
      const action = { address: d.address, kind: 'dir' as const, replace: false, dependsOn: d.dependsOn, details: { path: d.path } };
      if (p.mine('dir', d.address)) {
        p.claim(d.address);
        p.add({ ...action, action: 'noop', reason: 'managed', steps: [] });
        continue;
      }
      const entry: DirEntry = { kind: 'dir', address: d.address, dependsOn: d.dependsOn, path: d.path };
      p.add({
        ...action, action: 'create', reason: 'missing',
        steps: [{ argv: ['mkdir', '--mode=0700', d.path], undo: ['rmdir', d.path], intent: entry, journal: { op: 'record', entry } }],
      });
    }
  },
  uses: (e) => [e.path],
  holds: (e, path) => isUnder(path, e.path),
  teardown: (e) => ({
    details: { path: e.path },
    steps: [{ argv: ['rmdir', e.path], journal: { op: 'forget', address: e.address } }],
  }),
  facts: (_manifest: Manifest, obs: ObservedState) =>
    Object.entries(obs.paths).map(([p, info]) => `path ${p} ${info.kind}${info.kind === 'directory' ? (info.empty ? ' empty' : ' not-empty') : ''}`),
};
