import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/manifest/load.js';
import { buildDesired } from '../../../src/plan/desired.js';
import { CycleError, pathContains, topoSort } from '../../../src/plan/graph.js';
import { makePlan } from '../../../src/core/make-plan.js';
import type { Plan } from '../../../src/plan/types.js';
import { manifestFor, observed } from '../golden-support.js';

function index(plan: Plan, address: string, action: 'create' | 'delete'): number {
  const i = plan.actions.findIndex((a) => a.address === address && a.action === action);
  if (i < 0) throw new Error(`${address} (${action}) is not in the plan`);
  return i;
}
const happensBefore = (plan: Plan, a: string, b: string, action: 'create' | 'delete' = 'create') => index(plan, a, action) < index(plan, b, action);

const G = '/tmp/imgplan-golden/mnt';

describe('ordering as happens-before relations (recorded states)', () => {
  it('apply: attach before mount, directory before mount, parent mount before nested mount', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const plan = makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!;
    expect(happensBefore(plan, 'attach:web01/part3', `mount:${G}/web01`)).toBe(true);
    expect(happensBefore(plan, 'attach:web01/part1', `mount:${G}/web01/boot`)).toBe(true);
    expect(happensBefore(plan, `dir:${G}`, `dir:${G}/web01`)).toBe(true);
    expect(happensBefore(plan, `dir:${G}/web01`, `mount:${G}/web01`)).toBe(true);
    expect(happensBefore(plan, `mount:${G}/web01`, `mount:${G}/web01/boot`)).toBe(true);
    expect(happensBefore(plan, 'attach:data', `mount:${G}/data`)).toBe(true);
  });

  it('destroy is exactly the apply order reversed', async () => {
    const fresh = manifestFor('rescue/fresh');
    const apply = makePlan(fresh.manifest, await observed('rescue/fresh', fresh.manifest), { mode: 'apply' }).plan!;
    const applied = manifestFor('rescue/applied');
    const destroy = makePlan(applied.manifest, await observed('rescue/applied', applied.manifest), { mode: 'destroy' }).plan!;
    expect(destroy.actions.map((a) => a.address)).toEqual(apply.actions.map((a) => a.address).reverse());
    expect(destroy.actions.every((a) => a.action === 'delete')).toBe(true);
    expect(happensBefore(destroy, `mount:${G}/web01/boot`, `mount:${G}/web01`, 'delete')).toBe(true);
    expect(happensBefore(destroy, `mount:${G}/web01`, 'attach:web01/part3', 'delete')).toBe(true);
  });

  it('the plan does not depend on the order of mounts in the file', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const reversed = { ...manifest, mounts: [...manifest.mounts].reverse() };
    const obs = await observed('rescue/fresh', manifest);
    const a = makePlan(manifest, obs, { mode: 'apply' }).plan!;
    const b = makePlan(reversed, obs, { mode: 'apply' }).plan!;
    expect(b.actions).toEqual(a.actions);
  });

  it('/mnt/a contains /mnt/a/b but not /mnt/ab', async () => {
    expect(pathContains('/mnt/a', '/mnt/a/b')).toBe(true);
    expect(pathContains('/mnt/a', '/mnt/ab')).toBe(false);
    expect(pathContains('/mnt/a', '/mnt/a')).toBe(false);
    const { manifest: base } = manifestFor('rescue/fresh');
    const text = `version: 1
images:
  web01: { file: ${base.images[0]!.file}, format: raw }
  data: { file: ${base.images[1]!.file}, format: raw }
mounts:
  - { what: web01/part3, where: /mnt/a }
  - { what: web01/part1, where: /mnt/a/b }
  - { what: data, where: /mnt/ab }
`;
    const m = loadManifest({ path: '/tmp/imgplan-golden/rescue.yaml', text, allowWrites: false }).manifest!;
    const { desired } = buildDesired(m, await observed('rescue/fresh', base));
    const deps = (w: string) => desired.flatMap((d) => (d.kind === 'mount' && d.address === `mount:${w}` ? d.dependsOn : []));
    expect(deps('/mnt/a/b')).toContain('mount:/mnt/a');
    expect(deps('/mnt/ab')).toEqual(['attach:data']);
  });
});

describe('topoSort', () => {
  it('orders dependencies first and breaks ties by name', () => {
    const deps: Record<string, string[]> = { c: ['a'], b: [], a: [], d: ['c', 'b'] };
    expect(topoSort(Object.keys(deps), (n) => deps[n]!)).toEqual(['a', 'b', 'c', 'd']);
  });
  it('names the nodes of a cycle', () => {
    const deps: Record<string, string[]> = { x: ['y'], y: ['x'], z: [] };
    expect(() => topoSort(Object.keys(deps), (n) => deps[n]!)).toThrow(new CycleError('dependency cycle among: x, y'));
  });
});
