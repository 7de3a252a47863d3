import { change, type ChangeOptions, type ChangeResult } from './change.js';
import type { Input, OperationContext } from './context.js';

/**
 * Undoes, in reverse order, what apply recorded in the journal for this manifest; a manifest
 * with errors still names the journal (its diagnostics become warnings).
 */
export function destroy(ctx: OperationContext, input: Input, options: ChangeOptions): Promise<ChangeResult> {
  return change(ctx, 'destroy', input, false, options);
}
