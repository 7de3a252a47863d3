import { posix } from 'node:path';
import type { JournalEntry } from '../plan/types.js';
import { manifestKey } from '../manifest/key.js';

/**
 * The run journal: what imgplan created for one manifest, with the identity needed to
 * re-verify each object before destroy touches it. Lives under /run (tmpfs), so it dies with
 * the loop devices and mounts at reboot. Each kind's entry is declared by its resource module.
 */
export interface Journal {
  readonly formatVersion: 1;
  readonly manifest: string;
  readonly manifestSha256: string;
  readonly entries: readonly JournalEntry[];
}

export const DEFAULT_STATE_DIR = '/run/imgplan';

/** Keyed by the manifest's real path, not its content, so editing it does not orphan live objects. */
export function journalPath(stateDir: string, manifestPath: string): string {
  return posix.join(stateDir, 'journal', `${manifestKey(manifestPath)}.json`);
}

export class JournalFormatError extends Error {}

export function parseJournal(text: string, path: string): Journal {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new JournalFormatError(`journal ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const j = v as Partial<Journal>;
  if (j.formatVersion !== 1 || !Array.isArray(j.entries) || typeof j.manifest !== 'string') {
    throw new JournalFormatError(`journal ${path} has an unknown format`);
  }
  return j as Journal;
}

export function serializeJournal(j: Journal): string {
  return `${JSON.stringify(j, null, 2)}\n`;
}
