import { lstatSync, readFileSync } from 'node:fs';
import { DEFAULT_STATE_DIR, journalPath, parseJournal } from '../journal/format.js';
import { loadManifest } from '../manifest/load.js';
import { readInput } from '../operation/index.js';
import { manifestAddresses } from '../plan/addresses.js';
import { decodeSavedPlan, looksLikeSavedPlan } from '../plan/codec.js';
import { out } from './view.js';

const missing = (path: string) => {
  try {
    lstatSync(path);
    return false;
  } catch {
    return true;
  }
};

/** What this manifest's journal holds (what apply made and destroy would remove), when it can be read (as root); else nothing. */
function journaled(manifestPath: string): string[] {
  const path = journalPath(process.env.IMGPLAN_STATE_DIR || DEFAULT_STATE_DIR, manifestPath);
  try {
    const j = parseJournal(readFileSync(path, 'utf8'), path, manifestPath);
    return [...j.entries, ...j.intents].map((e) => e.address);
  } catch {
    return [];
  }
}

/**
 * `imgplan __complete addresses [FILE]`, for the shell completion of --target: one address a line.
 * From a saved plan, its addresses; from a manifest, what a plan of it can name (parsed only:
 * no probe, no lock, no root needed; src/plan/addresses.ts) and what its journal holds. Quiet:
 * a file that cannot be read or parsed gives nothing, exit 0, since a shell is waiting.
 */
export async function complete(what: string, file: string | undefined): Promise<number> {
  if (what !== 'addresses') return 3;
  let addresses: string[] = [];
  try {
    const input = await readInput(file ?? 'imgplan.yaml');
    if (looksLikeSavedPlan(input.text)) {
      const { plan } = decodeSavedPlan(input.text, input.path);
      addresses = [...plan.actions, ...plan.unchanged].map((a) => a.address);
    } else {
      const r = loadManifest({ path: input.path, text: input.bytes ?? input.text, allowWrites: true });
      addresses = [...(r.manifest ? manifestAddresses(r.manifest, missing) : []), ...journaled(input.path)];
    }
  } catch {
    return 0;
  }
  for (const a of [...new Set(addresses)].sort()) out(`${a}\n`);
  return 0;
}
