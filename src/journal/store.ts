import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { JournalEntry } from '../plan/types.js';
import { parseJournal, serializeJournal, type Journal } from './format.js';

/** Reads and rewrites one manifest's journal; every write is atomic (temp file + rename). */
export class JournalStore {
  private journal: Journal;

  private constructor(private readonly path: string, journal: Journal) {
    this.journal = journal;
  }

  static async open(path: string, manifest: { path: string; sha256: string }): Promise<JournalStore> {
    let journal: Journal = { formatVersion: 1, manifest: manifest.path, manifestSha256: manifest.sha256, entries: [] };
    try {
      journal = { ...parseJournal(await readFile(path, 'utf8'), path), manifestSha256: manifest.sha256 };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return new JournalStore(path, journal);
  }

  entries(): readonly JournalEntry[] {
    return this.journal.entries;
  }

  async add(entry: JournalEntry): Promise<void> {
    await this.save([...this.journal.entries.filter((e) => e.address !== entry.address), entry]);
  }

  async remove(addresses: readonly string[]): Promise<void> {
    if (!addresses.some((a) => this.journal.entries.some((e) => e.address === a))) return;
    await this.save(this.journal.entries.filter((e) => !addresses.includes(e.address)));
  }

  private async save(entries: readonly JournalEntry[]): Promise<void> {
    this.journal = { ...this.journal, entries };
    if (entries.length === 0) {
      await rm(this.path, { force: true });
      return;
    }
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, serializeJournal(this.journal), { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
