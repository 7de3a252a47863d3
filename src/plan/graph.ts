import { posix } from 'node:path';

/**
 * Kahn's algorithm with a sorted ready queue: a deterministic order in which every node comes
 * after all it depends on; ties break by name. Dependencies on unknown nodes are ignored.
 */
export class CycleError extends Error {}

export function topoSort(nodes: readonly string[], dependsOn: (n: string) => readonly string[]): string[] {
  const set = new Set(nodes);
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const n of set) {
    const deps = [...new Set(dependsOn(n))].filter((d) => set.has(d) && d !== n);
    pending.set(n, deps.length);
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), n]);
  }
  const ready = [...set].filter((n) => pending.get(n) === 0).sort();
  const out: string[] = [];
  while (ready.length) {
    const n = ready.shift()!;
    out.push(n);
    for (const m of dependents.get(n) ?? []) {
      const left = pending.get(m)! - 1;
      pending.set(m, left);
      if (left === 0) {
        ready.push(m);
        ready.sort();
      }
    }
  }
  if (out.length !== set.size) {
    const stuck = [...set].filter((n) => !out.includes(n)).sort();
    throw new CycleError(`dependency cycle among: ${stuck.join(', ')}`);
  }
  return out;
}

/** "/mnt/a" contains "/mnt/a/b" but not "/mnt/ab" (field-notes G16). */
export function pathContains(parent: string, child: string): boolean {
  if (parent === child) return false;
  const p = parent.endsWith('/') ? parent : `${parent}/`;
  return child.startsWith(p);
}

/**
 * The components of a nested mountpoint below the mountpoint it sits in: ["/mnt/r/a",
 * "/mnt/r/a/b"] for /mnt/r/a/b among /mnt/r and others; none when no mountpoint contains it.
 * They are paths in the guest's tree, which the guest's symlinks must never redirect.
 */
export function guestComponents(wheres: readonly string[], where: string): string[] {
  const parent = wheres.filter((w) => pathContains(w, where)).sort((a, b) => b.length - a.length)[0];
  if (!parent) return [];
  const out: string[] = [];
  for (let p = where; p !== parent; p = posix.dirname(p)) out.unshift(p);
  return out;
}
