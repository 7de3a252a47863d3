import { describe, expect, it, vi } from 'vitest';
import type { Lock, LockRequest } from '../../../src/apply/lock.js';
import { EXIT, ImgplanError } from '../../../src/errors.js';
import { apply, destroy, plan, type OperationEvent } from '../../../src/operation/index.js';
import { encodeSavedPlan } from '../../../src/plan/codec.js';
import { planFacts } from '../../../src/core/facts.js';
import { makePlan } from '../../../src/core/make-plan.js';
import { manifestFor, observed } from '../golden-support.js';
import { recordedStates } from './support.js';

/** Every lock the operations ask for, and, where a test sets it, what acquiring does instead of the real lock. */
const spy = vi.hoisted(() => ({
  requests: [] as { dir: string; request: LockRequest }[],
  instead: undefined as undefined | ((request: LockRequest) => Promise<Lock>),
}));
vi.mock('../../../src/apply/lock.js', async (original) => {
  const real = await original<typeof import('../../../src/apply/lock.js')>();
  return {
    ...real,
    acquireLock: (dir: string, request: LockRequest) => {
      spy.requests.push({ dir, request });
      return spy.instead ? spy.instead(request) : real.acquireLock(dir, request);
    },
  };
});
const lockModule = await import('../../../src/apply/lock.js');

describe('operation: the host-wide lock', () => {
  const at = recordedStates();
  const fresh = () => {
    spy.requests.length = 0;
    spy.instead = undefined;
  };

  it('plan takes it shared; apply, destroy and a saved plan\'s apply exclusive; each names itself, in the context\'s lock folder', async () => {
    fresh();
    const h = at('rescue/applied');
    const m = h.manifest();
    await plan(h.ctx, m);
    await plan(h.ctx, m, { mode: 'destroy', lockTimeoutSeconds: 3 });
    await apply(h.ctx, m, { approve: async () => false });
    await destroy(h.ctx, m, { approve: async () => false, lockTimeoutSeconds: 0 });
    const { manifest } = manifestFor('rescue/applied');
    const obs = await observed('rescue/applied', manifest);
    const saved = { path: '/srv/runbooks/r.plan', text: encodeSavedPlan(makePlan(manifest, obs, { mode: 'apply' }).plan!, planFacts(manifest, obs), '0.1.0') };
    await apply(h.ctx, saved, { approve: async () => false });
    expect(spy.requests.map((r) => [r.request.mode, r.request.command, r.request.timeoutMs])).toEqual([
      ['shared', `imgplan plan ${m.path}`, 10_000],
      ['shared', `imgplan plan --destroy ${m.path}`, 3000],
      ['exclusive', `imgplan apply ${m.path}`, 10_000],
      ['exclusive', `imgplan destroy ${m.path}`, 0],
      ['exclusive', 'imgplan apply /srv/runbooks/r.plan', 10_000],
    ]);
    expect(new Set(spy.requests.map((r) => r.dir))).toEqual(new Set([h.ctx.lockDir]));
  });

  it('held by another run: a refusal with exit 7 naming it and saying what to do; nothing is probed', async () => {
    fresh();
    const h = at('rescue/fresh');
    const holder = await lockModule.acquireLock(h.ctx.lockDir!, { command: 'imgplan destroy /srv/other.yaml', mode: 'exclusive', timeoutMs: 0 });
    try {
      for (const run of [() => plan(h.ctx, h.manifest(), { lockTimeoutSeconds: 0 }), () => apply(h.ctx, h.manifest(), { approve: async () => true, lockTimeoutSeconds: 0.2 })]) {
        const e = await run().then(() => undefined, (x: unknown) => x);
        expect(e).toBeInstanceOf(ImgplanError);
        expect((e as ImgplanError).exitCode).toBe(EXIT.locked);
        expect((e as Error).message).toMatch(new RegExp(`^another imgplan run holds the lock: pid ${process.pid} \\(imgplan destroy /srv/other.yaml\\), since \\d{4}-\\S+(; gave up after 0.2 s)?$`));
        expect((e as ImgplanError).hint).toMatch(/^wait for it to finish and run this again, or pass a longer --lock-timeout\. The lock goes away with the process that holds it/);
        expect((e as ImgplanError).hint).toContain(`do not remove ${h.ctx.lockDir}/lock`);
      }
      // told once that it waits (the 0.2 s apply), for whom and how
      const waits = h.events.filter((e): e is Extract<OperationEvent, { type: 'lock_wait' }> => e.type === 'lock_wait');
      expect(waits).toEqual([{ type: 'lock_wait', seconds: 0.2, mode: 'exclusive', holders: [expect.objectContaining({ pid: process.pid, command: 'imgplan destroy /srv/other.yaml' })] }]);
      expect(h.types()).toEqual(['lock_wait']);
      expect(h.mutations).toEqual([]);
    } finally {
      await holder.release();
    }
  });

  it('where the lock cannot be opened (not root): plan reads without it, saying so; apply and destroy refuse (exit 3)', async () => {
    fresh();
    spy.instead = async () => { throw new lockModule.LockAccessError('/run/imgplan/lock', 'EACCES'); };
    const h = at('rescue/fresh');
    const r = await plan(h.ctx, h.manifest());
    expect(r.outcome).toBe('changes-pending');
    expect(h.events).toEqual([{ type: 'lock_skipped', reason: 'cannot open the lock /run/imgplan/lock: permission denied' }]);
    const e = await apply(h.ctx, h.manifest(), { approve: async () => true }).then(() => undefined, (x: unknown) => x);
    expect((e as ImgplanError).exitCode).toBe(EXIT.invalid);
    expect(h.mutations).toEqual([]);
  });

  it('lets go when the body throws', async () => {
    fresh();
    const released: string[] = [];
    spy.instead = async (request) => ({ release: async () => void released.push(request.command) });
    const h = at('rescue/fresh');
    await expect(plan(h.ctx, h.manifest(), { target: 'mount:/nowhere' })).rejects.toThrow();
    expect(released).toEqual([`imgplan plan ${h.manifest().path}`]);
  });
});
