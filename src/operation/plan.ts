import { writeFile } from 'node:fs/promises';
import { encodeSavedPlan } from '../plan/codec.js';
import { planFacts } from '../core/facts.js';
import { isEmptyPlan, type Plan } from '../plan/types.js';
import { VERSION } from '../version.js';
import type { Input, OperationContext } from './context.js';
import type { Mode } from './events.js';
import { load } from './manifest.js';
import { planFor } from './observe.js';

export interface PlanOptions {
  /** what apply would do (default), or destroy */
  readonly mode?: Mode;
  readonly target?: string;
  readonly allowWrites?: boolean;
  /** save the plan, with the live facts it was made from, to this file (see `applySavedPlan`) */
  readonly out?: string;
}

export type PlanResult =
  | { readonly outcome: 'no-changes' | 'changes-pending'; readonly plan: Plan }
  | { readonly outcome: 'invalid' };

/** Probes and plans; changes nothing on the system (it writes only `out`). Takes no lock. */
export async function plan(ctx: OperationContext, input: Input, options: PlanOptions = {}): Promise<PlanResult> {
  const loaded = load(ctx.emit, input, options.allowWrites === true);
  if (!loaded) return { outcome: 'invalid' };
  const planned = await planFor(ctx, loaded, options.mode ?? 'apply', options.target);
  if (!planned) return { outcome: 'invalid' };
  const { plan, observed } = planned;
  if (options.out) {
    await writeFile(options.out, encodeSavedPlan(plan, planFacts(loaded.manifest, observed), VERSION, options.target), { mode: 0o600 });
  }
  return { outcome: isEmptyPlan(plan) ? 'no-changes' : 'changes-pending', plan };
}
