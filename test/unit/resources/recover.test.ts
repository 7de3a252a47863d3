import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { refreshJournal } from '../../../src/core/refresh.js';
import type { Journal } from '../../../src/journal/format.js';
import type { Manifest } from '../../../src/manifest/types.js';
import { argvText } from '../../../src/plan/argv-text.js';
import type { JournalEntry, JournalIntent } from '../../../src/plan/types.js';
import type { LoopDevice } from '../../../src/probe/losetup.js';
import type { ExportObservation, ObservedState } from '../../../src/probe/observed.js';
import { manifestFor, observed } from '../golden-support.js';

const G = '/tmp/imgplan-golden';
const { manifest } = manifestFor('rescue/applied');
const applied = await observed('rescue/applied', manifest);
const journal = applied.journal!;
const entry = (address: string) => journal.entries.find((e) => e.address === address)!;

/** The intent the step that made this entry journaled before it ran: the entry, less what only the step told (a loop's device). */
function intentOf(e: JournalEntry): JournalIntent {
  if (e.kind !== 'attach') return e;
  const { device: _device, diskseq: _diskseq, ...intent } = e;
  return intent;
}

/** The applied state as a run killed right after these steps' commands left it: their objects live, only their intents journaled. */
function killedAfter(addresses: readonly string[], edit: Partial<ObservedState> = {}): ObservedState {
  const j: Journal = {
    ...journal,
    entries: journal.entries.filter((e) => !addresses.includes(e.address)),
    intents: addresses.map((a) => intentOf(entry(a))),
  };
  return { ...applied, ...edit, journal: j };
}

/** A loop over a recorded image file, with that file's identity as the recording has it. */
const loop = (device: string, file: string, offset: number, sizelimit: number, extra: Partial<LoopDevice> = {}): LoopDevice => {
  const recorded = applied.loops.find((l) => l.backFile === file)!;
  return {
    device, majMin: `7:${device.slice('/dev/loop'.length)}`, backFile: file, backDev: recorded.backDev, backIno: recorded.backIno,
    offset, sizelimit, ro: true, partscan: false, autoclear: false, ...extra,
  };
};

const destroyArgv = (m: Manifest, obs: ObservedState) => makePlan(m, obs, { mode: 'destroy' }).plan!.actions.map((a) => argvText(a.steps[0]!.argv));
const codes = (obs: ObservedState) => refreshJournal(obs).warnings.map((w) => w.code);

