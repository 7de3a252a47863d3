import type { Diagnostic } from '../diagnostics.js';
import type { Manifest } from '../manifest/types.js';
import { buildDesired } from '../plan/desired.js';
import type { Action, EntryOf, JournalEntry, Kind, Plan, PlannedAction, Reason } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import type { Live } from '../resources/devices.js';
import type { Planning } from '../resources/kind.js';
import { KIND_LIST, kindOf } from '../resources/registry.js';
import { orderActions } from './order.js';
import { refreshJournal, type Refreshed } from './refresh.js';

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
function planAll(desired: readonly { readonly kind: Kind }[], obs: ObservedState, journal: readonly JournalEntry[]) {
  const actions: PlannedAction[] = [];
  const problems: Diagnostic[] = [];
  const claimed = new Set<string>();
  const live = new Map<string, Live | undefined>();
  const p: Planning = {
    obs,
    journal,
    mine: <K extends Kind>(kind: K, address: string) => journal.find((e) => e.address === address && e.kind === kind) as EntryOf<K> | undefined,
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
    const actions = refreshed.journal.map((e) => teardown(e, obs, false, 'destroy'));
    return {
      plan: {
        ...header, actions: orderActions(actions, refreshed.journal), unchanged: [], warnings: refreshed.warnings, forget: refreshed.stale,
        ...recovered(refreshed),
      },
      diagnostics: refreshed.warnings,
    };
  }

  const { desired, diagnostics } = buildDesired(manifest, obs);
  const { actions, problems } = planAll(desired, obs, refreshed.journal);
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
