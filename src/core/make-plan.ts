import { error, warning, type Diagnostic } from '../diagnostics.js';
import type { Manifest } from '../manifest/types.js';
import { buildDesired } from '../plan/desired.js';
import type { Action, EntryOf, JournalEntry, Kind, Plan, PlannedAction, Reason } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import type { Live } from '../resources/devices.js';
import type { Planning } from '../resources/kind.js';
import { KIND_LIST, kindOf } from '../resources/registry.js';
import { orderActions } from './order.js';
import { refreshJournal, type Owned, type Refreshed } from './refresh.js';

/**
 * Each object this plan removes that another manifest's live object stands on (its mount on this
 * manifest's loop, its VG over this manifest's map…): removing it would pull the ground from under
 * that manifest, so the plan stops with an error that names it. A directory is the exception: one
 * this manifest made that now holds another manifest's mountpoint (a shared parent such as
 * /mnt/imgplan) is kept, still journaled, and removed by a later destroy once it holds nothing.
 */
function heldByOthers(deletes: readonly PlannedAction[], journal: readonly JournalEntry[], others: readonly Owned[]) {
  const out: Diagnostic[] = [];
  const kept = new Set<string>();
  for (const a of deletes) {
    const e = journal.find((x) => x.address === a.address && x.kind === a.kind);
    if (!e) continue;
    const holds = kindOf(e.kind).holds as (entry: JournalEntry, path: string) => boolean;
    const users = others.filter((o) => (kindOf(o.entry.kind).uses as (x: JournalEntry) => readonly string[])(o.entry).some((u) => holds(e, u)));
    if (!users.length) continue;
    const named = users.map((o) => `${o.entry.address} of ${o.manifest}`).join(', ');
    const manifests = [...new Set(users.map((o) => o.manifest))];
    if (e.kind === 'dir') {
      kept.add(a.address);
      out.push(warning('dir-kept-for-other-manifest', `${e.path} stays: it holds what imgplan made for another manifest (${named}); ` +
        'it stays in this manifest\'s journal, and a later destroy removes it once it holds nothing'));
      continue;
    }
    out.push(error('used-by-other-manifest',
      `${a.address}, which this plan would remove, is in use by what imgplan made for another manifest: ${named}`, undefined,
      `destroy that first: ${manifests.map((m) => `imgplan destroy ${m}`).join('; ')}`));
  }
  return { problems: out, kept };
}

export interface PlanOptions {
  readonly mode: 'apply' | 'destroy';
}

export interface PlanResult {
  readonly plan?: Plan;
  /** errors mean no plan: nothing may be changed */
  readonly diagnostics: readonly Diagnostic[];
}

/** A journaled object's removal, as its kind tears it down. */
function teardown(e: JournalEntry, obs: ObservedState, replace: boolean, reason: Reason): PlannedAction {
  const t = kindOf(e.kind).teardown(e as never, obs);
  return { address: e.address, kind: e.kind, action: 'delete', replace, reason, dependsOn: e.dependsOn, details: t.details, steps: t.steps } as PlannedAction;
}

/** Plans every kind's wanted objects in registry order; what is journaled but no longer wanted goes. */
function planAll(desired: readonly { readonly kind: Kind }[], obs: ObservedState, journal: readonly JournalEntry[], others: readonly Owned[]) {
  const actions: PlannedAction[] = [];
  const problems: Diagnostic[] = [];
  const claimed = new Set<string>();
  const live = new Map<string, Live | undefined>();
  const p: Planning = {
    obs,
    journal,
    mine: <K extends Kind>(kind: K, address: string) => journal.find((e) => e.address === address && e.kind === kind) as EntryOf<K> | undefined,
    owner: <K extends Kind>(kind: K, match: (e: EntryOf<K>) => boolean) =>
      others.find((o) => o.entry.kind === kind && match(o.entry as EntryOf<K>))?.manifest,
    claim: (address) => void claimed.add(address),
    add: (a) => void actions.push(a),
    replaceOld: (e, reason) => {
      claimed.add(e.address);
      actions.push(teardown(e, obs, true, reason));
    },
    problem: (d) => void problems.push(d),
    live: (address) => live.get(address),
    provide: (address, l) => void live.set(address, l),
    planned: (address, action?: Action) => actions.some((a) => a.address === address && (action === undefined || a.action === action)),
  };
  for (const k of KIND_LIST) k.plan(desired.filter((d) => d.kind === k.kind) as never, p);
  for (const e of journal) if (!claimed.has(e.address)) actions.push(teardown(e, obs, false, 'not-in-manifest'));
  return { actions, problems };
}

