import { warning, type Diagnostic } from '../diagnostics.js';
import type { JournalEntry, Kind } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import { KIND_LIST, kindOf } from '../resources/registry.js';

export interface Refreshed {
  /** entries still on the system as recorded, and the objects adopted from them */
  readonly journal: readonly JournalEntry[];
  /** addresses of entries that no longer match: dropped from the journal, never acted on */
  readonly stale: readonly string[];
  readonly warnings: readonly Diagnostic[];
}

const verify = <K extends Kind>(e: JournalEntry & { kind: K }, obs: ObservedState) => kindOf<K>(e.kind).verify(e as never, obs);

/** The journal checked against the observed system, each entry by its own kind. */
export function refreshJournal(obs: ObservedState): Refreshed {
  const stale: string[] = [];
  const warnings: Diagnostic[] = [];
  const kept = (obs.journal?.entries ?? []).filter((e) => {
    if (verify(e, obs)) return true;
    stale.push(e.address);
    warnings.push(warning('journal-stale', `${e.address} is in imgplan's journal but no longer on the system as recorded; forgetting it`));
    return false;
  });
  const adopted = KIND_LIST.flatMap((k) => (k.adopt ? (k.adopt(kept, obs) as readonly JournalEntry[]) : []));
  return { journal: [...kept, ...adopted], stale, warnings };
}
