import type { Manifest } from '../manifest/types.js';
import { makePlan } from '../core/make-plan.js';
import { journalPath } from '../journal/format.js';
import { checkJournalPath, readOtherJournals } from '../journal/store.js';
import { targetPlan } from '../plan/target.js';
import type { Plan } from '../plan/types.js';
import { collectState } from '../probe/collect.js';
import type { ObservedState } from '../probe/observed.js';
import type { OperationContext } from './context.js';
import type { Mode } from './events.js';
import type { Loaded } from './manifest.js';

/**
 * The live state, read for a plan of this mode (destroy does not look inside QEMU images). The
 * journal is read only through real directories and as a regular file, never through a link; so
 * are the other manifests' journals, whose objects this manifest's plan shows as theirs. `known`:
 * this run's reading before its steps (collectState's `known`).
 */
export async function observe(ctx: OperationContext, manifest: Manifest, mode: Mode, known?: ObservedState): Promise<ObservedState> {
  await checkJournalPath(journalPath(ctx.stateDir, manifest.path));
  const observed = await collectState(ctx.runner, manifest, { stateDir: ctx.stateDir, mode, ...(known ? { known } : {}) });
  return { ...observed, others: await readOtherJournals(ctx.stateDir, manifest.path) };
}

export interface Planned {
  readonly plan: Plan;
  readonly observed: ObservedState;
}

/** Probes and plans, limited to `target` if given; undefined (diagnostics emitted) when no plan can be made. */
export async function planFor(ctx: OperationContext, loaded: Loaded, mode: Mode, target: string | undefined): Promise<Planned | undefined> {
  const observed = await observe(ctx, loaded.manifest, mode);
  const r = makePlan(loaded.manifest, observed, { mode });
  if (!r.plan) {
    ctx.emit({ type: 'diagnostics', diagnostics: r.diagnostics, source: loaded.source });
    return undefined;
  }
  return { plan: target ? targetPlan(r.plan, target) : r.plan, observed };
}
