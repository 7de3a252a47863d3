import { EXIT, ImgplanError, type ExitCode } from '../errors.js';
import { DEFAULT_STATE_DIR } from '../journal/format.js';
import {
  apply, BadLockTimeoutError, captureState as capture, destroy, init, inspect, inspectManifest, plan, readInput, show, validate,
  type Input, type OperationContext, type Outcome,
} from '../operation/index.js';
import { SavedPlanError } from '../plan/codec.js';
import { UnknownTargetError } from '../plan/target.js';
import { isEmptyPlan } from '../plan/types.js';
import { renderDot } from '../render/plan-dot.js';
import { planToJson } from '../render/plan-json.js';
import { renderInspect } from '../render/inspect-text.js';
import { renderPlan } from '../render/plan-text.js';
import { ExecaRunner } from '../runner/execa-runner.js';
import { approver } from './prompt.js';
import { err, out, printError, shown, STDOUT, stdoutStyle, view, type Sink } from './view.js';

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
  /** commander's --no-rollback: false */
  readonly rollback?: boolean;
}

/** README "Exit codes". */
export function exitCode(outcome: Outcome, detailedExitcode = false): ExitCode {
  switch (outcome) {
    case 'no-changes': case 'applied': return EXIT.ok;
    case 'changes-pending': return detailedExitcode ? EXIT.changesPending : EXIT.ok;
    case 'cancelled': return EXIT.cancelled;
    case 'failed-cleanly': return EXIT.failedCleanly;
    case 'left-behind': return EXIT.leftBehind;
    case 'stale': return EXIT.stale;
    case 'not-converged': return EXIT.internal;
    case 'invalid': return EXIT.invalid;
    case 'interrupted': return EXIT.interrupted;
    case 'terminated': return EXIT.terminated;
  }
}

const stateDir = () => process.env.IMGPLAN_STATE_DIR || DEFAULT_STATE_DIR;
const isRoot = () => typeof process.getuid !== 'function' || process.getuid() === 0;

/** What an operation runs with: the real runner, the state folder, and the view (text for people on `sink`). */
export function context(json: boolean, sink: Sink = STDOUT): OperationContext {
  return {
    runner: new ExecaRunner(process.env.IMGPLAN_DEBUG ? (l) => err(`debug: ${l}\n`) : undefined),
    stateDir: stateDir(),
    emit: view(json, (o) => exitCode(o), sink),
    ...(process.argv[1] ? { program: [process.execPath, process.argv[1]] as const } : {}),
  };
}

export const lockTimeout = (options: Options) => options.lockTimeout === undefined ? {} : { lockTimeoutSeconds: Number(options.lockTimeout) };

export function requireRoot(what: string): void {
  if (!isRoot()) {
    throw new ImgplanError(`${what} needs root: it attaches loop devices and mounts filesystems`, EXIT.invalid, `run it as root: sudo imgplan ${what} …`);
  }
}

async function planCommand(name: 'plan' | 'graph', input: Input, options: Options): Promise<ExitCode> {
  const json = options.json === true;
  if (!isRoot()) {
    err(`imgplan: warning: not running as root: the journal in ${stateDir()} and some device state may be unreadable, so this plan can be incomplete\n`);
  }
  const r = await plan(context(json), input, {
    mode: options.destroy === true ? 'destroy' : 'apply', target: options.target, allowWrites: options.allowWrites === true,
    ...(name === 'plan' && options.out ? { out: options.out } : {}),
    ...lockTimeout(options),
  });
  if (r.outcome === 'invalid') return exitCode(r.outcome);
  if (name === 'graph') {
    out(renderDot(r.plan));
    return EXIT.ok;
  }
  if (json) out(`${JSON.stringify(planToJson(r.plan), null, 2)}\n`);
  else {
    out(renderPlan(r.plan, stdoutStyle()));
    if (options.out) out(`\nSaved the plan to ${options.out}. To carry out exactly this plan: imgplan apply ${options.out}\n`);
    else if (!isEmptyPlan(r.plan)) out(`\nNote: this plan was not saved; imgplan apply may find a different one. Save it with --out FILE.\n`);
  }
  return exitCode(r.outcome, options.detailedExitcode === true);
}

