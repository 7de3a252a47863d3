import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { plan } from '../../../src/operation/index.js';
import { decodeSavedPlan } from '../../../src/plan/codec.js';
import { makePlan } from '../../../src/core/make-plan.js';
import { UnknownTargetError } from '../../../src/plan/target.js';
import { EXIT, ImgplanError } from '../../../src/errors.js';
import { manifestFor, observed } from '../golden-support.js';
import { recordedStates } from './support.js';

describe('operation: plan over recorded states', () => {
  const at = recordedStates();

  it('returns the plan the planner makes for the state, with changes pending, and emits nothing for a clean manifest', async () => {
    const h = at('rescue/fresh');
    const r = await plan(h.ctx, h.manifest());
    const { manifest } = manifestFor('rescue/fresh');
    const expected = makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!;
    expect(r).toEqual({ outcome: 'changes-pending', plan: expected });
    expect(h.events).toEqual([]);
    expect(h.mutations).toEqual([]);
  });

  it('is no-changes where everything is applied, and plans destroy in destroy mode', async () => {
    const h = at('rescue/applied');
    expect((await plan(h.ctx, h.manifest())).outcome).toBe('no-changes');
    const d = await plan(h.ctx, h.manifest(), { mode: 'destroy' });
    expect(d.outcome).toBe('changes-pending');
    if (d.outcome === 'invalid') throw new Error('no plan');
    expect(d.plan.mode).toBe('destroy');
    expect(d.plan.actions.every((a) => a.action === 'delete')).toBe(true);
  });

  it('a manifest with errors: one diagnostics event with its text, outcome invalid, nothing probed', async () => {
    const h = at('rescue/fresh');
    const input = { path: h.manifest().path, text: 'version: 1\nimages: {}\nmounts:\n  - what: nothere\n    where: relative/path\n' };
    const probes: string[] = [];
    const ctx = { ...h.ctx, runner: { ...h.ctx.runner, run: async () => { probes.push('run'); throw new Error('probed'); } } };
    expect(await plan(ctx, input)).toEqual({ outcome: 'invalid' });
    expect(h.types()).toEqual(['diagnostics']);
    const [e] = h.events;
    if (e?.type !== 'diagnostics') throw new Error('no diagnostics');
    expect(e.source).toBe(input.text);
    expect(e.diagnostics.some((d) => d.severity === 'error')).toBe(true);
    expect(probes).toEqual([]);
  });

  it('--target limits the plan; an unknown one is thrown, not printed', async () => {
    const h = at('rescue/fresh');
    const r = await plan(h.ctx, h.manifest(), { target: 'attach:data' });
    if (r.outcome === 'invalid') throw new Error('no plan');
    expect(r.plan.actions.map((a) => a.address)).toEqual(['attach:data']);
    await expect(plan(h.ctx, h.manifest(), { target: 'mount:/nowhere' })).rejects.toBeInstanceOf(UnknownTargetError);
  });

  it('out: saves the plan with its facts and target, readable by the codec', async () => {
    const h = at('rescue/fresh');
    const dir = mkdtempSync(join(tmpdir(), 'imgplan-operation-plan-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'rescue.plan');
    const r = await plan(h.ctx, h.manifest(), { out, target: 'attach:data' });
    const saved = decodeSavedPlan(readFileSync(out, 'utf8'), out);
    if (r.outcome === 'invalid') throw new Error('no plan');
    expect(saved.plan).toEqual(r.plan);
    expect(saved.target).toBe('attach:data');
    expect(saved.facts.some((f) => f.startsWith('image data '))).toBe(true);
  });

  it('out: never follows a symbolic link there (refused, exit 3, its target untouched); a file there is replaced, mode 0600', async () => {
    const h = at('rescue/fresh');
    const dir = mkdtempSync(join(tmpdir(), 'imgplan-operation-plan-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const victim = join(dir, 'passwd');
    writeFileSync(victim, 'root:x:0:0\n', { mode: 0o644 });
    const link = join(dir, 'rescue.plan');
    symlinkSync(victim, link);
    const r = plan(h.ctx, h.manifest(), { out: link });
    await expect(r).rejects.toBeInstanceOf(ImgplanError);
    await expect(r).rejects.toMatchObject({ exitCode: EXIT.invalid, message: `refusing to write the plan to ${link}: it is a symbolic link (to ${victim}), which imgplan does not follow` });
    expect(readFileSync(victim, 'utf8')).toBe('root:x:0:0\n');
    expect(readlinkSync(link)).toBe(victim);
    // a regular file there (an older plan, mode 0644) is replaced by a new file of mode 0600
    const out = join(dir, 'old.plan');
    writeFileSync(out, 'old\n', { mode: 0o644 });
    await plan(h.ctx, h.manifest(), { out });
    expect(lstatSync(out).isFile()).toBe(true);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(decodeSavedPlan(readFileSync(out, 'utf8'), out).plan.mode).toBe('apply');
    expect(readdirSync(dir).sort()).toEqual(['old.plan', 'passwd', 'rescue.plan']);
  });
});