describe('an interrupted run\'s intents: found by identity, or dropped', () => {
  it('a loop attached but never recorded is found by file, offset and size, taken over, and destroyed', () => {
    const obs = killedAfter(['attach:web01/part1']);
    const r = refreshJournal(obs);
    expect(r.recovered).toEqual([entry('attach:web01/part1')]);
    expect(r.stale).toEqual([]);
    expect(codes(obs)).toEqual(['journal-recovered']);
    expect(destroyArgv(manifest, obs)).toContain('losetup --detach /dev/loop1');
    // apply: it is imgplan's and as wanted, so nothing to do; the plan records it
    const plan = makePlan(manifest, obs, { mode: 'apply' }).plan!;
    expect(plan.actions).toEqual([]);
    expect(plan.unchanged.find((a) => a.address === 'attach:web01/part1')?.reason).toBe('managed');
    expect(plan.recovered).toEqual([entry('attach:web01/part1')]);
  });

  it('an intent whose object never appeared is dropped (forgotten by the plan), and nothing is torn down for it', () => {
    const obs = killedAfter(['attach:web01/part1'], { loops: applied.loops.filter((l) => l.device !== '/dev/loop1') });
    expect(refreshJournal(obs)).toMatchObject({ recovered: [], stale: ['attach:web01/part1'] });
    expect(codes(obs)).toContain('journal-intent-dropped');
    expect(makePlan(manifest, obs, { mode: 'destroy' }).plan!.forget).toEqual(['attach:web01/part1']);
    expect(destroyArgv(manifest, obs)).not.toContain('losetup --detach /dev/loop1');
  });

  it('never takes a foreign loop: another file, another offset or size, read-write, or a loop the journal already has', () => {
    const others = applied.loops.filter((l) => l.device !== '/dev/loop1');
    const cases: LoopDevice[] = [
      loop('/dev/loop5', `${G}/data.img`, 1048576, 16777216),
      loop('/dev/loop5', `${G}/web01.img`, 1048576 + 512, 16777216),
      loop('/dev/loop5', `${G}/web01.img`, 1048576, 0),
      loop('/dev/loop5', `${G}/web01.img`, 1048576, 16777216, { ro: false }),
      loop('/dev/loop5', `${G}/web01.img`, 1048576, 16777216, { backIno: 99 }),
    ];
    for (const admin of cases) {
      const obs = killedAfter(['attach:web01/part1'], { loops: [...others, admin] });
      expect(refreshJournal(obs).recovered, JSON.stringify(admin)).toEqual([]);
      expect(destroyArgv(manifest, obs)).not.toContain('losetup --detach /dev/loop5');
    }
    // a second address over the same bytes as journaled attach:data: its one fitting loop is attach:data's
    const twin = { ...intentOf(entry('attach:data')), address: 'attach:copy' } as JournalIntent;
    const obs = { ...applied, journal: { ...journal, intents: [twin] } };
    expect(refreshJournal(obs)).toMatchObject({ recovered: [], stale: ['attach:copy'] });
  });

  it('of two fitting loops, the one attached first (lowest diskseq) is the run\'s; without diskseq neither is taken', () => {
    const others = applied.loops.filter((l) => l.device !== '/dev/loop1');
    const twins = [loop('/dev/loop1', `${G}/web01.img`, 1048576, 16777216, { diskseq: 80 }), loop('/dev/loop6', `${G}/web01.img`, 1048576, 16777216, { diskseq: 62 })];
    const r = refreshJournal(killedAfter(['attach:web01/part1'], { loops: [...others, ...twins] }));
    expect(r.recovered).toEqual([{ ...entry('attach:web01/part1'), device: '/dev/loop6', diskseq: 62 }]);
    const blind = killedAfter(['attach:web01/part1'], { loops: [...others, ...twins.map(({ diskseq: _d, ...l }) => l)] });
    expect(refreshJournal(blind)).toMatchObject({ recovered: [], stale: ['attach:web01/part1'] });
    expect(refreshJournal(blind).warnings.find((w) => w.code === 'journal-intent-unsure')?.message).toBe(
      `attach:web01/part1: an interrupted run was attaching ${G}/web01.img, and /dev/loop1, /dev/loop6 all fit; imgplan cannot tell which one it ` +
        'made (this kernel has no loop diskseq), so it leaves them alone');
  });

  it('a loop entry with a diskseq is another loop once the number was detached and attached again', () => {
    const e = { ...entry('attach:data'), diskseq: 40 } as JournalEntry;
    const obs = (seq: number) => ({
      ...applied, loops: applied.loops.map((l) => (l.device === '/dev/loop0' ? { ...l, diskseq: seq } : l)),
      journal: { ...journal, entries: journal.entries.map((x) => (x.address === 'attach:data' ? e : x)) },
    });
    expect(refreshJournal(obs(40)).stale).toEqual([]);
    expect(refreshJournal(obs(41)).stale).toEqual(['attach:data']);
  });

  it('a nested mount made but never recorded is found by source and target, and unmounted before its parent', () => {
    const boot = `mount:${G}/mnt/web01/boot`;
    const obs = killedAfter([boot]);
    expect(refreshJournal(obs).recovered).toEqual([entry(boot)]);
    const argv = destroyArgv(manifest, obs);
    expect(argv.indexOf(`umount ${G}/mnt/web01/boot`)).toBeGreaterThanOrEqual(0);
    expect(argv.indexOf(`umount ${G}/mnt/web01/boot`)).toBeLessThan(argv.indexOf(`umount ${G}/mnt/web01`));
    // another source at that target is not the run's mount
    const other = { ...obs, mounts: obs.mounts.map((m) => (m.target === `${G}/mnt/web01/boot` ? { ...m, source: '/dev/sdz1' } : m)) };
    expect(refreshJournal(other)).toMatchObject({ recovered: [], stale: [boot] });
  });

  it('a directory made but never recorded is found at its path; one that is not there is dropped', () => {
    const d = `dir:${G}/mnt/data`;
    const obs = killedAfter([d]);
    expect(refreshJournal(obs).recovered).toEqual([entry(d)]);
    expect(destroyArgv(manifest, obs)).toContain(`rmdir ${G}/mnt/data`);
    const gone = { ...obs, paths: { ...obs.paths, [`${G}/mnt/data`]: { kind: 'missing' as const } },
      mounts: obs.mounts.filter((m) => m.target !== `${G}/mnt/data`) };
    expect(refreshJournal(gone).stale).toContain(d);
  });

  it('killed at any step of the applied manifest, destroy plans to remove exactly what is there', () => {
    for (const e of journal.entries) {
      const obs = killedAfter([e.address]);
      const plan = makePlan(manifest, obs, { mode: 'destroy' }).plan!;
      expect(plan.actions.map((a) => a.address).sort(), e.address).toEqual(journal.entries.map((x) => x.address).sort());
      expect(plan.recovered).toEqual([e]);
    }
  });
});

const q = manifestFor('qemu/applied').manifest;
const qApplied = await observed('qemu/applied', q);

describe('an interrupted QEMU export', () => {
  const exportEntry = qApplied.journal!.entries.find((e) => e.kind === 'export')!;
  const image = exportEntry.address.slice('export:'.length);
  /** Killed after `install -D` made the empty view file, before the daemon started: only the intent is journaled. */
  const killedBeforeDaemon = (x: ExportObservation): ObservedState => ({
    ...qApplied, loops: [], mounts: qApplied.mounts.filter((m) => m.target !== x.view),
    exports: { [image]: x },
    journal: { ...qApplied.journal!, entries: [], intents: [exportEntry] },
  });

  it('leaves an empty view file that the next destroy takes over and removes, with its folder', () => {
    const x = qApplied.exports![image]!;
    const obs = killedBeforeDaemon({ ...x, serving: false, mounted: false, viewStat: { kind: 'file', size: 0 } });
    expect(refreshJournal(obs).recovered.map((e) => e.address)).toEqual([exportEntry.address]);
    const argv = makePlan(q, obs, { mode: 'destroy' }).plan!.actions.flatMap((a) => a.steps.map((s) => argvText(s.argv)));
    expect(argv).toEqual([`rm -f ${x.view}`, `rmdir --ignore-fail-on-non-empty ${x.view.slice(0, x.view.lastIndexOf('/'))}`]);
  });

  it('is forgotten when its view file never appeared', () => {
    const x = qApplied.exports![image]!;
    const obs = killedBeforeDaemon({ ...x, serving: false, mounted: false, viewStat: { kind: 'missing' } });
    expect(refreshJournal(obs)).toMatchObject({ recovered: [], stale: [exportEntry.address] });
  });
});
