import { createHash } from 'node:crypto';
import type { Plan } from './types.js';

/** A plan saved by `plan --out`: the plan itself, and the live facts it was made from. */
export interface SavedPlan {
  readonly format_version: '2.0';
  readonly kind: 'imgplan-saved-plan';
  readonly imgplan_version: string;
  readonly plan: Plan;
  readonly facts: readonly string[];
  readonly facts_sha256: string;
  /** the --target the plan was limited to, if any */
  readonly target?: string;
}

export class SavedPlanError extends Error {}

export function factsDigest(facts: readonly string[]): string {
  return createHash('sha256').update(facts.join('\n')).digest('hex');
}

export function encodeSavedPlan(plan: Plan, facts: readonly string[], version: string, target?: string): string {
  const saved: SavedPlan = {
    format_version: '2.0', kind: 'imgplan-saved-plan', imgplan_version: version, plan, facts, facts_sha256: factsDigest(facts),
    ...(target ? { target } : {}),
  };
  return `${JSON.stringify(saved, null, 1)}\n`;
}

/** Is this file's text a saved plan (rather than a manifest)? */
export function looksLikeSavedPlan(text: string): boolean {
  return /^\s*\{/.test(text) && text.includes('"imgplan-saved-plan"');
}

export function decodeSavedPlan(text: string, file: string): SavedPlan {
  let v: Partial<SavedPlan>;
  try {
    v = JSON.parse(text) as Partial<SavedPlan>;
  } catch (e) {
    throw new SavedPlanError(`${file} is not a saved plan: ${(e as Error).message}`);
  }
  if (v.kind !== 'imgplan-saved-plan') throw new SavedPlanError(`${file} is not a saved plan`);
  if (v.format_version !== '2.0') {
    throw new SavedPlanError(`${file} was saved in plan format ${String(v.format_version)}, which this imgplan cannot read (it reads 2.0)`);
  }
  if (!v.plan || !Array.isArray(v.facts) || v.facts_sha256 !== factsDigest(v.facts)) throw new SavedPlanError(
    `${file} is damaged (its facts do not match their digest)`,
  );
  // what apply reads before it plans again (that plan, compared with this one, is the real check)
  const p = v.plan as Partial<Plan>;
  if ((p.mode !== 'apply' && p.mode !== 'destroy') || typeof p.manifest?.path !== 'string' || !Array.isArray(p.context?.writableImages) ||
    !Array.isArray(p.actions) || (v.target !== undefined && typeof v.target !== 'string')) {
    throw new SavedPlanError(`${file} is damaged (it is not in the shape of a plan imgplan makes)`);
  }
  return v as SavedPlan;
}
