/**
 * The generic kill loop of the kill tests (test/integration/kill.test.ts on the host,
 * test/vm/kill.test.ts in the VM lane): for chosen steps k of a plan (plan --json), `apply` is
 * killed with SIGKILL as step k's command is about to run (its intent journaled, nothing made
 * yet) or right after it ran (the object made, not yet recorded), then `destroy` runs and must
 * leave nothing: exit 0, the killed step's intent resolved, no leak, the given paths gone.
 *
 * The kill is deterministic: the tools imgplan runs are found through PATH, and for the killed
 * apply PATH starts with a folder of wrappers (step-wrappers.ts), which count imgplan's step
 * commands (by the plan's argv) and, at the k-th, kill their parent, imgplan, before or after
 * running the real tool. imgplan itself has no test hook.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, COMPILE_CACHE, type Sandbox } from './harness.js';
import { wrapStepTools, type JsonStep } from './step-wrappers.js';

export type KillWhen = 'before' | 'after';

/** Each tool imgplan runs as a step, wrapped: at the KILL_AT-th step command, imgplan (the wrapper's parent) is killed. */
const WRAPPER = `#!/bin/bash
# test/integration/kill-loop.ts: runs the real tool; at imgplan's KILL_AT-th step command, kills imgplan (SIGKILL), before or after it
name=\${0##*/}
real=$(PATH="$KILL_REAL_PATH" command -v "$name")
line="$name $*"
while IFS= read -r pattern; do
  if [[ "$line" == $pattern ]]; then
    n=$(( $(cat "$KILL_COUNT") + 1 ))
    echo "$n" > "$KILL_COUNT"
    echo "$line" >> "$KILL_LOG"
    if [ "$n" = "$KILL_AT" ]; then
      if [ "$KILL_WHEN" = before ]; then kill -KILL "$PPID"; exit 1; fi
      "$real" "$@"; rc=$?
      kill -KILL "$PPID"
      exit $rc
    fi
    break
  fi
done < "$KILL_PATTERNS"
exec "$real" "$@"
`;

const escapeRe = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Whether a command line the wrapper logged ("$name $*": an argument with spaces, like lvchange's
 * --select, is not told apart) is this step's argv; a ref stands for the device an earlier step made.
 */
function runs(line: string, s: JsonStep): boolean {
  return new RegExp(`^${s.argv.map((a) => (typeof a === 'string' ? escapeRe(a) : '\\S+')).join(' ')}$`).test(line);
}

/**
 * Whether the step's command is the one that carries its object's intent: the first command of its
 * address that makes something (has an undo). Commands before it (an nbd connection's folder) make
 * nothing to resolve; those after it extend an object already journaled.
 */
function carriesIntent(steps: readonly JsonStep[], s: JsonStep): boolean {
  return steps.find((x) => x.address === s.address && x.undo !== undefined) === s;
}

export interface KillLoopOptions {
  readonly manifest: string;
  /** the plan's steps, from `plan MANIFEST --json` */
  readonly steps: readonly JsonStep[];
  /** the kills to try at each step (default: before and after) */
  readonly kills?: (step: JsonStep, index: number) => readonly KillWhen[];
  /**
   * steps whose object may appear without their command, so that a kill before it finds it made and
   * takes it over (a VG udev auto-activates when its PV's kpartx map appears, field-notes G3)
   */
  readonly appearsUnasked?: (step: JsonStep) => boolean;
  /** what destroy must have removed every time (the mountpoint directories apply makes) */
  readonly gone: readonly string[];
  /** told each kill's outcome as it happens (the VM lane's are slow to watch) */
  readonly progress?: (line: string) => void;
}

export interface KillLoopResult {
  /** each kill tried, described */
  readonly tried: readonly string[];
  /** each kill after which destroy left something, or the kill did not land where it was meant to: what went wrong */
  readonly failed: readonly string[];
}

