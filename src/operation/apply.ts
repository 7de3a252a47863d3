import { looksLikeSavedPlan } from '../plan/codec.js';
import { change, type ChangeOptions, type ChangeResult } from './change.js';
import type { Input, OperationContext } from './context.js';
import { applySavedPlan } from './saved.js';

export interface ApplyOptions extends ChangeOptions {
  /** permit images with access: read-write */
  readonly allowWrites?: boolean;
}

/**
 * `apply FILE`: a saved plan is carried out as it is (it is the approval: `approve` is not
 * asked); a manifest is planned, shown, approved, then carried out.
 */
export function apply(ctx: OperationContext, input: Input, options: ApplyOptions): Promise<ChangeResult> {
  return looksLikeSavedPlan(input.text)
    ? applySavedPlan(ctx, input, options)
    : change(ctx, 'apply', input, options.allowWrites === true, options);
}
