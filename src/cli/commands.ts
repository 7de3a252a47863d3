import { readFile, realpath, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { executePlan, type ExecEvent, type ExecResult } from '../apply/executor.js';
import { acquireLock, LockTimeoutError, type Lock } from '../apply/lock.js';
import { hasErrors, type Diagnostic } from '../diagnostics.js';
import { EXIT, ImgplanError, ProbeError, type ExitCode } from '../errors.js';
import { DEFAULT_STATE_DIR } from '../journal/format.js';
import { loadManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import { decodeSavedPlan, encodeSavedPlan, looksLikeSavedPlan, SavedPlanError } from '../plan/codec.js';
import { planFacts } from '../core/facts.js';
import { makePlan } from '../core/make-plan.js';
import { compareFacts } from '../plan/stale.js';
import { targetPlan, UnknownTargetError } from '../plan/target.js';
import { isEmptyPlan, type Plan } from '../plan/types.js';
import { collectState } from '../probe/collect.js';
import type { ObservedState } from '../probe/observed.js';
import { renderDiagnostics } from '../render/diagnostics.js';
import { renderDot } from '../render/plan-dot.js';
import { planToJson } from '../render/plan-json.js';
import { renderPlan } from '../render/plan-text.js';
import { styleFor } from '../render/style.js';
import { ExecaRunner } from '../runner/execa-runner.js';
import { RecordingRunner } from '../runner/recording-runner.js';
import type { Runner } from '../runner/runner.js';
import { VERSION } from '../version.js';

export type Name = 'plan' | 'apply' | 'destroy' | 'validate' | 'show' | 'graph';

export interface Options {
  readonly allowWrites?: boolean;
  readonly autoApprove?: boolean;
  readonly destroy?: boolean;
  readonly out?: string;
  readonly json?: boolean;
  readonly detailedExitcode?: boolean;
  readonly target?: string;
  readonly lockTimeout?: string;
}

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);
const stdoutStyle = () => styleFor(process.stdout, process.env);
const stderrStyle = () => styleFor(process.stderr, process.env);
const jsonLine = (o: object) => out(`${JSON.stringify(o)}\n`);

function stateDir(): string {
  return process.env.IMGPLAN_STATE_DIR || DEFAULT_STATE_DIR;
}

function makeRunner(): Runner {
  return new ExecaRunner(process.env.IMGPLAN_DEBUG ? (l) => err(`debug: ${l}\n`) : undefined);
}

function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ImgplanError(`${what} needs root: it attaches loop devices and mounts filesystems`, EXIT.invalid, `run it as root: sudo imgplan ${what} …`);
  }
}

interface Loaded {
  readonly manifest: Manifest;
  readonly text: string;
  readonly warnings: readonly Diagnostic[];
}

async function readInput(file: string): Promise<{ path: string; text: string }> {
  try {
    const path = await realpath(resolve(file));
    return { path, text: await readFile(path, 'utf8') };
  } catch (e) {
    throw new ImgplanError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.invalid, file === 'imgplan.yaml' ? 'pass the manifest as an argument, or create imgplan.yaml here (see examples/)' : undefined);
  }
}

function reportDiagnostics(ds: readonly Diagnostic[], text: string, json: boolean): void {
  if (json) jsonLine({ format_version: '1.0', type: 'diagnostics', diagnostics: ds });
  err(renderDiagnostics(ds, stderrStyle(), text));
}

async function load(input: { path: string; text: string }, allowWrites: boolean, json: boolean, lenient = false): Promise<Loaded> {
  const { path, text } = input;
  const r = loadManifest({ path, text, allowWrites });
  if (hasErrors(r.diagnostics) || !r.manifest) {
    if (!lenient) {
      reportDiagnostics(r.diagnostics, text, json);
      throw new ImgplanError('', EXIT.invalid);
    }
    // destroy still works from the journal when the manifest was broken since apply
    err(renderDiagnostics(r.diagnostics.map((d) => ({ ...d, severity: 'warning' as const })), stderrStyle(), text));
    err('The manifest has errors; destroying what the journal records for it anyway.\n');
    return { manifest: { path, sha256: '', images: [], mounts: [] }, text, warnings: [] };
  }
  if (r.diagnostics.length) err(renderDiagnostics(r.diagnostics, stderrStyle(), text));
  return { manifest: r.manifest, text, warnings: r.diagnostics };
}

interface Planned {
  readonly plan: Plan;
  readonly observed: ObservedState;
}

