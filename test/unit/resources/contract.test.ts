import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { refreshJournal } from '../../../src/core/refresh.js';
import type { PlannedAction } from '../../../src/plan/types.js';
import { KIND_LIST, KINDS } from '../../../src/resources/registry.js';
import { reasonText, rowsOf, verbOf } from '../../../src/render/kinds/index.js';
import { manifestFor, observed } from '../golden-support.js';

/** Recorded real-kernel states: fresh, applied, and half applied. */
const STATES = ['rescue/fresh', 'rescue/applied', 'rescue/half', 'partscan/applied', 'kpartx/applied', 'windows/applied', 'qemu/applied', 'nbd/fresh', 'nbd/applied'];

function checkJournalOps(a: PlannedAction): void {
  const ops = a.steps.map((s) => s.journal);
  if (a.action === 'create') {
    // the journal holds the new object once its last step ran: an entry of its own kind and address
    const last = ops[ops.length - 1];
    expect(last?.op, `${a.address}: the last step records it`).toBe('record');
    if (last?.op === 'record') expect([last.entry.kind, last.entry.address]).toEqual([a.kind, a.address]);
    for (const op of ops) expect(op.op, `${a.address}: a create never forgets`).not.toBe('forget');
  } else if (a.action === 'delete') {
    // the entry goes only with the last step: killed half-way, the journal still has it for destroy
    expect(ops.map((o) => o.op === 'forget' ? o.address : o.op)).toEqual([...ops.slice(0, -1).map((o) => o.op), a.address]);
  }
}

describe('every kind keeps the contract', () => {
  it('the registry and the plan schema name the same kinds', () => {
    const schema = JSON.parse(readFileSync(new URL('../../../schemas/plan.schema.json', import.meta.url), 'utf8')) as { $defs: { change: { properties: { kind: { enum: string[] } } } } };
    expect(Object.keys(KINDS).sort()).toEqual([...schema.$defs.change.properties.kind.enum].sort());
    expect(KIND_LIST.map((k) => k.kind)).toEqual(Object.keys(KINDS));
  });

  it.each(STATES)('%s: journaled objects verify, creates record and deletes forget last, every action has words', async (state) => {
    const { manifest } = manifestFor(state);
    const obs = await observed(state, manifest);
    const refreshed = refreshJournal(obs);
    // rescue/half was recorded after some objects were removed behind imgplan's back; the others right after apply
    expect(refreshed.stale.length > 0).toBe(state === 'rescue/half');
    for (const mode of ['apply', 'destroy'] as const) {
      const plan = makePlan(manifest, obs, { mode }).plan!;
      for (const a of [...plan.actions, ...plan.unchanged]) {
        checkJournalOps(a);
        expect(verbOf(a)).toMatch(/^[a-z]+$/);
        expect(reasonText(a).length).toBeGreaterThan(0);
        expect(rowsOf(a).length).toBeGreaterThan(0);
      }
      // destroy removes what is journaled and still there, and nothing else
      if (mode === 'destroy') expect(plan.actions.map((a) => a.address).sort()).toEqual(refreshed.journal.map((e) => e.address).sort());
    }
  });
});
