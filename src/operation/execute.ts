import { executePlan } from '../apply/executor.js';
import { makePlan } from '../core/make-plan.js';
import { targetPlan } from '../plan/target.js';
import { isEmptyPlan, type Plan } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import type { OperationContext } from './context.js';
import type { Outcome } from './events.js';
import type { Loaded } from './manifest.js';
import { observe } from './observe.js';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Runs a plan's steps, then checks that the system converged: a new plan for the same scope
 * (the whole manifest, or `target`) must be empty. `observed`: what the plan was made from.
 */
export async function execute(ctx: OperationContext, loaded: Loaded, plan: Plan, observed: ObservedState, target: string | undefined,
  rollback = true): Promise<Outcome> {
  const journalPath = observed.journalPath;
  const mode = plan.mode;
  // a first signal lets the running step finish and the run roll back; a second one ends it at once (the journal has what it made)
  let stop: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) {
      ctx.emit({ type: 'stopped_now', signal, journal: journalPath });
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    stop = signal;
    ctx.emit({ type: 'stop_requested', signal, rollback });
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  let result;
  try {
    result = await executePlan(plan, { runner: ctx.runner, journalPath, onEvent: ctx.emit, stopRequested: () => stop, rollback });
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
  if (!result.ok) {
    const failed = result.leftBehind.length ? 'left-behind' : 'failed-cleanly';
    const outcome = result.failure?.interrupted ? (result.failure.interrupted === 'SIGTERM' ? 'terminated' : 'interrupted') : failed;
    ctx.emit({
      type: 'change_summary', ok: false, mode, outcome, failure: result.failure!,
      doneAndKept: result.kept, rolledBack: result.rolledBack, leftBehind: result.leftBehind,
    });
    return outcome;
  }
  const again = makePlan(loaded.manifest, await observe(ctx, loaded.manifest, mode, observed), { mode });
  // a target that is gone after a targeted destroy is converged
  const rest = again.plan && target
    ? ([...again.plan.actions, ...again.plan.unchanged].some((a) => a.address === target) ? targetPlan(again.plan, target) : { ...again.plan, actions: [] })
    : again.plan;
  if (!rest || !isEmptyPlan(rest)) {
    ctx.emit({ type: 'not_converged', ...(rest ? { replan: rest } : {}), diagnostics: again.diagnostics, source: loaded.source });
    return 'not-converged';
  }
  const add = plan.actions.filter((a) => a.action === 'create').length;
  const destroy = plan.actions.filter((a) => a.action === 'delete').length;
  ctx.emit({ type: 'change_summary', ok: true, mode, outcome: 'applied', add, change: 0, destroy });
  return 'applied';
}
