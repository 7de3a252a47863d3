import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { apply, plan } from '../../../src/operation/index.js';
import { encodeSavedPlan } from '../../../src/plan/codec.js';
import { planFacts } from '../../../src/core/facts.js';
import { makePlan } from '../../../src/core/make-plan.js';
import { manifestFor, observed } from '../golden-support.js';
import { recordedStates } from './support.js';

/** A plan saved on one recorded state (what `plan --out` writes), as the file apply reads. */
async function savedOn(state: string, mode: 'apply' | 'destroy' = 'apply') {
  const { manifest } = manifestFor(state);
  const obs = await observed(state, manifest);
  const p = makePlan(manifest, obs, { mode }).plan!;
  return { path: '/srv/runbooks/rescue.plan', text: encodeSavedPlan(p, planFacts(manifest, obs), '0.1.0'), plan: p };
}

describe('operation: apply of a saved plan', () => {
  const at = recordedStates();
  const never = async () => { throw new Error('a saved plan is its own approval'); };

  it('made on one state, applied on another: stale, says what changed, runs no step', async () => {
    const saved = await savedOn('rescue/applied', 'destroy');
    const h = at('rescue/half');
    h.manifest();
    const r = await apply(h.ctx, saved, { approve: never });
    expect(r.outcome).toBe('stale');
    expect(h.types()).toEqual(['stale_plan']);
    const [e] = h.events;
    if (e?.type !== 'stale_plan') throw new Error('not stale');
    expect(e.savedPlan).toBe(saved.path);
    expect(e.changes).toEqual(['loop1 detached since the plan was made', '/tmp/imgplan-golden/mnt/web01/boot unmounted since the plan was made (was from /dev/loop1)']);
    expect(e.diff).toContain('-loop /dev/loop1');
    expect(h.mutations).toEqual([]);
  });

  it('an edited manifest makes it stale too', async () => {
    const saved = await savedOn('rescue/fresh');
    const h = at('rescue/fresh');
    const m = h.manifest();
    h.files.set(m.path, `${m.text}# reviewed\n`);
    const r = await apply(h.ctx, saved, { approve: never });
    expect(r.outcome).toBe('stale');
    const [e] = h.events;
    expect(e?.type === 'stale_plan' && e.changes[0]).toBe('the manifest /tmp/imgplan-golden/rescue.yaml was edited since the plan was made');
    expect(h.mutations).toEqual([]);
  });

  it('on the state it was made on: not stale, carried out without asking', async () => {
    const saved = await savedOn('rescue/fresh');
    const h = at('rescue/fresh');
    h.manifest();
    const r = await apply(h.ctx, saved, { approve: never });
    expect(r.outcome).toBe('failed-cleanly');
    expect(h.types().slice(0, 3)).toEqual(['planned_changes', 'execution_start', 'step_start']);
    expect(h.events[1]).toEqual({ type: 'execution_start', plan: saved.plan, savedPlan: saved.path });
    expect(h.mutations).toEqual([saved.plan.actions[0]!.steps[0]!.argv]);
  });

  it('plan --destroy --out, then apply FILE on the same state of QEMU images: not stale (both probes are for destroy)', async () => {
    const h = at('qemu/applied');
    const dir = mkdtempSync(join(tmpdir(), 'imgplan-operation-saved-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'qemu.plan');
    const made = await plan(h.ctx, h.manifest(), { mode: 'destroy', out });
    expect(made.outcome).toBe('changes-pending');
    const r = await apply(h.ctx, { path: out, text: readFileSync(out, 'utf8') }, { approve: never });
    expect(h.types()).not.toContain('stale_plan');
    expect(h.types().slice(0, 3)).toEqual(['planned_changes', 'execution_start', 'step_start']);
    // its first removal failed: what it was to remove is still there
    expect(r.outcome).toBe('left-behind');
  });
});
