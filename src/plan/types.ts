import type { Diagnostic } from '../diagnostics.js';
import type { JournalEntry } from '../journal/format.js';

export type Kind = 'export' | 'nbd' | 'attach' | 'partmap' | 'vg' | 'dir' | 'mount';

/** A value known only after a step has run, e.g. the loop device `losetup --show` prints. */
export interface Ref {
  readonly ref: string;
  /** "device" for the attach's own device, "pN" for its kernel partition N, "mapper:pN" for kpartx's map of it */
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
  return typeof a === 'object' && a !== null && 'concat' in a;
}

/** What the executor writes to the journal after a step succeeds (refs filled in). */
export type JournalOp =
  | { readonly op: 'add'; readonly entry: JournalEntry | JournalEntryTemplate }
  | { readonly op: 'remove'; readonly address: string }
  /** a preparation that leaves nothing to undo (loading a module, making imgplan's own folder) */
  | { readonly op: 'none' };

/** A journal entry whose device is only known after the step ran. */
export type JournalEntryTemplate = Omit<Extract<JournalEntry, { kind: 'attach' }>, 'device'> & { readonly device: Ref }
  | Omit<Extract<JournalEntry, { kind: 'mount' }>, 'source'> & { readonly source: Arg }
  | Omit<Extract<JournalEntry, { kind: 'partmap' }>, 'device'> & { readonly device: Arg }
  | Omit<Extract<JournalEntry, { kind: 'vg' }>, 'devices'> & { readonly devices: readonly Arg[] };

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
  readonly journal: JournalOp;
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
  | 'not-managed';

export interface Attr {
  readonly label: string;
  readonly value: string | Ref;
}

export interface PlannedAction {
  readonly address: string;
  readonly kind: Kind;
  readonly action: Action;
  /** true for both halves of a -/+ replacement */
  readonly replace: boolean;
  readonly reason: Reason;
  readonly reasonText: string;
  readonly dependsOn: readonly string[];
  readonly attrs: readonly Attr[];
  readonly steps: readonly Step[];
}

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
  readonly formatVersion: 1;
  readonly mode: 'apply' | 'destroy';
  readonly manifest: { readonly path: string; readonly sha256: string };
  readonly context: PlanContext;
  /** creates and deletes, in execution order */
  readonly actions: readonly PlannedAction[];
  /** objects already as wanted (or left alone), sorted by address */
  readonly unchanged: readonly PlannedAction[];
  readonly warnings: readonly Diagnostic[];
  /** journal entries that no longer match the system: dropped from the journal, never acted on */
  readonly forget: readonly string[];
}

export function isEmptyPlan(p: Plan): boolean {
  return p.actions.length === 0;
}
