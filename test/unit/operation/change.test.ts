import { describe, expect, it } from 'vitest';
import { apply, BadLockTimeoutError, destroy, type OperationEvent } from '../../../src/operation/index.js';
import type { Plan } from '../../../src/plan/types.js';
import { recordedStates } from './support.js';

describe('operation: apply and destroy from a manifest, over recorded states', () => {
  const at = recordedStates();

  it('asks approve once, with the plan it shows; a refusal cancels with no step run', async () => {
    const h = at('rescue/fresh');
    const asked: Plan[] = [];
    const r = await apply(h.ctx, h.manifest(), { approve: async (p) => (asked.push(p), false) });
    expect(r.outcome).toBe('cancelled');
    expect(h.types()).toEqual(['planned_changes']);
    expect(asked).toEqual([(h.events[0] as Extract<OperationEvent, { type: 'planned_changes' }>).plan]);
    expect(r.plan).toBe(asked[0]);
    expect(h.mutations).toEqual([]);
  });

  it('an empty plan is not offered for approval: planned_changes, then a summary of nothing', async () => {
    const h = at('rescue/applied');
    const r = await apply(h.ctx, h.manifest(), { approve: async () => { throw new Error('asked'); } });
    expect(r.outcome).toBe('no-changes');
    expect(h.events.slice(1)).toEqual([{ type: 'change_summary', ok: true, mode: 'apply', outcome: 'no-changes', add: 0, change: 0, destroy: 0 }]);
  });

  it('approved: the steps run in order; the first failing step is rolled back and summarised (failed-cleanly)', async () => {
    const h = at('rescue/fresh');
    const r = await apply(h.ctx, h.manifest(), { approve: async () => true });
    expect(r.outcome).toBe('failed-cleanly');
    expect(h.types()).toEqual(['planned_changes', 'execution_start', 'step_start', 'step_errored', 'rollback_start', 'change_summary']);
    expect(h.mutations).toEqual([['losetup', '--find', '--show', '--read-only', '/tmp/imgplan-golden/data.img']]);
    expect(h.events.at(-1)).toEqual({
      type: 'change_summary', ok: false, mode: 'apply', outcome: 'failed-cleanly',
      failure: { address: 'attach:data', command: 'losetup --find --show --read-only /tmp/imgplan-golden/data.img', argv: h.mutations[0], message: 'refused by the test' },
      doneAndKept: [], rolledBack: [], leftBehind: [],
    });
  });

  it('destroy of a manifest that no longer loads goes by the journal: its errors become warnings', async () => {
    const h = at('rescue/applied');
    const broken = { path: h.manifest().path, text: 'version: 1\nimages: [not, a, map]\n' };
    const r = await destroy(h.ctx, broken, { approve: async () => false });
    expect(r.outcome).toBe('cancelled');
    expect(h.types()).toEqual(['manifest_ignored', 'planned_changes']);
    const [ignored] = h.events;
    if (ignored?.type !== 'manifest_ignored') throw new Error('not ignored');
    expect(ignored.diagnostics.length).toBeGreaterThan(0);
    expect(ignored.diagnostics.every((d) => d.severity === 'warning')).toBe(true);
    expect(r.plan?.actions.length).toBeGreaterThan(0);
    expect(r.plan?.actions.every((a) => a.action === 'delete')).toBe(true);
  });

  it('destroy reads no image\'s contents (no sfdisk, blkid or qemu-img): it goes by the journal and the live objects', async () => {
    const h = at('rescue/applied');
    const r = await destroy(h.ctx, h.manifest(), { approve: async () => false });
    expect(r.plan?.actions.map((a) => a.address)).toContain('attach:web01/part3');
    expect(h.probed.map((c) => c[0])).toEqual(expect.arrayContaining(['lsblk', 'losetup', 'findmnt']));
    expect(h.probed.filter((c) => ['sfdisk', 'blkid', 'qemu-img'].includes(c[0]!))).toEqual([]);
  });

  it('apply of a manifest with errors stops at its diagnostics, before the lock', async () => {
    const h = at('rescue/applied');
    const r = await apply(h.ctx, { path: h.manifest().path, text: 'version: 1\nimages: [not, a, map]\n' }, { approve: async () => true, lockTimeoutSeconds: Number.NaN });
    expect(r).toEqual({ outcome: 'invalid' });
    expect(h.types()).toEqual(['diagnostics']);
  });

  it('a lock timeout that is not a number of seconds is refused', async () => {
    const h = at('rescue/applied');
    await expect(apply(h.ctx, h.manifest(), { approve: async () => true, lockTimeoutSeconds: Number.NaN })).rejects.toBeInstanceOf(BadLockTimeoutError);
    expect(h.events).toEqual([]);
  });
});
