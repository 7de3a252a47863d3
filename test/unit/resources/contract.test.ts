import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { parseJournal } from '../../../src/journal/format.js';
import { canonicalJson } from '../../../src/plan/compare.js';
import { resolveRef } from '../../../src/plan/refs.js';
import { isConcat, isRef, type JournalEntry, type JournalIntent } from '../../../src/plan/types.js';
import { refreshJournal } from '../../../src/core/refresh.js';
import type { PlannedAction } from '../../../src/plan/types.js';
import { KIND_LIST, KINDS } from '../../../src/resources/registry.js';
import { reasonText, rowsOf, verbOf } from '../../../src/render/kinds/index.js';
import { manifestFor, observed } from '../golden-support.js';

/** Recorded real-kernel states: fresh, applied, and half applied. */
const STATES = ['rescue/fresh', 'rescue/applied', 'rescue/half', 'partscan/fresh', 'partscan/applied', 'kpartx/fresh', 'kpartx/applied', 'windows/fresh',
  'windows/applied', 'qemu/fresh', 'qemu/applied', 'nbd/fresh', 'nbd/applied'];

/** A template's value with every ref filled in as the executor would (a made-up loop device for each). */
const fill = (v: unknown): unknown => (Array.isArray(v) ? v.map(fill)
  : isRef(v) ? resolveRef('/dev/loop9', v.attr) : isConcat(v) ? v.concat.map((x) => (typeof x === 'string' ? x : resolveRef('/dev/loop9', x.attr))).join('') : v);
const filled = <T>(t: object): T => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, fill(v)])) as T;
const mentions = (v: unknown, ref: string): boolean => (Array.isArray(v) ? v.some((x) => mentions(x, ref))
  : isRef(v) ? v.ref === ref : isConcat(v) ? v.concat.some((x) => mentions(x, ref)) : false);

/**
 * Intent before action: a create's first recording step journals, before it runs, what it is
 * about to make: its entry, less exactly the fields the step itself tells (its produced device).
 */
function checkIntent(a: PlannedAction, made: { entries: JournalEntry[]; intents: JournalIntent[] }): void {
  const first = a.steps.find((s) => s.journal.op === 'record');
  if (a.action !== 'create' || !first || first.journal.op !== 'record') {
    for (const s of a.steps) expect(s.intent, `${a.address}: only a create journals an intent`).toBeUndefined();
    return;
  }
  expect(first.intent, `${a.address}: its first recording step journals an intent`).toBeDefined();
  expect(a.steps.filter((s) => s.intent).length, `${a.address}: one intent per object`).toBe(1);
  const entry = first.journal.entry as Record<string, unknown>;
  const intent = first.intent as Record<string, unknown>;
  for (const [k, v] of Object.entries(entry)) {
    if (k in intent) expect(canonicalJson(intent[k]), `${a.address}: the intent's ${k}`).toBe(canonicalJson(v));
    else expect(first.produces !== undefined && mentions(v, first.produces.ref), `${a.address}: the intent lacks ${k}, which the step does not tell`).toBe(true);
  }
  expect(Object.keys(intent).filter((k) => !(k in entry))).toEqual([]);
  made.intents.push(filled(first.intent!));
  made.entries.push({ ...filled<JournalEntry>(first.journal.entry), ...(first.reads ?? []).reduce((o, r) => ({ ...o, [r.field]: 41 }), {}) });
}

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
      const made = { entries: [] as JournalEntry[], intents: [] as JournalIntent[] };
      for (const a of [...plan.actions, ...plan.unchanged]) {
        checkJournalOps(a);
        checkIntent(a, made);
        expect(verbOf(a)).toMatch(/^[a-z]+$/);
        expect(reasonText(a).length).toBeGreaterThan(0);
        expect(rowsOf(a).length).toBeGreaterThan(0);
      }
      // what the executor would journal for these steps is a journal imgplan reads back (schemas/journal.schema.json, by kind)
      const text = JSON.stringify({ formatVersion: 2, manifest: manifest.path, manifestSha256: manifest.sha256, ...made });
      expect(parseJournal(text, 'test', manifest.path)).toMatchObject(made);
      // destroy removes what is journaled and still there, and nothing else
      if (mode === 'destroy') expect(plan.actions.map((a) => a.address).sort()).toEqual(refreshed.journal.map((e) => e.address).sort());
    }
  });
});
