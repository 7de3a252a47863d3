import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { EXIT } from '../../../src/errors.js';
import { JOURNAL_KINDS, JournalFormatError, parseJournal, serializeJournal } from '../../../src/journal/format.js';
import { collectState } from '../../../src/probe/collect.js';
import { FixtureRunner } from '../../../src/runner/fixture-runner.js';
import { KINDS } from '../../../src/resources/registry.js';
import { manifestFor, observed, recording } from '../golden-support.js';

/** The journal recorded with a state (format 1, as the imgplan of the recording wrote it), its path and text. */
function recordedJournal(state: string): { path: string; text: string } {
  const [path, text] = Object.entries(recording(state).texts).find(([p, t]) => p.includes('/journal/') && t)!;
  return { path, text: text! };
}

const RESCUE = recordedJournal('rescue/applied');
const MANIFEST = String(recording('rescue/applied').meta.manifest);

/** parseJournal's refusal of `text`: a JournalFormatError with exit 3, never another error. */
function refusal(text: string, manifest = MANIFEST): JournalFormatError {
  let thrown: unknown;
  try {
    parseJournal(text, RESCUE.path, manifest);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(JournalFormatError);
  const e = thrown as JournalFormatError;
  expect(e.exitCode).toBe(EXIT.invalid);
  expect(e.message).toContain(`journal ${RESCUE.path} `);
  expect(e.hint).toBeTruthy();
  return e;
}

const edited = (edit: (j: { entries: Record<string, unknown>[] } & Record<string, unknown>) => void): string => {
  const j = JSON.parse(RESCUE.text) as { entries: Record<string, unknown>[] } & Record<string, unknown>;
  edit(j);
  return JSON.stringify(j);
};

describe('the journal is validated (schemas/journal.schema.json)', () => {
  it('every recorded journal (format 1) reads, as format 2 with no intents', () => {
    for (const state of ['rescue/applied', 'rescue/half', 'partscan/applied', 'kpartx/applied', 'windows/applied', 'qemu/applied', 'nbd/applied']) {
      const { path, text } = recordedJournal(state);
      const j = parseJournal(text, path, String(recording(state).meta.manifest));
      expect(j.formatVersion).toBe(2);
      expect(j.intents).toEqual([]);
      expect(j.entries).toEqual((JSON.parse(text) as { entries: unknown[] }).entries);
      // and what imgplan writes back reads the same
      expect(parseJournal(serializeJournal(j), path)).toEqual(j);
    }
  });

  it('a truncated journal names the file and says so', () => {
    const e = refusal(RESCUE.text.slice(0, RESCUE.text.length / 2));
    expect(e.message).toMatch(/is not valid JSON \(truncated\? it stops before its closing brace\): /);
    expect(refusal('').message).toMatch(/is not valid JSON \(truncated\? it stops before its closing brace\): /);
  });

  it('malformed JSON names the file and what the parser found', () => {
    expect(refusal(RESCUE.text.replace('"entries": [', '"entries": [,')).message).toMatch(/is not valid JSON: .*(Unexpected token|position)/);
  });

  it('an entry with a field of the wrong type names the entry by index and address, and the field', () => {
    const text = edited((j) => { j.entries[1]!.backIno = '2146320'; });
    expect(refusal(text).message).toBe(`journal ${RESCUE.path} is damaged: entries[1] (attach:web01/part1): backIno must be integer`);
    expect(refusal(edited((j) => { j.entries[6]!.dependsOn = 'attach:data'; })).message)
      .toContain(`entries[6] (mount:/tmp/imgplan-golden/mnt/data): dependsOn must be array`);
    expect(refusal(edited((j) => { j.entries[0]!.offset = -1; })).message).toContain('entries[0] (attach:data): offset must be >= 0');
  });

  it('an entry with a missing or extra field says which', () => {
    expect(refusal(edited((j) => { delete j.entries[2]!.device; })).message).toContain('entries[2] (attach:web01/part3): has no device');
    expect(refusal(edited((j) => { j.entries[3]!.owner = 'me'; })).message)
      .toContain('entries[3] (dir:/tmp/imgplan-golden/mnt): has a field imgplan does not write: owner');
  });

  it('an unknown kind is named, with the kinds imgplan makes', () => {
    const e = refusal(edited((j) => { j.entries[0] = { kind: 'zfs', address: 'zfs:tank', dependsOn: [] }; }));
    expect(e.message).toBe(`journal ${RESCUE.path} is damaged: entries[0] (zfs:tank): has kind "zfs", which is no kind of object imgplan makes ` +
      '(attach, dir, export, mount, nbd, partmap, vg)');
    expect(refusal(edited((j) => { j.entries[0] = { address: 'x' }; })).message).toContain('entries[0] (x): has no kind');
  });

  it('an intent is checked by its own kind: an attach intent has no device yet', () => {
    const intent = { kind: 'attach', address: 'attach:x', dependsOn: [], file: '/i.img', backDev: '8:1', backIno: 3, offset: 0, sizelimit: 0,
      readOnly: true, partscan: false };
    expect(parseJournal(edited((j) => { j.intents = [intent]; }), RESCUE.path).intents).toEqual([intent]);
    expect(refusal(edited((j) => { j.intents = [{ ...intent, device: '/dev/loop3' }]; })).message)
      .toContain('intents[0] (attach:x): has a field imgplan does not write: device');
  });

  it('a foreign file, another manifest\'s journal, or a newer format is refused, never guessed at', () => {
    expect(refusal('[1, 2]').message).toContain('is not an imgplan journal (not a JSON object)');
    expect(refusal('{"hello": "world"}').message).toContain('is not an imgplan journal (it has no formatVersion)');
    expect(refusal(edited((j) => { j.formatVersion = 3; })).message).toContain('is in journal format 3, which this imgplan cannot read (it reads 1 and 2)');
    expect(refusal(RESCUE.text, '/srv/other.yaml').message).toContain(`is the journal of ${MANIFEST}, not of /srv/other.yaml`);
  });

  it('collect refuses it with exit 3 (not a probe failure, not a TypeError)', async () => {
    const { manifest } = manifestFor('rescue/applied');
    const rec = recording('rescue/applied');
    const broken = { ...rec, texts: { ...rec.texts, [RESCUE.path]: edited((j) => { j.entries[0]!.sizelimit = null; }) } };
    const e = await collectState(new FixtureRunner(broken), manifest, { stateDir: String(rec.meta.state_dir) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(JournalFormatError);
    expect((e as JournalFormatError).exitCode).toBe(EXIT.invalid);
    expect((e as JournalFormatError).message).toContain('entries[0] (attach:data): sizelimit must be integer');
  });

  it('names the same kinds as the registry', () => {
    expect([...JOURNAL_KINDS]).toEqual(Object.keys(KINDS).sort());
  });

  it('whatever a damaged journal holds, it is refused as such or planned from: never a TypeError', async () => {
    const { manifest } = manifestFor('rescue/applied');
    const obs = await observed('rescue/applied', manifest);
    const base = JSON.parse(RESCUE.text) as { entries: Record<string, unknown>[] };
    const fields = [...new Set(base.entries.flatMap((e) => Object.keys(e)))];
    fc.assert(fc.property(
      fc.nat(base.entries.length - 1), fc.constantFrom(...fields, 'extra'), fc.jsonValue(), fc.boolean(),
      (i, field, value, drop) => {
        const j = structuredClone(base);
        if (drop) delete j.entries[i]![field];
        else j.entries[i]![field] = value;
        let journal;
        try {
          journal = parseJournal(JSON.stringify(j), RESCUE.path, MANIFEST);
        } catch (e) {
          expect(e).toBeInstanceOf(JournalFormatError);
          return;
        }
        for (const mode of ['apply', 'destroy'] as const) makePlan(manifest, { ...obs, journal }, { mode });
      },
    ), { numRuns: 300 });
  });
});