/** Objects found from an interrupted run's intents: the executor records them before the steps (absent when there are none). */
const recovered = (r: Refreshed) => (r.recovered.length ? { recovered: r.recovered } : {});

/** The pure front door: manifest + observed state → the ordered plan, or the errors that prevent one. */
export function makePlan(manifest: Manifest, obs: ObservedState, opts: PlanOptions): PlanResult {
  const refreshed = refreshJournal(obs);
  const header = {
    formatVersion: 2 as const,
    mode: opts.mode,
    manifest: { path: manifest.path, sha256: manifest.sha256 },
    context: {
      kernel: obs.kernel.release,
      udev: obs.kernel.udev,
      partscan: obs.kernel.partscan,
      writableImages: manifest.images.filter((i) => i.access === 'read-write').map((i) => i.name),
      overlayImages: manifest.images.filter((i) => i.access === 'overlay').map((i) => i.name),
    },
  };
  if (opts.mode === 'destroy') {
    const held = heldByOthers(refreshed.journal.map((e) => teardown(e, obs, false, 'destroy')), refreshed.journal, refreshed.others);
    if (held.problems.some((d) => d.severity === 'error')) return { diagnostics: [...held.problems, ...refreshed.warnings] };
    const actions = refreshed.journal.filter((e) => !held.kept.has(e.address)).map((e) => teardown(e, obs, false, 'destroy'));
    const warnings = [...refreshed.warnings, ...held.problems];
    return {
      plan: {
        ...header, actions: orderActions(actions, refreshed.journal), unchanged: [], warnings, forget: refreshed.stale,
        ...recovered(refreshed),
      },
      diagnostics: warnings,
    };
  }

  const { desired, diagnostics } = buildDesired(manifest, obs);
  const { actions: proposed, problems: planProblems } = planAll(desired, obs, refreshed.journal, refreshed.others);
  const held = heldByOthers(proposed.filter((a) => a.action === 'delete'), refreshed.journal, refreshed.others);
  const actions = proposed.filter((a) => !(a.action === 'delete' && held.kept.has(a.address)));
  const problems = [...planProblems, ...held.problems];
  const planned = [...refreshed.warnings, ...problems];
  const errors = [...diagnostics, ...planned.filter((d) => d.severity === 'error')];
  if (errors.some((d) => d.severity === 'error')) return { diagnostics: [...errors, ...planned.filter((d) => d.severity === 'warning')] };

  // a delete of an address that is also created is the first half of a replacement, and the other way round
  const creates = new Set(actions.filter((a) => a.action === 'create').map((a) => a.address));
  const deletes = new Set(actions.filter((a) => a.action === 'delete').map((a) => a.address));
  const all = actions.map((a) => ((a.action === 'delete' && creates.has(a.address)) || (a.action === 'create' && deletes.has(a.address))
    ? { ...a, replace: true }
    : a));
  const unchanged = all.filter((a) => a.action === 'noop').sort((a, b) => a.address.localeCompare(b.address));
  const warnings = [...diagnostics.filter((d) => d.severity === 'warning'), ...planned];
  const plan = {
    ...header, actions: orderActions(all.filter((a) => a.action !== 'noop'), refreshed.journal), unchanged, warnings, forget: refreshed.stale,
    ...recovered(refreshed),
  };
  return { plan, diagnostics: warnings };
}
