import { readFile, realpath, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { executePlan, type ExecResult } from '../apply/executor.js';
import { hasErrors, type Diagnostic } from '../diagnostics.js';
import { EXIT, ImgplanError, ProbeError, type ExitCode } from '../errors.js';
import { DEFAULT_STATE_DIR } from '../journal/format.js';
import { loadManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import { makePlan } from '../plan/make-plan.js';
import { isEmptyPlan, type Plan } from '../plan/types.js';
import { collectState } from '../probe/collect.js';
import { renderDiagnostics } from '../render/diagnostics.js';
import { renderPlan } from '../render/plan-text.js';
import { styleFor } from '../render/style.js';
import { ExecaRunner } from '../runner/execa-runner.js';
import { RecordingRunner } from '../runner/recording-runner.js';
import type { Runner } from '../runner/runner.js';

type Name = 'plan' | 'apply' | 'destroy' | 'validate';

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);
const stdoutStyle = () => styleFor(process.stdout, process.env);
const stderrStyle = () => styleFor(process.stderr, process.env);

function stateDir(): string {
  return process.env.IMGPLAN_STATE_DIR || DEFAULT_STATE_DIR;
}

function makeRunner(): Runner {
  return new ExecaRunner(process.env.IMGPLAN_DEBUG ? (l) => err(`debug: ${l}\n`) : undefined);
}

interface Loaded {
  readonly manifest: Manifest;
  readonly text: string;
  readonly warnings: readonly Diagnostic[];
}

async function load(file: string, allowWrites: boolean, lenient = false): Promise<Loaded> {
  let path: string;
  let text: string;
  try {
    path = await realpath(resolve(file));
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ImgplanError(`cannot read manifest ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.invalid, file === 'imgplan.yaml' ? 'pass the manifest as an argument, or create imgplan.yaml here (see examples/)' : undefined);
  }
  const r = loadManifest({ path, text, allowWrites });
  if (hasErrors(r.diagnostics) || !r.manifest) {
    if (!lenient) {
      err(renderDiagnostics(r.diagnostics, stderrStyle(), text));
      throw new ImgplanError('', EXIT.invalid);
    }
    // destroy still works from the journal when the manifest was broken since apply
    err(renderDiagnostics(r.diagnostics.map((d) => ({ ...d, severity: 'warning' as const })), stderrStyle(), text));
    err('The manifest has errors; destroying what the journal records for it anyway.\n');
    return { manifest: { path, sha256: '', images: [], mounts: [] }, text, warnings: [] };
  }
  return { manifest: r.manifest, text, warnings: r.diagnostics };
}

async function planFor(runner: Runner, loaded: Loaded, mode: 'apply' | 'destroy'): Promise<{ plan: Plan; journalPath: string }> {
  const observed = await collectState(runner, loaded.manifest, { stateDir: stateDir() });
  const r = makePlan(loaded.manifest, observed, { mode });
  if (!r.plan) {
    err(renderDiagnostics(r.diagnostics, stderrStyle(), loaded.text));
    throw new ImgplanError('', EXIT.invalid);
  }
  return { plan: r.plan, journalPath: observed.journalPath };
}

async function confirm(plan: Plan, autoApprove: boolean): Promise<boolean> {
  if (autoApprove) return true;
  if (!process.stdin.isTTY) {
    throw new ImgplanError(`refusing to ${plan.mode} without confirmation: standard input is not a terminal`, EXIT.invalid,
      'review the plan, then run again with --auto-approve');
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

function report(r: ExecResult): ExitCode {
  const f = r.failure!;
  err(`\nError: ${f.address}: ${f.command}\n  ${f.message.split('\n').join('\n  ')}\n`);
  if (f.holders) err(`  Processes using it:\n    ${f.holders.split('\n').join('\n    ')}\n`);
  const list = (title: string, xs: readonly string[]) => err(`\n${title}: ${xs.length ? '' : 'none'}\n${xs.map((x) => `  ${x}\n`).join('')}`);
  list('Done (and kept)', r.done);
  list('Rolled back', r.rolledBack);
  list('Left behind', r.leftBehind);
  if (r.leftBehind.length) {
    err('\nSomething was left behind: run "imgplan destroy" for this manifest to remove it.\n');
    return EXIT.leftBehind;
  }
  err('\nEverything this run did was undone.\n');
  return EXIT.failedCleanly;
}

async function applyOrDestroy(mode: 'apply' | 'destroy', loaded: Loaded, options: Record<string, unknown>): Promise<ExitCode> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ImgplanError(`${mode} needs root: it attaches loop devices and mounts filesystems`, EXIT.invalid, `run it as root: sudo imgplan ${mode} …`);
  }
  const runner = makeRunner();
  const { plan, journalPath } = await planFor(runner, loaded, mode);
  out(renderPlan(plan, stdoutStyle()));
  if (isEmptyPlan(plan)) return EXIT.ok;
  if (!(await confirm(plan, options.autoApprove === true))) {
    err(`\n${mode === 'apply' ? 'Apply' : 'Destroy'} cancelled; nothing was changed.\n`);
    return EXIT.cancelled;
  }
  out('\n');
  const result = await executePlan(plan, { runner, journalPath, progress: (l) => out(`${l}\n`) });
  if (!result.ok) return report(result);

  const added = plan.actions.filter((a) => a.action === 'create').length;
  const destroyed = plan.actions.filter((a) => a.action === 'delete').length;
  // the idempotence check, built in: a second plan right after must be empty
  const again = makePlan(loaded.manifest, await collectState(runner, loaded.manifest, { stateDir: stateDir() }), { mode });
  if (!again.plan || !isEmptyPlan(again.plan)) {
    err('\nimgplan: internal error: the system did not converge; a new plan right after still has changes:\n');
    err(again.plan ? renderPlan(again.plan, stderrStyle()) : renderDiagnostics(again.diagnostics, stderrStyle(), loaded.text));
    err('This is a bug; please report it with the output of: imgplan debug capture-state MANIFEST state.json\n');
    return EXIT.internal;
  }
  out(`\n${mode === 'apply' ? 'Apply' : 'Destroy'} complete! ${added} added, 0 changed, ${destroyed} destroyed.\n`);
  return EXIT.ok;
}

export async function runCommand(name: Name, file: string, options: Record<string, unknown>): Promise<ExitCode> {
  try {
    const allowWrites = options.allowWrites === true;
    const loaded = await load(file, allowWrites, name === 'destroy');
    if (loaded.warnings.length) err(renderDiagnostics(loaded.warnings, stderrStyle(), loaded.text));
    switch (name) {
      case 'validate':
        out(`${loaded.manifest.path}: valid (${loaded.manifest.images.length} image${loaded.manifest.images.length === 1 ? '' : 's'}, ${loaded.manifest.mounts.length} mount${loaded.manifest.mounts.length === 1 ? '' : 's'})\n`);
        return EXIT.ok;
      case 'plan': {
        if (typeof process.getuid === 'function' && process.getuid() !== 0) {
          err(`imgplan: warning: not running as root: the journal in ${stateDir()} and some device state may be unreadable, so this plan can be incomplete\n`);
        }
        const { plan } = await planFor(makeRunner(), loaded, options.destroy === true ? 'destroy' : 'apply');
        out(renderPlan(plan, stdoutStyle()));
        return EXIT.ok;
      }
      case 'apply':
      case 'destroy':
        return await applyOrDestroy(name, loaded, options);
    }
  } catch (e) {
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
    const loaded = await load(file, true);
    const inner = makeRunner();
    const rec = new RecordingRunner(inner);
    await collectState(rec, loaded.manifest, { stateDir: stateDir() });
    const version = (await inner.run({ argv: ['losetup', '--version'], mutates: false })).stdout.trim();
    const recording = {
      ...rec.recording,
      meta: { captured_with: 'imgplan debug capture-state', scenario, util_linux: version, state_dir: stateDir(), manifest: loaded.manifest.path },
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