async function changeCommand(mode: 'apply' | 'destroy', input: Input, options: Options): Promise<ExitCode> {
  requireRoot(mode);
  const json = options.json === true;
  const opts = {
    target: options.target,
    ...lockTimeout(options),
    approve: approver(options.autoApprove === true, json),
    rollback: options.rollback !== false,
  };
  const r = mode === 'apply'
    ? await apply(context(json), input, { ...opts, allowWrites: options.allowWrites === true })
    : await destroy(context(json), input, opts);
  if (r.outcome === 'cancelled') err(`\n${mode === 'apply' ? 'Apply' : 'Destroy'} cancelled; nothing was changed.\n`);
  return exitCode(r.outcome);
}

export async function runCommand(name: Name, file: string, options: Options): Promise<ExitCode> {
  try {
    const input = await readInput(file);
    switch (name) {
      case 'validate': {
        const r = validate(view(false, exitCode), input, { allowWrites: options.allowWrites === true });
        if (r.outcome === 'invalid') return exitCode(r.outcome);
        const { manifest: m } = r;
        out(`${m.path}: valid (${m.images.length} image${m.images.length === 1 ? '' : 's'}, ${m.mounts.length} mount${m.mounts.length === 1 ? '' : 's'})\n`);
        return EXIT.ok;
      }
      case 'plan':
      case 'graph':
        return await planCommand(name, input, options);
      case 'show': {
        const p = show(input);
        out(options.json === true ? `${JSON.stringify(planToJson(p), null, 2)}\n` : renderPlan(p, stdoutStyle()));
        return EXIT.ok;
      }
      case 'apply':
      case 'destroy':
        return await changeCommand(name, input, options);
    }
  } catch (e) {
    if (e instanceof BadLockTimeoutError) {
      err(`imgplan: error: --lock-timeout must be a number of seconds, not "${options.lockTimeout}"\n`);
      return e.exitCode;
    }
    if (e instanceof UnknownTargetError || e instanceof SavedPlanError) {
      err(`imgplan: error: ${shown(e.message)}\n`);
      return EXIT.invalid;
    }
    if (e instanceof ImgplanError) {
      printError(e);
      return e.exitCode;
    }
    throw e;
  }
}

/** Runs a command's body: an ImgplanError it throws is printed for people and becomes the exit code. */
async function printingErrors(body: () => Promise<ExitCode>): Promise<ExitCode> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof ImgplanError) {
      printError(e);
      return e.exitCode;
    }
    throw e;
  }
}

/** `imgplan inspect IMAGE…`: the report as text or JSON on stdout. */
export async function inspectCommand(images: readonly string[], options: { format?: string; json?: boolean }): Promise<ExitCode> {
  return printingErrors(async () => {
    // one manifest (by its name: an image is never YAML) names the images and their formats
    const manifest = images.length === 1 && /\.ya?ml$/.test(images[0]!);
    if (manifest && options.format !== undefined) {
      throw new ImgplanError(`--format is for image files: the manifest ${images[0]} gives each image's format`, EXIT.invalid);
    }
    const report = manifest
      ? await inspectManifest(context(false), await readInput(images[0]!))
      : await inspect(context(false), images, { format: options.format ?? 'raw' });
    if (!report) return EXIT.invalid;
    out(options.json === true ? `${JSON.stringify(report, null, 2)}\n` : renderInspect(report));
    return report.images.some((i) => i.problems.length) ? EXIT.failedCleanly : EXIT.ok;
  });
}

/** `imgplan init IMAGE…`: the starter manifest on stdout. */
export async function initCommand(images: readonly string[], options: { format?: string; where?: string }): Promise<ExitCode> {
  return printingErrors(async () => {
    const where = options.where !== undefined ? { where: options.where } : {};
    const command = ['imgplan init', ...(options.format ? ['--format', options.format] : []), ...(where.where ? ['--where', where.where] : []), ...images];
    out(await init(context(false), images, { format: options.format ?? 'raw', ...where, command: command.join(' ') }));
    return EXIT.ok;
  });
}

/** `imgplan debug capture-state`: what every probe printed, for bug reports and test fixtures. */
export async function captureState(file: string, outFile: string, scenario: string): Promise<ExitCode> {
  return printingErrors(async () => {
    const r = await capture(context(false), await readInput(file), { out: outFile, scenario });
    if (r.outcome === 'invalid') return EXIT.invalid;
    out(`wrote ${outFile}\n`);
    return EXIT.ok;
  });
}
