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
  /** what the other manifests' journals made that is live (recorded, or found from their intents): theirs, never this manifest's */
  readonly others: readonly Owned[];
}

/** A live object another manifest's journal made, with that manifest's path. */
export interface Owned {
  readonly manifest: string;
  readonly entry: JournalEntry;
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
  const others = otherManifests(obs, kept, warnings);
  const theirs = others.map((o) => o.entry);
  const recovered: JournalEntry[] = [];
  for (const i of obs.journal?.intents ?? []) {
    // the entry was written after all (an intent is replaced by it): the entry is what counts
    if ([...kept, ...recovered].some((e) => e.address === i.address) || stale.includes(i.address)) continue;
    // what another manifest made is never taken for what this one's interrupted run made
    const r = recover(i, obs, [...kept, ...recovered, ...theirs]);
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
  const adopted = KIND_LIST.flatMap((k) => (k.adopt ? (k.adopt(journal, obs, theirs) as readonly JournalEntry[]) : []));
  return { journal: [...journal, ...adopted], stale, recovered, warnings, others };
}

/**
 * The live objects of the other manifests' journals: their entries that verify, and what their
 * interrupted runs made (found from their intents as their own next run would). Their stale
 * entries are theirs to forget. A journal that cannot be read is named: what it made looks like
 * an admin's to this plan.
 */
function otherManifests(obs: ObservedState, kept: readonly JournalEntry[], warnings: Diagnostic[]): Owned[] {
  const out: Owned[] = [];
  for (const u of obs.others?.unreadable ?? []) {
    warnings.push(warning('other-journal-unreadable', `${u.path} ${u.why}`, undefined,
      'what it recorded shows here as not made by imgplan; check it with the manifest it belongs to (imgplan plan THAT-MANIFEST)'));
  }
  for (const j of obs.others?.journals ?? []) {
    const live = j.entries.filter((e) => verify(e, obs));
    for (const e of live) out.push({ manifest: j.manifest, entry: e });
  }
  for (const j of obs.others?.journals ?? []) {
    for (const i of j.intents) {
      if (j.entries.some((e) => e.address === i.address)) continue;
      const r = recover(i, obs, [...kept, ...out.map((o) => o.entry)]);
      if (r && 'entry' in r) out.push({ manifest: j.manifest, entry: r.entry as JournalEntry });
    }
  }
  return out;
}