/** Runs the kills; after a failed one, cleans up (leak guard, directories, journal) so the next starts from nothing again. */
export async function killAtSteps(sb: Sandbox, o: KillLoopOptions): Promise<KillLoopResult> {
  const { steps } = o;
  const bin = sb.path('.kill-bin');
  const patterns = sb.path('.kill-patterns');
  wrapStepTools(bin, patterns, steps, WRAPPER);
  const tried: string[] = [];
  const failed: string[] = [];
  for (const [index, step] of steps.entries()) {
    for (const when of o.kills?.(step, index) ?? (['before', 'after'] as const)) {
      const what = `step ${step.order}/${steps.length} (${step.address}: ${String(step.argv[0])}), killed ${when} its command`;
      tried.push(what);
      const t0 = Date.now();
      const count = sb.path('.kill-count');
      const log = sb.path('.kill-log');
      writeFileSync(count, '0');
      writeFileSync(log, '');
      const killed = await execa(process.execPath, [CLI, 'apply', o.manifest, '--auto-approve', '--json'], {
        reject: false, stdin: 'ignore', cwd: sb.root,
        env: {
          IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', NODE_COMPILE_CACHE: COMPILE_CACHE, PATH: `${bin}:${process.env.PATH ?? ''}`, KILL_REAL_PATH: process.env.PATH ?? '',
          KILL_AT: String(step.order), KILL_WHEN: when, KILL_COUNT: count, KILL_LOG: log, KILL_PATTERNS: patterns,
        },
      });
      // the kill landed where it was meant to: at the k-th step, whose command is this step's
      const ran = readFileSync(log, 'utf8').trim().split('\n');
      const problems: string[] = [];
      if (killed.signal !== 'SIGKILL') problems.push(`apply was not killed (exit ${killed.exitCode}): ${String(killed.stderr)}`);
      if (ran.length !== step.order || !ran.every((l, i) => runs(l, steps[i]!))) problems.push(`apply ran ${ran.join('; ')}`);
      const destroy = await sb.imgplan(['destroy', o.manifest, '--auto-approve']);
      if (destroy.code !== 0) problems.push(`destroy exited ${destroy.code}: ${destroy.stdout}${destroy.stderr}`);
      // what the killed step was about to make was resolved from its intent: taken over and removed, or, never made, forgotten
      const said = destroy.stdout + destroy.stderr;
      if (carriesIntent(steps, step)) {
        const a = escapeRe(step.address);
        const found = `${a} was made by an earlier run that was interrupted before it recorded it; found on the system`;
        const dropped = `${a}: an earlier run was interrupted as it was making it, and it never appeared`;
        const resolved = new RegExp(when === 'after' ? found : o.appearsUnasked?.(step) ? `${dropped}|${found}` : dropped);
        if (!resolved.test(said)) problems.push(`destroy did not resolve the intent of ${step.address}: ${said}`);
      }
      const left = await sb.leaks();
      if (left.length) problems.push(`left behind: ${left.join(', ')}`);
      for (const p of o.gone) if (existsSync(p)) problems.push(`${p} is still there`);
      o.progress?.(`${what}: ${problems.length ? 'FAILED' : 'survived'} (${Math.round((Date.now() - t0) / 1000)} s)`);
      if (problems.length) {
        failed.push(`${what}: ${problems.join(' | ')}`);
        // the next kill starts from nothing again: unmount and detach what is left, then its directories and journal
        await sb.cleanup();
        for (const p of o.gone) rmSync(p, { recursive: true, force: true });
        rmSync(join(sb.stateDir, 'journal'), { recursive: true, force: true });
      }
    }
  }
  return { tried, failed };
}

/** The kill test's summary line. */
export function killSummary(steps: number, r: KillLoopResult, started: number, lane = ''): string {
  const seconds = Math.round((Date.now() - started) / 1000);
  return `kill test${lane ? ` (${lane})` : ''}: ${steps} steps, ${r.tried.length} kills tried, ${r.tried.length - r.failed.length} survived ` +
    `(destroy exit 0, nothing left), ${seconds} s`;
}
