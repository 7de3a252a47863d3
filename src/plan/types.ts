import type { Diagnostic } from '../diagnostics.js';

/**
 * The kinds of object imgplan makes. Each `src/resources/<kind>.ts` adds its own member here by
 * module augmentation: the journal entry it records, the typed details a plan shows of it, and
 * the wanted object the manifest leads to. Adding a kind is that file and one line in
 * `src/resources/registry.ts`; the compiler then asks for its words in `src/render/kinds/`.
 */
export interface KindTypes {}
export type Kind = keyof KindTypes;
type Member<K extends Kind, F extends string> = KindTypes[K] extends Readonly<Record<F, infer T>> ? T : never;
export type EntryOf<K extends Kind> = Member<K, 'entry'>;
export type DetailsOf<K extends Kind> = Member<K, 'details'>;
export type DesiredOf<K extends Kind> = Member<K, 'desired'>;
/** What a step that makes an object of this kind journals before it runs: the entry, less what only the step tells (a loop's device). */
export type IntentOf<K extends Kind> = Member<K, 'intent'>;

/** What every journal entry holds: its kind, its address, and the addresses it sits on. */
export interface EntryBase<K extends string> {
  readonly kind: K;
  readonly address: string;
  readonly dependsOn: readonly string[];
}
/** One journal entry of any kind. */
export type JournalEntry = { [K in Kind]: EntryOf<K> }[Kind];
/** One intent of any kind: an object a step was about to make (see Step.intent). */
export type JournalIntent = { [K in Kind]: IntentOf<K> }[Kind];

/** A value known only after a step has run, e.g. the loop device `losetup --show` prints. */
export interface Ref {
  readonly ref: string;
  /** "device" for the attach's own device, "pN" for its kernel partition N, "mapper:pN" for kpartx's map of it, "name" for "loopN" */
  readonly attr: string;
}
/** One argument made of text and refs, e.g. a dm table line naming a device known only after apply. */
export interface Concat {
  readonly concat: readonly (string | Ref)[];
}
export type Arg = string | Ref | Concat;

export function isRef(a: unknown): a is Ref {
  return typeof a === 'object' && a !== null && 'ref' in a && 'attr' in a;
}

export function isConcat(a: unknown): a is Concat {
  return typeof a === 'object' && a !== null && Array.isArray((a as Partial<Concat>).concat);
}

/** A journal entry whose device values may still be refs: the executor fills them in once the steps ran. */
export type EntryTemplate<E> = {
  readonly [P in keyof E]: P extends 'kind' | 'address' ? E[P] : E[P] extends string ? E[P] | Arg : E[P] extends readonly string[] ? readonly Arg[] : E[P];
};

/** What the journal holds once a step has succeeded (refs filled in). */
export type JournalOp =
  /** the entry, as given (a new object, or one that is still there while its teardown goes on) */
  | { readonly op: 'record'; readonly entry: EntryTemplate<JournalEntry> }
  /** the object is gone */
  | { readonly op: 'forget'; readonly address: string }
  /** a preparation that leaves nothing to undo (loading a module, making imgplan's own folder) */
  | { readonly op: 'none' };

