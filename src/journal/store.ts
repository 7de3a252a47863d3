import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readlink, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { JournalEntry, JournalIntent } from '../plan/types.js';
import { JOURNAL_FORMAT, JournalFormatError, journalPath, parseJournal, serializeJournal, type Journal, type OtherJournals } from './format.js';

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;

/** Journals are small; anything larger (or /dev/zero behind a name) is refused before it is read. */
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

const myUid = () => (typeof process.geteuid === 'function' ? process.geteuid() : undefined);
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

async function lstatOrNone(path: string) {
  try {
    return await lstat(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

async function linkText(path: string): Promise<string> {
  return readlink(path).catch(() => '?');
}

/**
 * One directory on the journal's path (the state directory, its journal/ folder): a real
 * directory of this user that no one else may write to. A symbolic link is never followed,
 * wherever it points. `create`: made (mode 0700) when missing; the journal/ folder, imgplan's
 * own, is also narrowed to 0700.
 */
async function checkDir(dir: string, opts: { create: boolean; own: boolean }): Promise<void> {
  const what = opts.own ? 'journal folder' : 'state directory';
  let st = await lstatOrNone(dir);
  if (!st) {
    if (!opts.create) return;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    }
    st = await lstat(dir);
  }
  if (st.isSymbolicLink()) {
    throw new JournalFormatError(dir,
      `is a symbolic link (to ${await linkText(dir)}); imgplan keeps its journal only in a real directory, never through a link`,
      'remove the link; imgplan makes the directory itself (mode 0700), or point IMGPLAN_STATE_DIR at a directory only root can write to', what);
  }
  if (!st.isDirectory()) throw new JournalFormatError(dir, 'is not a directory', 'move it away; imgplan makes the directory itself', what);
  const uid = myUid();
  if (uid !== undefined && st.uid !== uid) {
    throw new JournalFormatError(dir, `belongs to uid ${st.uid}, not to imgplan's user (uid ${uid}): someone else could change the journal`,
      'point IMGPLAN_STATE_DIR at a directory of your own', what);
  }
  if (opts.own && (st.mode & 0o077) !== 0) await chmod(dir, 0o700);
  else if (!opts.own && (st.mode & 0o022) !== 0) {
    throw new JournalFormatError(dir, `is writable by ${st.mode & 0o020 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8)}): ` +
      'someone else could replace the journal', 'chmod go-w it, or point IMGPLAN_STATE_DIR at a directory only root can write to', what);
  }
}

/**
 * Refuses a journal path that leads through a symbolic link (the state directory, its journal/
 * folder, or the journal file itself), or that others could have written: checked before the
 * journal is read, by every command that reads it. Creates nothing.
 */
export async function checkJournalPath(path: string): Promise<void> {
  const dir = dirname(path);
  await checkDir(dirname(dir), { create: false, own: false });
  await checkDir(dir, { create: false, own: true });
  const st = await lstatOrNone(path);
  if (!st) return;
  if (st.isSymbolicLink()) {
    throw new JournalFormatError(path, `is a symbolic link (to ${await linkText(path)}); imgplan reads and writes its journal only as a regular file`,
      'remove the link: if it pointed at a real journal, move that file here in its place');
  }
  if (!st.isFile()) throw new JournalFormatError(path, 'is not a regular file');
  const uid = myUid();
  if (uid !== undefined && st.uid !== uid) throw new JournalFormatError(path, `belongs to uid ${st.uid}, not to imgplan's user (uid ${uid})`);
}

/** The journal's text, opened without following a link (O_NOFOLLOW); undefined when there is none. */
async function readJournalText(path: string): Promise<string | undefined> {
  await checkJournalPath(path);
  let fh;
  try {
    fh = await open(path, O_RDONLY | O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    if (errno(e) === 'ELOOP') throw new JournalFormatError(path, 'is a symbolic link; imgplan reads its journal only as a regular file');
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_JOURNAL_BYTES) throw new JournalFormatError(path, `is not a regular file of at most ${MAX_JOURNAL_BYTES} bytes`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** More journals than this in one state directory is not imgplan's doing: the rest are not read. */
const MAX_OTHER_JOURNALS = 4096;

/**
 * The journals of every other manifest in the state directory (each under the key of the
 * manifest it records), read as carefully as this manifest's own. One that cannot be read, or
 * that sits under another manifest's key (copied by hand), is named in `unreadable`, not fatal:
 * it is not this manifest's journal.
 */
export async function readOtherJournals(stateDir: string, manifestPath: string): Promise<OtherJournals> {
  const own = journalPath(stateDir, manifestPath);
  const dir = dirname(own);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json') && f !== basename(own)).sort();
  const journals: OtherJournals['journals'][number][] = [];
  const unreadable: OtherJournals['unreadable'][number][] = [];
  if (names.length > MAX_OTHER_JOURNALS) unreadable.push({ path: dir, why: `holds ${names.length} journals; imgplan read the first ${MAX_OTHER_JOURNALS}` });
  for (const name of names.slice(0, MAX_OTHER_JOURNALS)) {
    const path = join(dir, name);
    try {
      const text = await readJournalText(path);
      if (text === undefined) continue;
      const j = parseJournal(text, path);
      if (journalPath(stateDir, j.manifest) !== path) {
        unreadable.push({ path, why: `records ${j.manifest}, whose journal is another file (copied or renamed by hand?)` });
        continue;
      }
      journals.push({ path, manifest: j.manifest, entries: j.entries, intents: j.intents });
    } catch (e) {
      unreadable.push({ path, why: e instanceof JournalFormatError ? e.message : (e as Error).message });
    }
  }
  return { journals, unreadable };
}

/** fsync of a directory: the rename (or removal) in it is on disk, not only in the page cache. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Reads and rewrites one manifest's journal. Every write is durable and atomic: a new file
 * (O_EXCL, O_NOFOLLOW, mode 0600) beside the journal, fsynced, renamed over it, then the directory
 * fsynced; a reader sees the old journal or the new one, never part of one. The state directory
 * and its journal/ folder are real directories (mode 0700), never followed through a link.
 */
export class JournalStore {
  private journal: Journal;

  private constructor(private readonly path: string, journal: Journal) {
    this.journal = journal;
  }

  /** Only while holding the host-wide lock (apply, destroy): it also removes what a killed writer left (its temporary files). */
  static async open(path: string, manifest: { path: string; sha256: string }): Promise<JournalStore> {
    let journal: Journal = { formatVersion: JOURNAL_FORMAT, manifest: manifest.path, manifestSha256: manifest.sha256, entries: [], intents: [] };
    const text = await readJournalText(path);
    if (text !== undefined) journal = { ...parseJournal(text, path, manifest.path), manifestSha256: manifest.sha256 };
    const dir = dirname(path);
    const stale = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith(`${basename(path)}.`) && f.endsWith('.tmp'));
    for (const f of stale) await rm(join(dir, f), { force: true });
    return new JournalStore(path, journal);
  }

  entries(): readonly JournalEntry[] {
    return this.journal.entries;
  }

  intents(): readonly JournalIntent[] {
    return this.journal.intents;
  }

  has(address: string): boolean {
    return this.journal.entries.some((e) => e.address === address);
  }

  /** What a step is about to make, before it runs (see Step.intent). */
  async intend(intent: JournalIntent): Promise<void> {
    await this.save(this.journal.entries, [...this.journal.intents.filter((i) => i.address !== intent.address), intent]);
  }

  /** The object is made: its entry replaces its intent. */
  async add(entry: JournalEntry): Promise<void> {
    await this.record([entry], []);
  }

  /** Entries and intents of these addresses go. */
  async remove(addresses: readonly string[]): Promise<void> {
    await this.record([], addresses);
  }

  /** One write: these entries in (each replacing the entry and intent of its address), the entries and intents of `forget` out. */
  async record(entries: readonly JournalEntry[], forget: readonly string[]): Promise<void> {
    const gone = new Set([...entries.map((e) => e.address), ...forget]);
    const nextEntries = [...this.journal.entries.filter((e) => !gone.has(e.address)), ...entries.filter((e) => !forget.includes(e.address))];
    const nextIntents = this.journal.intents.filter((i) => !gone.has(i.address));
    if (!entries.length && nextEntries.length === this.journal.entries.length && nextIntents.length === this.journal.intents.length) return;
    await this.save(nextEntries, nextIntents);
  }

  private async save(entries: readonly JournalEntry[], intents: readonly JournalIntent[]): Promise<void> {
    this.journal = { ...this.journal, formatVersion: JOURNAL_FORMAT, entries, intents };
    const dir = dirname(this.path);
    if (entries.length === 0 && intents.length === 0) {
      if (await lstatOrNone(this.path)) {
        await rm(this.path, { force: true });
        await syncDir(dir);
      }
      return;
    }
    await checkDir(dirname(dir), { create: true, own: false });
    await checkDir(dir, { create: true, own: true });
    const tmp = join(dir, `${basename(this.path)}.${randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      try {
        await fh.writeFile(serializeJournal(this.journal));
        await fh.sync();
      } finally {
        await fh.close();
      }
      // rename replaces whatever is at the path (a link placed there too) and never follows it
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await syncDir(dir);
  }
}