async function planFor(runner: Runner, loaded: Loaded, mode: 'apply' | 'destroy', target: string | undefined, json: boolean): Promise<Planned> {
  const observed = await collectState(runner, loaded.manifest, { stateDir: stateDir(), purpose: mode === 'destroy' ? 'destroy' : 'plan' });
  const r = makePlan(loaded.manifest, observed, { mode });
  if (!r.plan) {
    reportDiagnostics(r.diagnostics, loaded.text, json);
    throw new ImgplanError('', EXIT.invalid);
  }
  return { plan: target ? targetPlan(r.plan, target) : r.plan, observed };
}

async function confirm(plan: Plan, autoApprove: boolean, json: boolean): Promise<boolean> {
  if (autoApprove) return true;
  if (json || !process.stdin.isTTY) {
    throw new ImgplanError(`refusing to ${plan.mode} without confirmation: ${json ? '--json runs are not interactive' : 'standard input is not a terminal'}`, EXIT.invalid,
      'review the plan, then run again with --auto-approve (or save it with plan --out FILE and apply FILE)');
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    out(plan.mode === 'destroy'
      ? '\nDo you really want to destroy these? imgplan will unmount and detach exactly what is listed.\n'
      : '\nDo you want to perform these actions?\n');
    const answer = await rl.question("  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

function progressText(e: ExecEvent): string {
  switch (e.type) {
    case 'step_start': return `[${e.index}/${e.total}] ${e.symbol} ${e.address}: ${e.argv.join(' ')}`;
    case 'step_retry': return `      busy; retrying in ${e.delay_ms} ms`;
    case 'step_complete': return `      done${e.produced ? ` → ${e.produced}` : ''} (${e.elapsed_ms} ms)`;
    case 'step_errored': return `Step failed: ${e.argv.join(' ')}: ${e.message}`;
    case 'rollback_start': return 'Rolling back what this run did, in reverse order…';
    case 'rollback_step': return `  undo ${e.address}: ${e.argv.join(' ')}${e.ok ? '' : ` (failed: ${e.message ?? ''})`}`;
  }
}

function reportFailure(r: ExecResult, json: boolean): ExitCode {
  const code = r.leftBehind.length ? EXIT.leftBehind : EXIT.failedCleanly;
  if (json) {
    jsonLine({ type: 'change_summary', ok: false, exit_code: code, failure: r.failure, done: r.done, rolled_back: r.rolledBack, left_behind: r.leftBehind });
    return code;
  }
  const f = r.failure!;
  err(`\nError: ${f.address}: ${f.command}\n  ${f.message.split('\n').join('\n  ')}\n`);
  if (f.holders) err(`  Processes using it:\n    ${f.holders.split('\n').join('\n    ')}\n`);
  const list = (title: string, xs: readonly string[]) => err(`\n${title}: ${xs.length ? '' : 'none'}\n${xs.map((x) => `  ${x}\n`).join('')}`);
  list('Done (and kept)', r.done);
  list('Rolled back', r.rolledBack);
  list('Left behind', r.leftBehind);
  err(r.leftBehind.length ? '\nSomething was left behind: run "imgplan destroy" for this manifest to remove it.\n' : '\nEverything this run did was undone.\n');
  return code;
}

async function withLock<T>(options: Options, command: string, json: boolean, body: () => Promise<T>): Promise<T> {
  const seconds = options.lockTimeout === undefined ? 10 : Number(options.lockTimeout);
  if (!Number.isFinite(seconds) || seconds < 0) throw new ImgplanError(`--lock-timeout must be a number of seconds, not "${options.lockTimeout}"`, EXIT.invalid);
  let lock: Lock;
  try {
    lock = await acquireLock(stateDir(), command, seconds * 1000, (h) => {
      if (!json) err(`Waiting up to ${seconds} s for the lock held by ${h ? `pid ${h.pid} (${h.command}) since ${h.since}` : 'another imgplan run'}…\n`);
    });
  } catch (e) {
    if (e instanceof LockTimeoutError) {
      throw new ImgplanError(`${e.message}; gave up after ${Math.round(e.waitedMs / 1000)} s`, EXIT.locked,
        'wait for it to finish, or pass a longer --lock-timeout; a lock of a process that no longer exists is taken over by itself');
    }
    throw e;
  }
  try {
    return await body();
  } finally {
    await lock.release();
  }
}

/** Runs a plan's steps, then checks the system converged: a new plan for the same scope must be empty. */
async function execute(runner: Runner, loaded: Loaded, plan: Plan, journalPath: string, target: string | undefined, json: boolean): Promise<ExitCode> {
  const result = await executePlan(plan, {
    runner, journalPath,
    onEvent: (e) => (json ? jsonLine(e) : out(`${progressText(e)}\n`)),
  });
  if (!result.ok) return reportFailure(result, json);
  const added = plan.actions.filter((a) => a.action === 'create').length;
  const destroyed = plan.actions.filter((a) => a.action === 'delete').length;
  const again = makePlan(loaded.manifest, await collectState(runner, loaded.manifest, { stateDir: stateDir(), purpose: plan.mode === 'destroy' ? 'destroy' : 'plan' }), { mode: plan.mode });
  // a target that is gone after a targeted destroy is converged
  const rest = again.plan && target
    ? (again.plan.actions.some((a) => a.address === target) || again.plan.unchanged.some((a) => a.address === target) ? targetPlan(again.plan, target) : { ...again.plan, actions: [] })
    : again.plan;
  if (!rest || !isEmptyPlan(rest)) {
    err('\nimgplan: internal error: the system did not converge; a new plan right after still has changes:\n');
    err(rest ? renderPlan(rest, stderrStyle()) : renderDiagnostics(again.diagnostics, stderrStyle(), loaded.text));
    err('This is a bug; please report it with the output of: imgplan debug capture-state MANIFEST state.json\n');
    return EXIT.internal;
  }
  if (json) jsonLine({ type: 'change_summary', ok: true, exit_code: 0, add: added, change: 0, destroy: destroyed });
  else out(`\n${plan.mode === 'apply' ? 'Apply' : 'Destroy'} complete! ${added} added, 0 changed, ${destroyed} destroyed.\n`);
  return EXIT.ok;
}

async function applyOrDestroy(mode: 'apply' | 'destroy', input: { path: string; text: string }, options: Options): Promise<ExitCode> {
  requireRoot(mode);
  const json = options.json === true;
  const loaded = await load(input, options.allowWrites === true, json, mode === 'destroy');
  return withLock(options, `imgplan ${mode} ${loaded.manifest.path}`, json, async () => {
    const runner = makeRunner();
    const { plan, observed } = await planFor(runner, loaded, mode, options.target, json);
    if (json) jsonLine({ type: 'planned_changes', plan: planToJson(plan) });
    else out(renderPlan(plan, stdoutStyle()));
    if (isEmptyPlan(plan)) {
      if (json) jsonLine({ type: 'change_summary', ok: true, exit_code: 0, add: 0, change: 0, destroy: 0 });
      return EXIT.ok;
    }
    if (!(await confirm(plan, options.autoApprove === true, json))) {
      err(`\n${mode === 'apply' ? 'Apply' : 'Destroy'} cancelled; nothing was changed.\n`);
      return EXIT.cancelled;
    }
    if (!json) out('\n');
    return execute(runner, loaded, plan, observed.journalPath, options.target, json);
  });
}

/** `apply FILE` with a saved plan: the plan is the approval, once the live state is shown unchanged. */
async function applySaved(input: { path: string; text: string }, options: Options): Promise<ExitCode> {
  requireRoot('apply');
  const json = options.json === true;
  let saved;
  try {
    saved = decodeSavedPlan(input.text, input.path);
  } catch (e) {
    if (e instanceof SavedPlanError) throw new ImgplanError(e.message, EXIT.invalid, 'make a new one: imgplan plan MANIFEST --out FILE');
    throw e;
  }
  const plan = saved.plan;
  const manifestInput = await readInput(plan.manifest.path);
  const loaded = await load(manifestInput, plan.context.writableImages.length > 0, json, plan.mode === 'destroy');
  return withLock(options, `imgplan apply ${input.path}`, json, async () => {
    const runner = makeRunner();
    const observed = await collectState(runner, loaded.manifest, { stateDir: stateDir() });
    const changes: string[] = [];
    if (loaded.manifest.sha256 !== plan.manifest.sha256) changes.push(`the manifest ${plan.manifest.path} was edited since the plan was made`);
    const staleness = compareFacts(saved.facts, planFacts(loaded.manifest, observed));
    changes.push(...staleness.changes);
    if (changes.length) {
      if (json) jsonLine({ type: 'stale_plan', changes, diff: staleness.diff });
      err(`Saved plan ${input.path} is stale; nothing was changed. Since it was made:\n${changes.map((c) => `  - ${c}\n`).join('')}`);
      if (staleness.diff) err(`\nWhat imgplan saw then and sees now:\n${staleness.diff}`);
      err('\nMake a new plan: imgplan plan MANIFEST --out FILE, review it, then apply that.\n');
      return EXIT.stale;
    }
    if (json) jsonLine({ type: 'planned_changes', plan: planToJson(plan) });
    else out(renderPlan(plan, stdoutStyle()));
    if (isEmptyPlan(plan)) return EXIT.ok;
    if (!json) out(`\nApplying the saved plan ${input.path} (the saved plan is the approval).\n\n`);
    return execute(runner, loaded, plan, observed.journalPath, saved.target, json);
  });
}

export async function runCommand(name: Name, file: string, options: Options): Promise<ExitCode> {
  const json = options.json === true;
  try {
    const input = await readInput(file);
    switch (name) {
      case 'validate': {
        const { manifest } = await load(input, options.allowWrites === true, false);
        out(`${manifest.path}: valid (${manifest.images.length} image${manifest.images.length === 1 ? '' : 's'}, ${manifest.mounts.length} mount${manifest.mounts.length === 1 ? '' : 's'})\n`);
        return EXIT.ok;
      }
      case 'plan':
      case 'graph': {
        if (typeof process.getuid === 'function' && process.getuid() !== 0) {
          err(`imgplan: warning: not running as root: the journal in ${stateDir()} and some device state may be unreadable, so this plan can be incomplete\n`);
        }
        const loaded = await load(input, options.allowWrites === true, json);
        const { plan, observed } = await planFor(makeRunner(), loaded, options.destroy === true ? 'destroy' : 'apply', options.target, json);
        if (name === 'graph') {
          out(renderDot(plan));
          return EXIT.ok;
        }
        if (options.out) {
          await writeFile(options.out, encodeSavedPlan(plan, planFacts(loaded.manifest, observed), VERSION, options.target), { mode: 0o600 });
        }
        if (json) out(`${JSON.stringify(planToJson(plan), null, 2)}\n`);
        else {
          out(renderPlan(plan, stdoutStyle()));
          if (options.out) out(`\nSaved the plan to ${options.out}. To carry out exactly this plan: imgplan apply ${options.out}\n`);
          else if (!isEmptyPlan(plan)) out(`\nNote: this plan was not saved; imgplan apply may find a different one. Save it with --out FILE.\n`);
        }
        return options.detailedExitcode && !isEmptyPlan(plan) ? EXIT.changesPending : EXIT.ok;
      }
      case 'show': {
        if (!looksLikeSavedPlan(input.text)) throw new ImgplanError(`${input.path} is not a saved plan`, EXIT.invalid, 'make one with: imgplan plan MANIFEST --out FILE');
        const saved = decodeSavedPlan(input.text, input.path);
        out(json ? `${JSON.stringify(planToJson(saved.plan), null, 2)}\n` : renderPlan(saved.plan, stdoutStyle()));
        return EXIT.ok;
      }
      case 'apply':
        return looksLikeSavedPlan(input.text) ? await applySaved(input, options) : await applyOrDestroy('apply', input, options);
      case 'destroy':
        return await applyOrDestroy('destroy', input, options);
    }
  } catch (e) {
    if (e instanceof UnknownTargetError || e instanceof SavedPlanError) {
      err(`imgplan: error: ${e.message}\n`);
      return EXIT.invalid;
    }
    if (e instanceof ImgplanError) {
      if (e.message) err(`imgplan: ${e instanceof ProbeError ? '' : 'error: '}${e.message}\n`);
      if (e.hint) err(`  hint: ${e.hint}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

/** `imgplan debug capture-state`: what every probe printed, for bug reports and test fixtures. */
export async function captureState(file: string, outFile: string, scenario: string): Promise<ExitCode> {
  try {
    const loaded = await load(await readInput(file), true, false);
    const inner = makeRunner();
    const rec = new RecordingRunner(inner);
    // a fixed folder for plan's short-lived exports, so that replaying the recording finds the same argv
    const probeDir = `${stateDir()}/probe/capture`;
    await collectState(rec, loaded.manifest, { stateDir: stateDir(), probeDir });
    const version = (await inner.run({ argv: ['losetup', '--version'], mutates: false })).stdout.trim();
    const recording = {
      ...rec.recording,
      meta: { captured_with: 'imgplan debug capture-state', scenario, util_linux: version, state_dir: stateDir(), probe_dir: probeDir, manifest: loaded.manifest.path },
    };
    await writeFile(outFile, `${JSON.stringify(recording, null, 1)}\n`);
    out(`wrote ${outFile}\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ImgplanError) {
      if (e.message) err(`imgplan: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
