import type { ExecEvent } from '../apply/executor.js';
import { nameHolders } from '../apply/lock.js';
import { printable } from '../printable.js';
import type { ChangeSummary, OperationEvent, Outcome } from '../operation/index.js';
import { renderDiagnostics } from '../render/diagnostics.js';
import { planToJson } from '../render/plan-json.js';
import { renderPlan } from '../render/plan-text.js';
import { styleFor } from '../render/style.js';
import { ProbeError, type ExitCode, type ImgplanError } from '../errors.js';

export const out = (s: string) => process.stdout.write(s);
export const err = (s: string) => process.stderr.write(s);
export const stdoutStyle = () => styleFor(process.stdout, process.env);
export const stderrStyle = () => styleFor(process.stderr, process.env);
/** Text from an image or a tool, on a screen: each line shown, never interpreted. */
export const shown = (s: string) => s.split('\n').map(printable).join('\n');

/** An ImgplanError for people, on stderr: what was wrong and what to do (a probe's message carries its own prefix). */
export function printError(e: ImgplanError): void {
  if (e.message) err(`imgplan: ${e instanceof ProbeError ? '' : 'error: '}${shown(e.message)}\n`);
  if (e.hint) err(`  hint: ${shown(e.hint)}\n`);
}

const jsonLine = (o: object) => out(`${JSON.stringify(o)}\n`);

function progressText(e: ExecEvent): string {
  switch (e.type) {
    case 'step_start': return `[${e.index}/${e.total}] ${e.symbol} ${e.address}: ${printable(e.argv.join(' '))}`;
    case 'step_retry': return `      busy; retrying in ${e.delay_ms} ms`;
    case 'step_complete': return `      done${e.produced ? ` → ${e.produced}` : ''} (${e.elapsed_ms} ms)`;
    case 'step_errored': return `Step failed: ${printable(e.argv.join(' '))}: ${printable(e.message)}`;
    case 'rollback_start': return 'Rolling back what this run did, in reverse order…';
    case 'rollback_step': return `  undo ${e.address}: ${printable(e.argv.join(' '))}${e.ok ? '' : ` (failed: ${printable(e.message ?? '')})`}`;
  }
}

function summaryJson(e: ChangeSummary, exitCode: (o: Outcome) => ExitCode): object {
  return e.ok
    ? { type: e.type, ok: true, exit_code: exitCode(e.outcome), add: e.add, change: e.change, destroy: e.destroy }
    : {
      type: e.type, ok: false, exit_code: exitCode(e.outcome), failure: e.failure,
      done: e.doneAndKept, rolled_back: e.rolledBack, left_behind: e.leftBehind,
    };
}

function summaryText(e: ChangeSummary, write: (s: string) => void): void {
  const Mode = e.mode === 'apply' ? 'Apply' : 'Destroy';
  if (e.ok) {
    // an empty plan says "No changes" itself
    if (e.outcome === 'applied') write(`\n${Mode} complete! ${e.add} added, ${e.change} changed, ${e.destroy} destroyed.\n`);
    return;
  }
  const f = e.failure;
  err(`\nError: ${f.address}: ${printable(f.command)}\n  ${f.message.split('\n').map(printable).join('\n  ')}\n`);
  if (f.holders) err(`  Processes using it:\n    ${f.holders.split('\n').join('\n    ')}\n`);
  const list = (title: string, xs: readonly string[]) => err(`\n${title}: ${xs.length ? '' : 'none'}\n${xs.map((x) => `  ${x}\n`).join('')}`);
  list('Done (and kept)', e.doneAndKept);
  list('Rolled back', e.rolledBack);
  list('Left behind', e.leftBehind);
  err(e.leftBehind.length ? '\nSomething was left behind: run "imgplan destroy" for this manifest to remove it.\n' : '\nEverything this run did was undone.\n');
  if (f.interrupted) err(`Stopped by ${f.interrupted}.\n`);
}

/** Where the text for people goes: stdout, or stderr when stdout is another program's (exec). */
export interface Sink {
  readonly stream: NodeJS.WriteStream;
  readonly write: (s: string) => void;
  readonly style: () => ReturnType<typeof styleFor>;
}
export const STDOUT: Sink = { stream: process.stdout, write: out, style: stdoutStyle };
export const STDERR: Sink = { stream: process.stderr, write: err, style: stderrStyle };

