import { argvText } from './argv-text.js';
import { isConcat, isRef, type Arg, type Plan, type PlannedAction, type Step } from './types.js';

/**
 * A value as canonical JSON: object keys sorted, undefined members dropped (as JSON.stringify
 * drops them), so a plan read back from a saved file and one made in memory compare equal
 * exactly when they say the same.
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_key, value: unknown) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k];
    return sorted;
  }) ?? 'undefined';
}

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);
const isArgv = (v: unknown): v is readonly Arg[] => Array.isArray(v) && v.every((a) => typeof a === 'string' || isRef(a) || isConcat(a));
const short = (t: string) => (t.length > 300 ? `${t.slice(0, 300)}…` : t);
function valueText(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v) && !v.length) return 'none';
  return short(isArgv(v) ? `\`${argvText(v)}\`` : canonicalJson(v));
}
const actionText = (a: PlannedAction) => `${a.action} ${a.address}`;
const stepsText = (a: PlannedAction) => short(a.steps.map((x) => `\`${argvText(x.argv)}\``).join(', ') || 'no steps');

function stepDifference(a: PlannedAction, i: number, saved: Step | undefined, now: Step | undefined): string | undefined {
  const which = `step ${i + 1} of ${actionText(a)}`;
  if (!saved) return `${which}: the saved plan has no such step; now \`${argvText(now!.argv)}\``;
  if (!now) return `${which}: saved \`${argvText(saved.argv)}\`; a plan made now has no such step`;
  if (!same(saved.argv, now.argv)) return `${which}: saved \`${argvText(saved.argv)}\` vs now \`${argvText(now.argv)}\``;
  const fields = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort() as (keyof Step)[];
  for (const f of fields) {
    if (!same(saved[f], now[f])) {
      return `${which} (\`${argvText(now.argv)}\`), its ${f}: saved ${valueText(saved[f])} vs now ${valueText(now[f])}`;
    }
  }
  return undefined;
}

function actionDifference(saved: PlannedAction, now: PlannedAction): string | undefined {
  if (saved.address !== now.address || saved.kind !== now.kind || saved.action !== now.action) {
    return `saved ${saved.kind} ${actionText(saved)} vs now ${now.kind} ${actionText(now)}`;
  }
  const n = Math.max(saved.steps.length, now.steps.length);
  for (let i = 0; i < n; i++) {
    const d = stepDifference(now, i, saved.steps[i], now.steps[i]);
    if (d) return d;
  }
  const fields = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort() as (keyof PlannedAction)[];
  for (const f of fields) {
    if (!same(saved[f], now[f])) return `${actionText(now)}, its ${f}: saved ${valueText(saved[f])} vs now ${valueText(now[f])}`;
  }
  return undefined;
}

/**
 * Where a saved plan differs from the plan made now for the same manifest, state, mode and
 * --target: undefined when they are the same plan (as canonical JSON, every field), otherwise
 * the first difference in words, steps in their argv text form.
 */
export function comparePlans(saved: Plan, now: Plan): string | undefined {
  if (same(saved, now)) return undefined;
  try {
    return firstDifference(saved, now);
  } catch {
    // a saved plan edited into a shape imgplan never makes (a step without argv…)
    return 'the saved plan is not in the shape of a plan imgplan makes';
  }
}

function firstDifference(saved: Plan, now: Plan): string {
  const n = Math.max(saved.actions.length, now.actions.length);
  for (let i = 0; i < n; i++) {
    const s = saved.actions[i];
    const c = now.actions[i];
    if (!s) return `change ${i + 1}: the saved plan has no such change; now ${actionText(c!)}, ${stepsText(c!)}`;
    if (!c) return `change ${i + 1}: saved ${actionText(s)}, ${stepsText(s)}; a plan made now has no such change`;
    const d = actionDifference(s, c);
    if (d) return `change ${i + 1}: ${d}`;
  }
  const fields = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort() as (keyof Plan)[];
  for (const f of fields) {
    if (f === 'actions' || same(saved[f], now[f])) continue;
    return `the plan's ${f}: saved ${valueText(saved[f])} vs now ${valueText(now[f])}`;
  }
  return 'the plans differ';
}
