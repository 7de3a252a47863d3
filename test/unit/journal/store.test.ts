import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/errors.js';
import { JournalFormatError, parseJournal } from '../../../src/journal/format.js';
import { checkJournalPath, JournalStore } from '../../../src/journal/store.js';
import type { JournalEntry, JournalIntent } from '../../../src/plan/types.js';

let root: string;
let state: string;
let path: string;
const manifest = { path: '/srv/m.yaml', sha256: 'a'.repeat(64) };
const dir: JournalEntry = { kind: 'dir', address: 'dir:/mnt/x', dependsOn: [], path: '/mnt/x' };
const intent: JournalIntent = {
  kind: 'attach', address: 'attach:x', dependsOn: [], file: '/srv/x.img', backDev: '8:1', backIno: 12, offset: 0, sizelimit: 0, readOnly: true,
  partscan: false,
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'imgplan-store-'));
  state = join(root, 'state');
  path = join(state, 'journal', 'k.json');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const read = () => parseJournal(readFileSync(path, 'utf8'), path, manifest.path);

/** The JournalFormatError (exit 3) that `p` is refused with. */
async function refused(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(JournalFormatError);
  expect((e as JournalFormatError).exitCode).toBe(EXIT.invalid);
  return (e as JournalFormatError).message;
}

describe('journal store: durable, private writes', () => {
  it('makes the state directory and journal folder 0700 and the journal 0600, and leaves no temporary file', async () => {
    const j = await JournalStore.open(path, manifest);
    await j.add(dir);
    expect(statSync(state).mode & 0o7777).toBe(0o700);
    expect(statSync(join(state, 'journal')).mode & 0o7777).toBe(0o700);
    expect(statSync(path).mode & 0o7777).toBe(0o600);
    expect(readdirSync(join(state, 'journal'))).toEqual(['k.json']);
    expect(read().entries).toEqual([dir]);
  });

  it('narrows a journal folder others could read to 0700', async () => {
    mkdirSync(join(state, 'journal'), { recursive: true, mode: 0o700 });
    chmodSync(join(state, 'journal'), 0o755);
    await (await JournalStore.open(path, manifest)).add(dir);
    expect(statSync(join(state, 'journal')).mode & 0o7777).toBe(0o700);
  });

  it('an intent is written before, and replaced by its entry after; the file goes once nothing is left', async () => {
    const j = await JournalStore.open(path, manifest);
    await j.intend(intent);
    expect(read()).toMatchObject({ formatVersion: 2, entries: [], intents: [intent] });
    await j.add({ ...intent, device: '/dev/loop3', diskseq: 41 });
    expect(read()).toMatchObject({ entries: [{ ...intent, device: '/dev/loop3', diskseq: 41 }], intents: [] });
    await j.intend({ ...dir, address: 'dir:/mnt/y', path: '/mnt/y' });
    await j.remove(['attach:x', 'dir:/mnt/y']);
    expect(existsSync(path)).toBe(false);
  });

  it('removes what a killed writer left (its temporary file) when it opens the journal', async () => {
    mkdirSync(join(state, 'journal'), { recursive: true, mode: 0o700 });
    writeFileSync(join(state, 'journal', 'k.json.0123456789ab.tmp'), '{"formatVersion": 2, "manif');
    writeFileSync(join(state, 'journal', 'other.json.0123456789ab.tmp'), '');
    await JournalStore.open(path, manifest);
    expect(readdirSync(join(state, 'journal'))).toEqual(['other.json.0123456789ab.tmp']);
  });
});

describe('journal store: never through a symbolic link', () => {
  it('a journal file that is a symbolic link is refused, and what it points at is neither read nor written', async () => {
    mkdirSync(join(state, 'journal'), { recursive: true, mode: 0o700 });
    const elsewhere = join(root, 'passwd');
    writeFileSync(elsewhere, 'root:x:0:0::/root:/bin/bash\n');
    symlinkSync(elsewhere, path);
    const message = await refused(JournalStore.open(path, manifest));
    expect(message).toBe(`journal ${path} is a symbolic link (to ${elsewhere}); imgplan reads and writes its journal only as a regular file`);
    expect(await refused(checkJournalPath(path))).toBe(message);
    expect(readFileSync(elsewhere, 'utf8')).toBe('root:x:0:0::/root:/bin/bash\n');
  });

  it('a journal folder that is a symbolic link is refused on read and on write; nothing lands where it points', async () => {
    mkdirSync(state, { mode: 0o700 });
    const elsewhere = mkdtempSync(join(root, 'elsewhere-'));
    symlinkSync(elsewhere, join(state, 'journal'));
    const message = await refused(JournalStore.open(path, manifest));
    expect(message).toBe(`journal folder ${join(state, 'journal')} is a symbolic link (to ${elsewhere}); imgplan keeps its journal only in a real directory, ` +
      'never through a link');
    expect(await refused(checkJournalPath(path))).toBe(message);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('a link that appears after the journal was opened is refused at the first write', async () => {
    const j = await JournalStore.open(path, manifest);
    mkdirSync(state, { mode: 0o700 });
    const elsewhere = mkdtempSync(join(root, 'elsewhere-'));
    symlinkSync(elsewhere, join(state, 'journal'));
    expect(await refused(j.add(dir))).toContain('is a symbolic link');
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('a state directory that is a symbolic link, or that others may write to, is refused', async () => {
    const elsewhere = mkdtempSync(join(root, 'elsewhere-'));
    symlinkSync(elsewhere, state);
    expect(await refused(JournalStore.open(path, manifest))).toContain(`state directory ${state} is a symbolic link (to ${elsewhere})`);
    rmSync(state);
    mkdirSync(state, { mode: 0o700 });
    chmodSync(state, 0o777);
    expect(await refused(JournalStore.open(path, manifest))).toBe(`state directory ${state} is writable by its group (mode 777): someone else could replace the journal`);
    expect(await refused(checkJournalPath(path))).toContain('is writable by its group');
    expect(existsSync(join(state, 'journal'))).toBe(false);
  });

  it('a path that does not exist yet passes the read check and creates nothing', async () => {
    await checkJournalPath(path);
    expect(existsSync(state)).toBe(false);
  });
});
