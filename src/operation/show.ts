import { EXIT, ImgplanError } from '../errors.js';
import { decodeSavedPlan, looksLikeSavedPlan } from '../plan/codec.js';
import type { Plan } from '../plan/types.js';
import type { Input } from './context.js';

/** The plan in a file saved by `plan --out`. Throws SavedPlanError when the file is damaged. */
export function show(input: Input): Plan {
  if (!looksLikeSavedPlan(input.text)) {
    throw new ImgplanError(`${input.path} is not a saved plan`, EXIT.invalid, 'make one with: imgplan plan MANIFEST --out FILE');
  }
  return decodeSavedPlan(input.text, input.path).plan;
}
