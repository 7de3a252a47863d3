import { EXIT, ImgplanError } from '../errors.js';
import type { Manifest } from '../manifest/types.js';
import { looksLikeSavedPlan } from '../plan/codec.js';
import type { Plan } from '../plan/types.js';
import { change, type ChangeOptions } from './change.js';
import type { Input, OperationContext } from './context.js';
import type { OperationEvent, Outcome } from './events.js';
import { validate } from './validate.js';

/** How the user's command ended. */
export type CommandEnd =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signalled'; readonly signal: string; readonly number: number }
  /** it could not be started: `code` the errno name (ENOENT, EACCES, …) */
  | { readonly kind: 'not-started'; readonly code: string; readonly message: string };

/** Where the command runs and what it is told: the guest's top mount, and each mount by its source. */
export interface ExecSetting {
  /** the first mount in the manifest that no other of its mounts contains (absent: the manifest mounts nothing) */
  readonly cwd?: string;
  readonly env: Readonly<Record<string, string>>;
  /** mounts left without an IMGPLAN_MOUNT_ variable: their names would clash (web-01 and web_01) */
  readonly unnamed: readonly string[];
}

const below = (path: string, dir: string) => path.startsWith(`${dir}/`) || dir === '/';

/** The variable naming a mount: IMGPLAN_MOUNT_ and its source in capitals ("web01/VolGroup/lv_root" → IMGPLAN_MOUNT_WEB01_VOLGROUP_LV_ROOT). */
export const mountVariable = (what: string) => `IMGPLAN_MOUNT_${what.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** The working directory and environment a manifest gives its command (README "exec"). */
export function execSetting(manifest: Manifest): ExecSetting {
  const top = manifest.mounts.find((m) => !manifest.mounts.some((o) => o !== m && below(m.where, o.where)));
  const byName = new Map<string, string[]>();
  for (const m of manifest.mounts) byName.set(mountVariable(m.what), [...(byName.get(mountVariable(m.what)) ?? []), m.where]);
  const env: Record<string, string> = { IMGPLAN_MANIFEST: manifest.path };
  const unnamed: string[] = [];
  for (const [name, wheres] of byName) {
    if (wheres.length === 1) env[name] = wheres[0]!;
    else unnamed.push(...wheres);
  }
  if (top) env.IMGPLAN_ROOT = top.where;
  return { ...(top ? { cwd: top.where } : {}), env, unnamed };
}

/** The exit status of a command as a shell gives it: its own, 128+N when signal N ended it, 127 not found, 126 not runnable. */
export function commandStatus(end: CommandEnd): number {
  switch (end.kind) {
    case 'exited': return end.code;
    case 'signalled': return 128 + end.number;
    case 'not-started': return end.code === 'ENOENT' ? EXIT.execNotFound : EXIT.execCannotRun;
  }
}

/**
 * Whether a plan finds objects that an earlier apply of this manifest made: exec would take them
 * down at its end, so it refuses instead (its teardown removes only what it made itself).
 */
export function earlierApply(plan: Plan): readonly string[] {
  return [
    ...plan.unchanged.filter((a) => a.reason === 'managed').map((a) => a.address),
    ...plan.actions.filter((a) => a.action === 'delete').map((a) => a.address),
    ...(plan.recovered ?? []).map((e) => e.address),
  ];
}

export interface ExecOptions {
  readonly lockTimeoutSeconds?: number;
  readonly allowWrites?: boolean;
  /** asked once, with apply's plan */
  readonly approve: ChangeOptions['approve'];
  /** a signal that came outside apply's and destroy's own steps (SIGINT, SIGTERM, SIGHUP): the command is not started */
  readonly stopRequested: () => string | undefined;
  /** starts the command (cwd, and env added to imgplan's own) and resolves when it has ended */
  readonly run: (setting: ExecSetting) => Promise<CommandEnd>;
  /** told between the steps: the guest is open, the command ended, teardown starts */
  readonly onPhase?: (phase: ExecPhase) => void;
}

export type ExecPhase =
  | { readonly type: 'opened'; readonly setting: ExecSetting }
  | { readonly type: 'command_ended'; readonly end: CommandEnd }
  | { readonly type: 'stopped_before_command'; readonly signal: string };

/** How the teardown ended; `teardownError` when it was refused before a step (the guest is still open). */
export interface Teardown {
  readonly destroy: Outcome;
  readonly teardownError?: ImgplanError;
}

export type ExecResult =
  /** the guest could not be opened; the command did not run; `destroy`: how exec removed what a failed apply left, if it left anything */
  | ({ readonly phase: 'apply'; readonly outcome: Outcome; readonly applyError?: ImgplanError } & Partial<Teardown>)
  /** a signal came after apply; the command did not run */
  | ({ readonly phase: 'stopped'; readonly signal: string } & Teardown)
  /** the command ran */
  | ({ readonly phase: 'ran'; readonly end: CommandEnd } & Teardown);

/** Teardown that leaves nothing of this run: the guest is closed. */
export const closed = (o: Outcome) => o === 'applied' || o === 'no-changes';

/**
 * `imgplan exec`: apply the manifest, run the command in the guest's tree, then destroy what
 * the apply made, whatever the command did. A manifest that an earlier apply already opened is
 * refused before anything changes, as is a saved plan (exec plans and approves itself).
 */
export async function execManifest(ctx: OperationContext, input: Input, options: ExecOptions): Promise<ExecResult> {
  if (looksLikeSavedPlan(input.text)) {
    throw new ImgplanError(`${input.path} is a saved plan; exec takes a manifest (it plans, applies and destroys in one run)`, EXIT.invalid,
      'give the manifest the plan was made from');
  }
  // the manifest's warnings are shown once, by apply; the teardown's plan is not shown again (it was approved with the apply), its steps are
  const without = (...types: OperationEvent['type'][]) => ({ ...ctx, emit: (e: OperationEvent) => {
    if (!types.includes(e.type)) ctx.emit(e);
  } });
  const quiet = without('manifest_warnings');
  const valid = validate(quiet.emit, input, { allowWrites: options.allowWrites === true });
  if (valid.outcome === 'invalid') return { phase: 'apply', outcome: 'invalid' };
  const setting = execSetting(valid.manifest);
  const refuseEarlier = (plan: Plan) => {
    const made = earlierApply(plan);
    if (made.length) {
      const path = valid.manifest.path;
      throw new ImgplanError(`${path} is already applied (its journal holds ${made.join(', ')}); exec would take that down when its command ends`,
        EXIT.invalid, `run the command in ${setting.cwd ?? 'the mounts'} yourself, or run "imgplan destroy ${path}" first`);
    }
  };
  const common = { ...(options.lockTimeoutSeconds === undefined ? {} : { lockTimeoutSeconds: options.lockTimeoutSeconds }), rollback: true };
  const teardown = async (): Promise<Teardown> => {
    try {
      const r = await change(without('manifest_warnings', 'planned_changes'), 'destroy', input, false, { ...common, approve: async () => true });
      return { destroy: r.outcome };
    } catch (e) {
      // a refusal of the teardown itself (a lock held too long, a probe that fails): the guest stays open, and the user must hear why
      if (e instanceof ImgplanError) return { destroy: 'left-behind', teardownError: e };
      throw e;
    }
  };
  let started = false;
  const watched = { ...ctx, emit: (e: OperationEvent) => {
    started ||= e.type === 'execution_start';
    ctx.emit(e);
  } };
  let opened;
  try {
    opened = await change(watched, 'apply', input, options.allowWrites === true, {
      ...common,
      approve: async (plan) => {
        refuseEarlier(plan);
        // a signal while planning: nothing is started
        return !options.stopRequested() && options.approve(plan);
      },
    });
  } catch (e) {
    // refused before a step ran: nothing to take down (and an earlier apply's objects are not exec's)
    if (!started) throw e;
    // after its steps (the convergence check's probe failed, say): what they made is exec's to remove
    const closing = await teardown();
    if (!(e instanceof ImgplanError)) throw e;
    return { phase: 'apply', outcome: 'left-behind', applyError: e, ...closing };
  }
  if (opened.outcome === 'no-changes' && opened.plan) refuseEarlier(opened.plan);
  if (!closed(opened.outcome)) {
    // what a failed apply could not undo (or made without converging) is exec's to remove too
    const left = opened.outcome === 'left-behind' || opened.outcome === 'not-converged';
    return { phase: 'apply', outcome: opened.outcome, ...(left ? await teardown() : {}) };
  }
  const early = options.stopRequested();
  if (early) {
    options.onPhase?.({ type: 'stopped_before_command', signal: early });
    return { phase: 'stopped', signal: early, ...await teardown() };
  }
  options.onPhase?.({ type: 'opened', setting });
  let end: CommandEnd;
  try {
    end = await options.run(setting);
  } catch (e) {
    // a bug in starting it: the guest is still closed before the error goes on
    await teardown();
    throw e;
  }
  options.onPhase?.({ type: 'command_ended', end });
  return { phase: 'ran', end, ...await teardown() };
}
