import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { apply, plan } from '../../../src/operation/index.js';
import { encodeSavedPlan, factsDigest, type SavedPlan } from '../../../src/plan/codec.js';
import { argvText } from '../../../src/plan/argv-text.js';
import type { Plan } from '../../../src/plan/types.js';
import { planFacts } from '../../../src/core/facts.js';
import { makePlan } from '../../../src/core/make-plan.js';
import { manifestFor, observed } from '../golden-support.js';
import { recordedStates } from './support.js';

/** A plan saved on one recorded state (what `plan --out` writes), as the file apply reads. */
async function savedOn(state: string, mode: 'apply' | 'destroy' = 'apply') {
  const { manifest } = manifestFor(state);
  const obs = await observed(state, manifest, mode);
  const p = makePlan(manifest, obs, { mode }).plan!;
  return { path: '/srv/runbooks/rescue.plan', text: encodeSavedPlan(p, planFacts(manifest, obs), '0.1.0'), plan: p };
}

/** The saved plan's file after `edit` changed its plan; the facts are left as they are, their digest recomputed. */
function edited(saved: { path: string; text: string }, edit: (p: { -readonly [K in keyof Plan]: any }, s: SavedPlan) => void) {
  const file = JSON.parse(saved.text) as SavedPlan;
  edit(file.plan as never, file);
  return { path: saved.path, text: `${JSON.stringify({ ...file, facts_sha256: factsDigest(file.facts) }, null, 1)}\n` };
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

  describe('a saved plan approves steps; it is never a source of commands', () => {
    const stale = (h: ReturnType<typeof at>) => {
      expect(h.types()).toEqual(['stale_plan']);
      const [e] = h.events;
      if (e?.type !== 'stale_plan') throw new Error('not stale');
      // nothing ran: no step, not even the first
      expect(h.mutations).toEqual([]);
      return e;
    };

    it('one argv edited, facts intact: refused (stale, exit 6), naming the step, saved vs now; nothing runs', async () => {
      const saved = await savedOn('rescue/fresh');
      const first = saved.plan.actions[0]!;
      const bad = edited(saved, (p) => { p.actions[0].steps[0].argv = ['touch', '/tmp/imgplan-pwned']; });
      const h = at('rescue/fresh');
      h.manifest();
      const r = await apply(h.ctx, bad, { approve: never });
      expect(r.outcome).toBe('stale');
      const e = stale(h);
      expect(e.changes).toEqual([]);
      expect(e.diff).toBe('');
      expect(e.planDifference).toBe(
        `change 1: step 1 of ${first.action} ${first.address}: saved \`touch /tmp/imgplan-pwned\` vs now \`${argvText(first.steps[0]!.argv)}\``,
      );
    });

    it('an untouched saved plan still applies (its first step is the one that runs)', async () => {
      const saved = await savedOn('rescue/fresh');
      const h = at('rescue/fresh');
      h.manifest();
      const r = await apply(h.ctx, edited(saved, () => {}), { approve: never });
      expect(r.outcome).toBe('failed-cleanly');
      expect(h.types()).not.toContain('stale_plan');
      expect(h.mutations).toEqual([saved.plan.actions[0]!.steps[0]!.argv]);
    });

    it('a saved plan made with --target applies with the same target; another target is refused', async () => {
      const h = at('rescue/fresh');
      const dir = mkdtempSync(join(tmpdir(), 'imgplan-operation-saved-'));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      const out = join(dir, 'data.plan');
      const made = await plan(h.ctx, h.manifest(), { target: 'attach:data', out });
      if (made.outcome === 'invalid') throw new Error('no plan');
      const saved = { path: out, text: readFileSync(out, 'utf8') };
      expect((await apply(h.ctx, saved, { approve: never })).outcome).toBe('failed-cleanly');
      expect(h.mutations).toEqual([made.plan.actions[0]!.steps[0]!.argv]);
      // the same steps, claimed for a wider target: the plan for that target has more
      const h2 = at('rescue/fresh');
      h2.manifest();
      const wider = edited(saved, (_p, s) => { (s as { target?: string }).target = 'mount:/tmp/imgplan-golden/mnt/data'; });
      expect((await apply(h2.ctx, wider, { approve: never })).outcome).toBe('stale');
      expect(stale(h2).planDifference).toMatch(/^change 2: the saved plan has no such change; now create \S+, `/);
    });

    it('an extra step, or an extra change, is refused', async () => {
      const saved = await savedOn('rescue/fresh');
      const first = saved.plan.actions[0]!;
      const extraStep = edited(saved, (p) => { p.actions[0].steps.push({ argv: ['sh', '-c', 'id > /tmp/x'], journal: { op: 'none' } }); });
      const h = at('rescue/fresh');
      h.manifest();
      expect((await apply(h.ctx, extraStep, { approve: never })).outcome).toBe('stale');
      expect(stale(h).planDifference).toBe(
        `change 1: step ${first.steps.length + 1} of ${first.action} ${first.address}: saved \`sh -c 'id > /tmp/x'\`; a plan made now has no such step`,
      );
      const extraChange = edited(saved, (p) => {
        p.actions.push({ ...first, address: 'attach:evil', steps: [{ argv: ['rm', '-rf', '/srv'], journal: { op: 'none' } }] });
      });
      const h2 = at('rescue/fresh');
      h2.manifest();
      expect((await apply(h2.ctx, extraChange, { approve: never })).outcome).toBe('stale');
      expect(stale(h2).planDifference).toBe(
        `change ${saved.plan.actions.length + 1}: saved ${first.action} attach:evil, \`rm -rf /srv\`; a plan made now has no such change`,
      );
    });

    it('a step\'s undo, its journal entry, or a change\'s order edited: refused, saying which field', async () => {
      const saved = await savedOn('rescue/fresh');
      const first = saved.plan.actions[0]!;
      const cases: [(p: { -readonly [K in keyof Plan]: any }) => void, RegExp][] = [
        [(p) => { p.actions[0].steps[0].undo = ['reboot']; }, /^change 1: step 1 of .*, its undo: saved `reboot` vs now /],
        [(p) => { p.actions[0].steps[0].journal = { op: 'none' }; }, /^change 1: step 1 of .*, its journal: saved \{"op":"none"\} vs now \{"entry":/],
        [(p) => { p.actions.reverse(); }, new RegExp(`^change 1: saved .* vs now ${first.kind} ${first.action} ${first.address}$`)],
        [(p) => { p.forget = ['attach:web01/part1']; }, /^the plan's forget: saved `attach:web01\/part1` vs now none$/],
        [(p) => { p.context.udev = !p.context.udev; }, /^the plan's context: saved /],
      ];
      for (const [edit, want] of cases) {
        const h = at('rescue/fresh');
        h.manifest();
        expect((await apply(h.ctx, edited(saved, edit), { approve: never })).outcome).toBe('stale');
        expect(stale(h).planDifference).toMatch(want);
      }
    });

    it('a plan that went stale because the state changed says what changed, and how the plan made now differs', async () => {
      const saved = await savedOn('rescue/fresh');
      const h = at('rescue/applied');
      h.manifest();
      expect((await apply(h.ctx, saved, { approve: never })).outcome).toBe('stale');
      const e = stale(h);
      expect(e.changes.length).toBeGreaterThan(0);
      expect(e.planDifference).toMatch(/^change 1: saved create .*; a plan made now has no such change$/);
    });
  });
});