/**
 * Renders an operation's events as they come: as text for people (the plan and progress on
 * `sink`, stdout by default; problems on stderr) or, with --json, as one JSON object per line on
 * stdout (README "JSON"), with what people need on stderr still.
 */
export function view(json: boolean, exitCode: (o: Outcome) => ExitCode, sink: Sink = STDOUT): (e: OperationEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'diagnostics':
        if (json) jsonLine({ format_version: '1.0', type: 'diagnostics', diagnostics: e.diagnostics });
        err(renderDiagnostics(e.diagnostics, stderrStyle(), e.source));
        return;
      case 'manifest_warnings':
        err(renderDiagnostics(e.diagnostics, stderrStyle(), e.source));
        return;
      case 'manifest_ignored':
        err(renderDiagnostics(e.diagnostics, stderrStyle(), e.source));
        err('The manifest has errors; destroying what the journal records for it anyway.\n');
        return;
      case 'lock_wait':
        if (!json) {
          err(`Waiting up to ${e.seconds} s for the lock${e.mode === 'shared' ? ' (shared, to read)' : ''}, held by ${
            e.holders.length ? nameHolders(e.holders) : 'another process'}…\n`);
        }
        return;
      case 'lock_skipped':
        err(`imgplan: warning: planning without the lock (${e.reason}): an apply or destroy running now may change what this plan reads\n`);
        return;
      case 'planned_changes':
        if (json) jsonLine({ type: 'planned_changes', plan: planToJson(e.plan) });
        else sink.write(renderPlan(e.plan, sink.style()));
        return;
      case 'execution_start':
        if (!json) sink.write(e.savedPlan ? `\nApplying the saved plan ${e.savedPlan} (the saved plan is the approval).\n\n` : '\n');
        return;
      case 'change_summary':
        if (json) jsonLine(summaryJson(e, exitCode));
        else summaryText(e, sink.write);
        return;
      case 'not_converged':
        err('\nimgplan: internal error: the system did not converge; a new plan right after still has changes:\n');
        err(e.replan ? renderPlan(e.replan, stderrStyle()) : renderDiagnostics(e.diagnostics, stderrStyle(), e.source));
        err('This is a bug; please report it with the output of: imgplan debug capture-state MANIFEST state.json\n');
        return;
      case 'stop_requested':
        if (json) jsonLine(e);
        err(`\nimgplan: ${e.signal}: stopping after the running step, then ${e.rollback ? 'undoing what this run made' : 'keeping what this run made'}` +
          ' (signal again to stop at once)\n');
        return;
      case 'stopped_now':
        err(`\nimgplan: ${e.signal} again: stopped at once. What this run made is recorded in ${e.journal}` +
          ' (a step cut short as an intent); run "imgplan destroy" for this manifest to remove it.\n');
        return;
      case 'stale_plan':
        if (json) jsonLine({ type: 'stale_plan', changes: e.changes, diff: e.diff, ...(e.planDifference ? { plan_difference: e.planDifference } : {}) });
        if (e.changes.length) {
          err(`Saved plan ${e.savedPlan} is stale; nothing was changed. Since it was made:\n${e.changes.map((c) => `  - ${c}\n`).join('')}`);
          if (e.diff) err(`\nWhat imgplan saw then and sees now:\n${e.diff}`);
          if (e.planDifference) err(`\nThe plan imgplan makes now differs from the saved one, first at:\n  ${e.planDifference}\n`);
        } else {
          err(`Saved plan ${e.savedPlan} is not the plan imgplan makes now, though the manifest and the live state are unchanged` +
            ` (was the file edited?); nothing was changed. First difference:\n  ${e.planDifference ?? 'unknown'}\n`);
        }
        err('\nMake a new plan: imgplan plan MANIFEST --out FILE, review it, then apply that.\n');
        return;
      default:
        // step_start … rollback_step, from the executor as they are
        if (json) jsonLine(e);
        else sink.write(`${progressText(e)}\n`);
    }
  };
}
