import { EXIT, ImgplanError } from '../errors.js';
import { decodeSavedPlan, SavedPlanError, type SavedPlan } from '../plan/codec.js';
import { planFacts } from '../core/facts.js';
import { compareFacts } from '../plan/stale.js';
import { isEmptyPlan } from '../plan/types.js';
import type { ChangeResult } from './change.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS } from './change.js';
import { readInput, type Input, type OperationContext } from './context.js';
import { execute } from './execute.js';
import { withLock } from './lock.js';
import { load } from './manifest.js';
import { observe } from './observe.js';

export interface SavedPlanOptions {
  readonly lockTimeoutSeconds?: number;
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
 * `apply FILE` with a saved plan: the plan is the approval, once the manifest and the live
 * facts are shown unchanged since it was made; otherwise it is stale and nothing runs.
 */
export async function applySavedPlan(ctx: OperationContext, input: Input, options: SavedPlanOptions = {}): Promise<ChangeResult> {
  const saved = decodeSaved(input);
  const plan = saved.plan;
  const manifestInput = await (ctx.readInput ?? readInput)(plan.manifest.path);
  const loaded = load(ctx.emit, manifestInput, plan.context.writableImages.length > 0, plan.mode === 'destroy');
  if (!loaded) return { outcome: 'invalid' };
  return withLock(ctx, `imgplan apply ${input.path}`, options.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS, async () => {
    const observed = await observe(ctx, loaded.manifest, plan.mode);
    const changes: string[] = [];
    if (loaded.manifest.sha256 !== plan.manifest.sha256) changes.push(`the manifest ${plan.manifest.path} was edited since the plan was made`);
    const staleness = compareFacts(saved.facts, planFacts(loaded.manifest, observed));
    changes.push(...staleness.changes);
    if (changes.length) {
      ctx.emit({ type: 'stale_plan', savedPlan: input.path, changes, diff: staleness.diff });
      return { outcome: 'stale', plan };
    }
    ctx.emit({ type: 'planned_changes', plan });
    if (isEmptyPlan(plan)) return { outcome: 'no-changes', plan };
    ctx.emit({ type: 'execution_start', plan, savedPlan: input.path });
    return { outcome: await execute(ctx, loaded, plan, observed.journalPath, saved.target), plan };
  });
}
