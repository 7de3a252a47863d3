import { topoSort } from '../plan/graph.js';
import type { JournalEntry, PlannedAction } from '../plan/types.js';
import { kindOf } from '../resources/registry.js';

/**
 * Execution order: deletes first, the most dependent first; then creates, what they sit on
 * first. One dependency graph over the planned actions and the journal.
 */
export function orderActions(all: readonly PlannedAction[], journal: readonly JournalEntry[]): PlannedAction[] {
  const deps = new Map<string, Set<string>>();
  for (const x of [...all, ...journal]) deps.set(x.address, new Set([...(deps.get(x.address) ?? []), ...x.dependsOn]));
  const seq = topoSort([...deps.keys()], (n) => [...(deps.get(n) ?? [])]);
  const rank = new Map(seq.map((n, i) => [n, i]));
  const r = (a: PlannedAction) => rank.get(a.address) ?? 0;
  const deletes = all.filter((a) => a.action === 'delete').sort((a, b) => r(b) - r(a));
  const creates = all.filter((a) => a.action === 'create').sort((a, b) => r(a) - r(b) || kindOf(a.kind).rank - kindOf(b.kind).rank);
  return [...deletes, ...creates];
}
