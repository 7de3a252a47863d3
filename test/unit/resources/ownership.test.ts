import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { refreshJournal } from '../../../src/core/refresh.js';
import type { OtherJournal } from '../../../src/journal/format.js';
import type { JournalEntry } from '../../../src/plan/types.js';
import type { ObservedState } from '../../../src/probe/observed.js';
import { manifestFor, observed } from '../golden-support.js';

// kpartx/applied: a loop, kpartx's maps of it, two directories and two nested mounts, recorded in the VM lane
const { manifest } = manifestFor('kpartx/applied');
const applied = await observed('kpartx/applied', manifest);
const journal = applied.journal!;
const OTHER = '/srv/runbooks/evidence.yaml';

const other = (entries: readonly JournalEntry[], intents: OtherJournal['intents'] = []): ObservedState['others'] => ({
  journals: [{ path: '/run/imgplan/journal/0123456789abcdef.json', manifest: OTHER, entries, intents }],
  unreadable: [],
});
/** The same live system, but what is there was made by another manifest: this one's journal is empty. */
const madeByOther: ObservedState = { ...applied, journal: null, others: other(journal.entries) };

describe('objects another manifest\'s journal made', () => {
  it('are shown as that manifest\'s, with its path, and used as they are', () => {
    const plan = makePlan(manifest, madeByOther, { mode: 'apply' }).plan!;
    expect(plan.actions).toEqual([]);
    const kinds = plan.unchanged.map((a) => [a.kind, a.reason, a.owner]);
    expect(kinds).toContainEqual(['attach', 'other-manifest', OTHER]);
    expect(kinds).toContainEqual(['partmap', 'other-manifest', OTHER]);
    expect(kinds.filter(([k]) => k === 'mount')).toEqual([['mount', 'other-manifest', OTHER], ['mount', 'other-manifest', OTHER]]);
  });

  it('are never this manifest\'s to destroy', () => {
    const plan = makePlan(manifest, madeByOther, { mode: 'destroy' }).plan!;
    expect(plan.actions).toEqual([]);
  });

  it('are not what an interrupted run of this manifest made, even when they fit its intent exactly', () => {
    const attach = journal.entries.find((e) => e.kind === 'attach')!;
    const { device: _d, diskseq: _s, ...intent } = attach as JournalEntry & { kind: 'attach' };
    const obs: ObservedState = { ...madeByOther, journal: { ...journal, entries: [], intents: [intent] } };
    const r = refreshJournal(obs);
    expect(r.recovered).toEqual([]);
    expect(r.stale).toEqual([attach.address]);
    expect(r.warnings.map((w) => w.code)).toContain('journal-intent-dropped');
    // without the other manifest's journal the same loop is taken over: the test above is not vacuous
    expect(refreshJournal({ ...obs, others: undefined }).recovered.map((e) => e.address)).toEqual([attach.address]);
  });

  it('stop a destroy that would pull this manifest\'s loop from under them, naming what and whose', () => {
    const theirs: JournalEntry = { kind: 'mount', address: 'mount:/srv/evidence', dependsOn: [], target: '/srv/evidence', source: '/dev/mapper/loop0p2',
      fstype: 'ext4' };
    const obs: ObservedState = {
      ...applied,
      mounts: [...applied.mounts, { ...applied.mounts.find((m) => m.source === '/dev/mapper/loop0p2')!, target: '/srv/evidence' }],
      others: other([theirs]),
    };
    const r = makePlan(manifest, obs, { mode: 'destroy' });
    expect(r.plan).toBeUndefined();
    const held = r.diagnostics.filter((d) => d.code === 'used-by-other-manifest');
    expect(held.map((d) => d.message)).toEqual([
      expect.stringMatching(/^partmap:vm01, which this plan would remove, is in use by .*: mount:\/srv\/evidence of \/srv\/runbooks\/evidence\.yaml$/),
    ]);
    expect(held[0]!.hint).toBe(`destroy that first: imgplan destroy ${OTHER}`);
  });

  it('include a VG another manifest activated over this manifest\'s devices: never adopted as udev\'s doing', () => {
    // LVM's map of an LV of a VG whose PV is kpartx's map loop0p2 (254:1), as udev's auto-activation would leave it
    const vgRaw = 'A'.repeat(32);
    const lvMap = { name: 'guestvg-root', uuid: `LVM-${vgRaw}${'B'.repeat(32)}`, majMin: '254:9', readOnly: true, openCount: 0, devices: ['254:1'],
      offsets: [2048] };
    const obs: ObservedState = { ...applied, dmMaps: [...applied.dmMaps, lvMap] };
    const adopted = refreshJournal(obs).journal.filter((e) => e.kind === 'vg');
    expect(adopted.map((e) => e.address)).toEqual(['vg:vm01/guestvg']);
    const theirs = { ...adopted[0]!, address: 'vg:evidence/guestvg' };
    const r = refreshJournal({ ...obs, others: other([theirs]) });
    expect(r.journal.filter((e) => e.kind === 'vg')).toEqual([]);
    expect(r.others.map((o) => o.entry.address)).toEqual(['vg:evidence/guestvg']);
  });

  it('name another manifest\'s journal that cannot be read, and plan on', () => {
    const obs: ObservedState = { ...applied, others: { journals: [], unreadable: [{ path: '/run/imgplan/journal/x.json', why: 'is not valid JSON' }] } };
    const r = makePlan(manifest, obs, { mode: 'apply' });
    expect(r.plan).toBeDefined();
    expect(r.diagnostics.find((d) => d.code === 'other-journal-unreadable')?.message).toBe('/run/imgplan/journal/x.json is not valid JSON');
  });
});
