import { settleJournal } from '../apply/executor.js';
import { EXIT, ImgplanError } from '../errors.js';
import { decodeSavedPlan, SavedPlanError, type SavedPlan } from '../plan/codec.js';
import { planFacts } from '../core/facts.js';
import { makePlan } from '../core/make-plan.js';
import { comparePlans } from '../plan/compare.js';
import { compareFacts } from '../plan/stale.js';
import { targetPlan, UnknownTargetError } from '../plan/target.js';
import type { ObservedState } from '../probe/observed.js';
import { isEmptyPlan } from '../plan/types.js';
import type { ChangeResult } from './change.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS } from './change.js';
import { readInput, type Input, type OperationContext } from './context.js';
import { execute } from './execute.js';
import { withLock } from './lock.js';
import { load, type Loaded } from './manifest.js';
import { observe } from './observe.js';

export interface SavedPlanOptions {
  readonly lockTimeoutSeconds?: number;
  readonly rollback?: boolean;
}

/**
 * A saved plan is an approval, so it counts only while no one but the one applying it can have
 * changed it (as ssh's StrictModes asks of a key): owned by this user, writable by no one else.
 */
function refuseWritableByOthers(input: Input): void {
  const me = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const o = input.owner;
  if (!o || me === undefined) return;
  const mode = o.mode.toString(8).padStart(4, '0');
  const why = o.uid !== me ? `it belongs to uid ${o.uid}`
    : (o.mode & 0o022) !== 0 ? `it is writable by ${o.mode & 0o020 ? 'its group' : 'others'} (mode ${mode})` : undefined;
  if (why) {
    throw new ImgplanError(`refusing the saved plan ${input.path}: ${why}, so someone else could have changed what it approves`, EXIT.invalid,
      `make it yours alone (chown, chmod go-w), or make a new plan: imgplan plan MANIFEST --out FILE`);
  }
}

/** A saved plan's file, decoded; one that is damaged or foreign is a refusal (exit 3). */
export function decodeSaved(input: Input): SavedPlan {
  try {
    return decodeSavedPlan(input.text, input.path);
  } catch (e) {
    if (e instanceof SavedPlanError) throw new ImgplanError(e.message, EXIT.invalid, 'make a new one: imgplan plan MANIFEST --out FILE');
    throw e;
  }
}

/**
 * Plans again, from the manifest and the live state just probed, for the saved plan's mode and
 * --target: undefined when that plan is the saved one, field for field; otherwise where they
 * first differ. A saved plan approves steps; it is never a source of commands.
 */
function replanDifference(loaded: Loaded, observed: ObservedState, saved: SavedPlan): string | undefined {
  const r = makePlan(loaded.manifest, observed, { mode: saved.plan.mode });
  if (!r.plan) {
    const e = r.diagnostics.find((d) => d.severity === 'error');
    return `imgplan can make no plan now${e ? `: ${e.message}` : ''}`;
  }
  let now = r.plan;
  if (saved.target !== undefined) {
    try {
      now = targetPlan(now, saved.target);
    } catch (e) {
      if (e instanceof UnknownTargetError) return `--target ${saved.target} is not in a plan made now`;
      throw e;
    }
  }
  return comparePlans(saved.plan, now);
}

/**
 * `apply FILE` with a saved plan: the plan is the approval, once the manifest and the live
 * facts are shown unchanged since it was made and a plan made now is exactly the saved one;
 * otherwise it is stale and nothing runs.
 */
export async function applySavedPlan(ctx: OperationContext, input: Input, options: SavedPlanOptions = {}): Promise<ChangeResult> {
  refuseWritableByOthers(input);
  const saved = decodeSaved(input);
  const plan = saved.plan;
  const manifestInput = await (ctx.readInput ?? readInput)(plan.manifest.path);
  const loaded = load(ctx.emit, manifestInput, plan.context.writableImages.length > 0, plan.mode === 'destroy');
  if (!loaded) return { outcome: 'invalid' };
  const seconds = options.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS;
  return withLock(ctx, { command: `imgplan apply ${input.path}`, seconds, mode: 'exclusive' }, async () => {
    const observed = await observe(ctx, loaded.manifest, plan.mode);
    const changes: string[] = [];
    if (loaded.manifest.sha256 !== plan.manifest.sha256) changes.push(`the manifest ${plan.manifest.path} was edited since the plan was made`);
    const staleness = compareFacts(saved.facts, planFacts(loaded.manifest, observed));
    changes.push(...staleness.changes);
    // the guarantee: what runs is what a plan made now would run, step for step
    const planDifference = replanDifference(loaded, observed, saved);
    if (changes.length || planDifference) {
      ctx.emit({ type: 'stale_plan', savedPlan: input.path, changes, diff: staleness.diff, ...(planDifference ? { planDifference } : {}) });
      return { outcome: 'stale', plan };
    }
    ctx.emit({ type: 'planned_changes', plan });
    if (isEmptyPlan(plan)) {
      await settleJournal(plan, observed.journalPath);
      return { outcome: 'no-changes', plan };
    }
    ctx.emit({ type: 'execution_start', plan, savedPlan: input.path });
    return { outcome: await execute(ctx, loaded, plan, observed, saved.target, options.rollback ?? true), plan };
  });
}
