import { warning, type Diagnostic } from '../diagnostics.js';
import type { JournalEntry, JournalIntent, Kind } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import type { Recovery } from '../resources/kind.js';
import { KIND_LIST, kindOf } from '../resources/registry.js';

export interface Refreshed {
  /** entries still on the system as recorded, the objects recovered from intents, and the objects adopted from them */
  readonly journal: readonly JournalEntry[];
  /** addresses of entries that no longer match, and of intents whose object never appeared: dropped from the journal, never acted on */
  readonly stale: readonly string[];
  /** objects an interrupted run made without recording them, found from its intents: imgplan's from now on */
  readonly recovered: readonly JournalEntry[];
  readonly warnings: readonly Diagnostic[];
}

const verify = <K extends Kind>(e: JournalEntry & { kind: K }, obs: ObservedState) => kindOf<K>(e.kind).verify(e as never, obs);
const recover = <K extends Kind>(i: JournalIntent & { kind: K }, obs: ObservedState, journal: readonly JournalEntry[]) =>
  kindOf<K>(i.kind).recover(i as never, obs, journal) as Recovery<Kind>;

/**
 * The journal checked against the observed system, each entry by its own kind; then each
 * intent (a step that started and never recorded what it made: its run was killed) resolved by
 * its kind's `recover`: the object it made, found by identity, becomes imgplan's; an intent whose
 * object never appeared is dropped.
 */
export function refreshJournal(obs: ObservedState): Refreshed {
  const stale: string[] = [];
  const warnings: Diagnostic[] = [];
  const kept = (obs.journal?.entries ?? []).filter((e) => {
    if (verify(e, obs)) return true;
    stale.push(e.address);
    warnings.push(warning('journal-stale', `${e.address} is in imgplan's journal but no longer on the system as recorded; forgetting it`));
    return false;
  });
  const recovered: JournalEntry[] = [];
  for (const i of obs.journal?.intents ?? []) {
    // the entry was written after all (an intent is replaced by it): the entry is what counts
    if ([...kept, ...recovered].some((e) => e.address === i.address) || stale.includes(i.address)) continue;
    const r = recover(i, obs, [...kept, ...recovered]);
    if (r && 'entry' in r) {
      recovered.push(r.entry as JournalEntry);
      warnings.push(warning('journal-recovered', `${i.address} was made by an earlier run that was interrupted before it recorded it; ` +
        'found on the system as that run meant it, and taken over as imgplan\'s'));
      continue;
    }
    stale.push(i.address);
    warnings.push(r
      ? warning('journal-intent-unsure', r.unsure)
      : warning('journal-intent-dropped', `${i.address}: an earlier run was interrupted as it was making it, and it never appeared; forgetting it`));
  }
  const journal = [...kept, ...recovered];
  const adopted = KIND_LIST.flatMap((k) => (k.adopt ? (k.adopt(journal, obs) as readonly JournalEntry[]) : []));
  return { journal: [...journal, ...adopted], stale, recovered, warnings };
}
