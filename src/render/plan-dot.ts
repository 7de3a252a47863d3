import type { Plan, PlannedAction } from '../plan/types.js';

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const COLOUR: Readonly<Record<string, string>> = { create: 'darkgreen', delete: 'red3', replace: 'orange3', noop: 'gray50' };

/** The action graph as Graphviz DOT (`imgplan graph M | dot -Tsvg > plan.svg`): edges point from a dependency to what needs it. */
export function renderDot(plan: Plan): string {
  const nodes = new Map<string, PlannedAction>();
  for (const a of [...plan.unchanged, ...plan.actions]) if (!nodes.has(a.address) || a.action === 'create') nodes.set(a.address, a);
  const lines = ['digraph imgplan {', '  rankdir=LR;', '  node [shape=box, style=rounded, fontname="monospace"];'];
  const sym = (a: PlannedAction) => (a.replace ? '-/+' : a.action === 'create' ? '+' : a.action === 'delete' ? '-' : '=');
  for (const [address, a] of [...nodes].sort(([x], [y]) => x.localeCompare(y))) {
    const colour = COLOUR[a.replace ? 'replace' : a.action]!;
    lines.push(`  ${quote(address)} [label=${quote(`${sym(a)} ${address}`)}, color=${colour}, fontcolor=${colour}];`);
  }
  const edges = new Set<string>();
  for (const a of nodes.values()) for (const d of a.dependsOn) if (nodes.has(d)) edges.add(`  ${quote(d)} -> ${quote(a.address)};`);
  lines.push(...[...edges].sort(), '}');
  return `${lines.join('\n')}\n`;
}
