import { settleJournal } from '../apply/executor.js';
import { isEmptyPlan, type Plan } from '../plan/types.js';
import type { Input, OperationContext } from './context.js';
import type { Mode, Outcome } from './events.js';
import { execute } from './execute.js';
import { withLock } from './lock.js';
import { load } from './manifest.js';
import { planFor } from './observe.js';

export interface ChangeOptions {
  /** only this address and what it depends on (apply), or what depends on it (destroy) */
  readonly target?: string;
  /** seconds to wait for another run's lock (default 10) */
  readonly lockTimeoutSeconds?: number;
  /** after a failed step or a signal, undo what this run made (default true) */
  readonly rollback?: boolean;
  /** asked once, with the plan, when it has changes; false cancels with nothing changed */
  readonly approve: (plan: Plan) => Promise<boolean>;
}

export interface ChangeResult {
  readonly outcome: Outcome;
  /** the plan that was shown (absent when none could be made) */
  readonly plan?: Plan;
}

export const DEFAULT_LOCK_TIMEOUT_SECONDS = 10;

/** apply or destroy from a manifest: load, lock, probe, plan, approve, execute, check convergence. */
export async function change(ctx: OperationContext, mode: Mode, input: Input, allowWrites: boolean, options: ChangeOptions): Promise<ChangeResult> {
  const loaded = load(ctx.emit, input, allowWrites, mode === 'destroy');
  if (!loaded) return { outcome: 'invalid' };
  const seconds = options.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS;
  return withLock(ctx, { command: `imgplan ${mode} ${loaded.manifest.path}`, seconds, mode: 'exclusive' }, async () => {
    const planned = await planFor(ctx, loaded, mode, options.target);
    if (!planned) return { outcome: 'invalid' };
    const { plan, observed } = planned;
    ctx.emit({ type: 'planned_changes', plan });
    if (isEmptyPlan(plan)) {
      // nothing to run, but the journal still drops what is no longer there and records what an interrupted run made
      await settleJournal(plan, observed.journalPath);
      ctx.emit({ type: 'change_summary', ok: true, mode, outcome: 'no-changes', add: 0, change: 0, destroy: 0 });
      return { outcome: 'no-changes', plan };
    }
    if (!(await options.approve(plan))) return { outcome: 'cancelled', plan };
    ctx.emit({ type: 'execution_start', plan });
    return { outcome: await execute(ctx, loaded, plan, observed, options.target, options.rollback ?? true), plan };
  });
}
