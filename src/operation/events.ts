import type { ExecEvent, ExecResult } from '../apply/executor.js';
import type { LockHolder, LockMode } from '../apply/lock.js';
import type { Diagnostic } from '../diagnostics.js';
import type { Plan } from '../plan/types.js';

export type Mode = Plan['mode'];

/**
 * How an operation ended; the CLI maps it to an exit code (src/errors.ts EXIT). Refusals before
 * anything is planned (unreadable input, not root, a held lock, a probe that fails, an unknown
 * --target) are thrown as ImgplanError instead, with their own exit code.
 */
export type Outcome =
  /** the plan is empty: nothing to do */
  | 'no-changes'
  /** plan only: the plan has changes */
  | 'changes-pending'
  /** every step ran and a new plan right after is empty */
  | 'applied'
  /** the approval was refused; nothing was changed */
  | 'cancelled'
  /** a step failed and everything this run did was undone */
  | 'failed-cleanly'
  /** a step failed and something this run did is still there (and in the journal) */
  | 'left-behind'
  /** a saved plan no longer matches the manifest or the live state; nothing was changed */
  | 'stale'
  /** every step ran, yet a new plan still has changes: a bug */
  | 'not-converged'
  /** the manifest is invalid, or no plan can be made for it: diagnostics were emitted */
  | 'invalid'
  /** stopped by SIGINT (Ctrl-C) or SIGTERM after the running step, rolled back unless --no-rollback */
  | 'interrupted'
  | 'terminated';

/** A step that failed, with what it said (ExecResult['failure']). */
export type StepFailure = NonNullable<ExecResult['failure']>;

/**
 * What an operation reports as it goes. `--json` streams the events marked (json) as one object
 * per line, in the shapes README "JSON" documents; the others are text for people only.
 */
export type OperationEvent =
  /** (json) the manifest or the plan has errors; the operation stops with outcome 'invalid' */
  | { readonly type: 'diagnostics'; readonly diagnostics: readonly Diagnostic[]; readonly source: string }
  /** warnings of a manifest that loaded */
  | { readonly type: 'manifest_warnings'; readonly diagnostics: readonly Diagnostic[]; readonly source: string }
  /** destroy only: the manifest has errors, so destroy goes by the journal alone */
  | { readonly type: 'manifest_ignored'; readonly diagnostics: readonly Diagnostic[]; readonly source: string }
  /** other runs hold the lock: this one waits up to `seconds` for it (`mode`); `holders` as /proc confirms them, maybe none */
  | { readonly type: 'lock_wait'; readonly seconds: number; readonly mode: LockMode; readonly holders: readonly LockHolder[] }
  /** plan only: the lock cannot be opened (not root), so plan reads without it */
  | { readonly type: 'lock_skipped'; readonly reason: string }
  /** (json) the plan about to be approved or carried out */
  | { readonly type: 'planned_changes'; readonly plan: Plan }
  /** approved: the steps start now; `savedPlan` is the file when a saved plan is the approval */
  | { readonly type: 'execution_start'; readonly plan: Plan; readonly savedPlan?: string }
  /** (json) step_start, step_retry, step_complete, step_errored, rollback_start, rollback_step */
  | ExecEvent
  /** (json) the end of an apply or destroy that had a plan to carry out */
  | ChangeSummary
  /** (json) a first SIGINT or SIGTERM: the running step finishes, then the run rolls back (or stops, with --no-rollback) */
  | { readonly type: 'stop_requested'; readonly signal: string; readonly rollback: boolean }
  /** a second signal: the run ends now; `journal` is where what it made is recorded */
  | { readonly type: 'stopped_now'; readonly signal: string; readonly journal: string }
  /** every step ran, yet a new plan (or the diagnostics when none can be made) still has changes */
  | { readonly type: 'not_converged'; readonly replan?: Plan; readonly diagnostics: readonly Diagnostic[]; readonly source: string }
  /**
   * (json) a saved plan that no longer matches: what changed, in words and as a diff of the facts;
   * `planDifference`, when the plan made now is not the saved one, its first difference in words
   */
  | {
    readonly type: 'stale_plan'; readonly savedPlan: string; readonly changes: readonly string[]; readonly diff: string;
    readonly planDifference?: string;
  };

export type ChangeSummary =
  | {
    readonly type: 'change_summary'; readonly ok: true; readonly mode: Mode;
    readonly outcome: 'applied' | 'no-changes'; readonly add: number; readonly change: 0; readonly destroy: number;
  }
  | {
    readonly type: 'change_summary'; readonly ok: false; readonly mode: Mode;
    readonly outcome: 'failed-cleanly' | 'left-behind' | 'interrupted' | 'terminated'; readonly failure: StepFailure;
    /** "address: command" of every step that ran and was kept (not rolled back) */
    readonly doneAndKept: readonly string[];
    readonly rolledBack: readonly string[];
    readonly leftBehind: readonly string[];
  };

export type Emit = (e: OperationEvent) => void;