export interface Step {
  readonly argv: readonly Arg[];
  /** inverse command, run when a later step of the same apply fails */
  readonly undo?: readonly Arg[];
  /** the ref this step's stdout (trimmed) defines */
  readonly produces?: Ref;
  /** the value of `produces` when the plan already knows it (qemu-nbd prints nothing; its device was chosen at plan time) */
  readonly producesValue?: string;
  /** device nodes to wait for after the step (kernel partitions, kpartx maps) */
  readonly waitFor?: readonly Arg[];
  /** device whose partition table is re-read when waitFor's partition nodes are late (nbd without udev, field-notes G10) */
  readonly rescan?: Arg;
  /** paths that must be gone before the next step (a daemon deletes its pid file as it exits) */
  readonly waitGone?: readonly string[];
  /** with udev running, let it finish its queue first (kpartx -d after an unmount races it) */
  readonly settleBefore?: boolean;
  /** a "busy" failure (umount, losetup -d) is retried with back-off */
  readonly retryBusy?: boolean;
  /**
   * checked right before the step: each of these paths (a nested mountpoint's components in the
   * guest's tree) is a real directory, not a symlink, or the step fails without running
   */
  readonly noSymlinks?: readonly string[];
  /**
   * the command names this directory as /proc/self/fd/3: apply opens `path` below `base` one
   * component at a time without following a symlink and hands it over (a nested mountpoint in a
   * guest's tree, which could be swapped for a link between the check and the mount)
   */
  readonly dirFd3?: { readonly base: string; readonly path: string };
  readonly journal: JournalOp;
  /**
   * What this step is about to make, journaled right before it runs (refs of earlier steps filled
   * in) and replaced by the entry once it has: a run killed in between leaves it, and the next run
   * finds the object by the kind's `recover`, or drops the intent when it never appeared. Only on a
   * step that makes an object not journaled yet (a create's first recording step).
   */
  readonly intent?: EntryTemplate<JournalIntent>;
  /** files read right after the step, each one's integer put in the journal entry's field (a loop's /sys/block/loopN/diskseq) */
  readonly reads?: readonly { readonly field: string; readonly path: Arg }[];
}

export type Action = 'create' | 'delete' | 'noop';

/** Why a change is planned. Explains; never decides what apply runs. */
export type Reason =
  | 'missing'
  | 'not-in-manifest'
  | 'destroy'
  | 'read-only-mismatch'
  | 'options-differ'
  | 'source-changed'
  | 'dependency-replaced'
  | 'parent-replaced'
  | 'managed'
  | 'not-managed'
  /** made by imgplan for another manifest (ActionOf.owner): used as it is, never touched */
  | 'other-manifest'
  /** active over imgplan's devices without imgplan asking (udev on attach): taken over */
  | 'adopt';

interface ActionOf<K extends Kind> {
  readonly address: string;
  readonly kind: K;
  readonly action: Action;
  /** true for both halves of a -/+ replacement */
  readonly replace: boolean;
  readonly reason: Reason;
  /** reason other-manifest: the path of the manifest whose journal made the object */
  readonly owner?: string;
  readonly dependsOn: readonly string[];
  /** what the plan shows of the object, as typed fields; src/render/ puts them in words */
  readonly details: DetailsOf<K>;
  readonly steps: readonly Step[];
}
/** One planned change (or no-op) of one object. */
export type PlannedAction = { [K in Kind]: ActionOf<K> }[Kind];

export interface PlanContext {
  readonly kernel: string;
  readonly udev: boolean;
  readonly partscan: { readonly labels: readonly string[]; readonly evidence: string };
  /** images opened writable (only with access: read-write and --allow-writes) */
  readonly writableImages: readonly string[];
  /** images whose writes go to a throw-away overlay (access: overlay); absent in plans saved before overlays */
  readonly overlayImages?: readonly string[];
}

export interface Plan {
  readonly formatVersion: 2;
  readonly mode: 'apply' | 'destroy';
  readonly manifest: { readonly path: string; readonly sha256: string };
  readonly context: PlanContext;
  /** creates and deletes, in execution order */
  readonly actions: readonly PlannedAction[];
  /** objects already as wanted (or left alone), sorted by address */
  readonly unchanged: readonly PlannedAction[];
  readonly warnings: readonly Diagnostic[];
  /** journal entries that no longer match the system, and intents whose object never appeared: dropped from the journal, never acted on */
  readonly forget: readonly string[];
  /** objects an interrupted run made and never recorded (found from its intents): recorded as imgplan's before the steps run */
  readonly recovered?: readonly JournalEntry[];
}

export function isEmptyPlan(p: Plan): boolean {
  return p.actions.length === 0;
}
