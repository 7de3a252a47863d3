import type { Diagnostic } from '../diagnostics.js';
import type { Manifest } from '../manifest/types.js';
import type { Action, DesiredOf, DetailsOf, EntryOf, IntentOf, JournalEntry, Kind, PlannedAction, Reason, Step } from '../plan/types.js';
import type { ObservedState } from '../probe/observed.js';
import type { Live } from './devices.js';

/** What a kind's planner may ask and tell the planning core while it plans its wanted objects. */
export interface Planning {
  readonly obs: ObservedState;
  /** the journal as verified against the system, with the objects adopted from it */
  readonly journal: readonly JournalEntry[];
  /** the journal entry of this address, when imgplan made it */
  mine<K extends Kind>(kind: K, address: string): EntryOf<K> | undefined;
  /**
   * The manifest (its path) whose journal made the live object of this kind that `match` picks,
   * when another manifest's did: shown as that manifest's, never adopted or touched
   */
  owner<K extends Kind>(kind: K, match: (e: EntryOf<K>) => boolean): string | undefined;
  /** the entry of this address is wanted still: it is no orphan */
  claim(address: string): void;
  add(action: PlannedAction): void;
  /** the old object goes first: its teardown, as the first half of a replacement (claims its entry) */
  replaceOld(entry: JournalEntry, reason: Reason): void;
  problem(d: Diagnostic): void;
  /** the devices an object provides as it is now, for what sits on it; undefined when this apply makes it */
  live(address: string): Live | undefined;
  provide(address: string, live: Live | undefined): void;
  /** whether the plan so far has an action (of this kind: create, delete, noop) for this address */
  planned(address: string, action?: Action): boolean;
}

/** The reason for using, as it is, a live object this manifest did not make: an admin's, or another manifest's (named). */
export const notMine = (owner: string | undefined) =>
  (owner === undefined ? { reason: 'not-managed' as const } : { reason: 'other-manifest' as const, owner });

/** An image's guest bytes as one of imgplan's objects serves them. */
export interface ServedImage {
  readonly image: string;
  readonly path: string;
  readonly via: 'nbd' | 'export';
  readonly writesImage: boolean;
}

/** How one journaled object is removed, and what the plan shows of it. */
export interface Teardown<K extends Kind> {
  readonly details: DetailsOf<K>;
  readonly steps: readonly Step[];
}

/**
 * What a kind's `recover` makes of an intent: the object the interrupted run made, as its entry;
 * `unsure` (why, in words) when more than one object fits and none can be told to be imgplan's;
 * undefined when it never appeared.
 */
export type Recovery<K extends Kind> = { readonly entry: EntryOf<K> } | { readonly unsure: string } | undefined;

/**
 * One kind of object imgplan makes (a loop attach, a dm map, a mount…). It owns its journal
 * entry (declared in plan/types.ts's KindTypes by augmentation), how that entry is checked
 * against the system, how a wanted object becomes actions, its teardown and its saved-plan facts.
 */
export interface ResourceKind<K extends Kind> {
  readonly kind: K;
  /** among creates with no dependency between them, the lower rank goes first */
  readonly rank: number;
  /** whether the journal entry still describes what is on the system; if not it is forgotten, never acted on */
  verify(entry: EntryOf<K>, obs: ObservedState): boolean;
  /**
   * The object a run made for this intent and was killed before it recorded (it journals the
   * intent, runs the step, then replaces the intent by the entry), found on the system by the
   * identity the intent gives, never by a name alone; never an object `journal` already has.
   */
  recover(intent: IntentOf<K>, obs: ObservedState, journal: readonly JournalEntry[]): Recovery<K>;
  /**
   * Objects of this kind that are live over imgplan's journaled devices without an entry (udev's
   * doing); never one that `others` (the other manifests' live entries) records
   */
  adopt?(journal: readonly JournalEntry[], obs: ObservedState, others: readonly JournalEntry[]): readonly EntryOf<K>[];
  /** the paths the object stands on: devices it reads, files it opens, the directory it sits in */
  uses(entry: EntryOf<K>): readonly string[];
  /** whether `path` is the object or comes from it (a loop's partition, an LV of a VG, a path under a mount) */
  holds(entry: EntryOf<K>, path: string): boolean;
  /** plans all wanted objects of this kind; kinds plan in registry order, so what they sit on is planned */
  plan(wanted: readonly DesiredOf<K>[], p: Planning): void;
  teardown(entry: EntryOf<K>, obs: ObservedState): Teardown<K>;
  /**
   * Where a journaled object of this kind serves an image's guest bytes now (a QEMU export's
   * view, an nbd device), so plan reads the image where the mounts will; and whether it holds
   * QEMU's write lock on the image itself.
   */
  serves?(entry: EntryOf<K>, obs: Pick<ObservedState, 'exports' | 'nbd'>): ServedImage | undefined;
  /** the live facts a saved plan relies on for this kind, one line each */
  facts?(manifest: Manifest, obs: ObservedState): readonly string[];
}
