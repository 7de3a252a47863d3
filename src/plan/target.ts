import type { Plan, PlannedAction } from './types.js';

export class UnknownTargetError extends Error {}

/**
 * `--target ADDRESS`, a recovery tool: keeps the actions on that address and, when creating,
 * on what it depends on; when deleting, on what depends on it (those must go first).
 */
export function targetPlan(plan: Plan, address: string): Plan {
  const all = [...plan.actions, ...plan.unchanged];
  if (!all.some((a) => a.address === address)) {
    const known = [...new Set(all.map((a) => a.address))].sort();
    throw new UnknownTargetError(`--target ${address} is not in this plan; addresses: ${known.join(', ') || 'none'}`);
  }
  const deps = new Map<string, Set<string>>();
  for (const a of all) deps.set(a.address, new Set([...(deps.get(a.address) ?? []), ...a.dependsOn]));
  const closure = (start: string, next: (n: string) => Iterable<string>) => {
    const seen = new Set([start]);
    const todo = [start];
    while (todo.length) for (const n of next(todo.pop()!)) if (!seen.has(n)) (seen.add(n), todo.push(n));
    return seen;
  };
  const upstream = closure(address, (n) => deps.get(n) ?? []);
  const downstream = closure(address, (n) => [...deps].filter(([, d]) => d.has(n)).map(([a]) => a));
  const keep = (a: PlannedAction) => (a.action === 'delete' ? downstream.has(a.address) : upstream.has(a.address));
  return { ...plan, actions: plan.actions.filter(keep), unchanged: plan.unchanged.filter((a) => upstream.has(a.address)) };
}
