import { randomBytes } from 'node:crypto';
import { lstat, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EXIT, ImgplanError } from '../errors.js';
import { encodeSavedPlan } from '../plan/codec.js';
import { planFacts } from '../core/facts.js';
import { isEmptyPlan, type Plan } from '../plan/types.js';
import { VERSION } from '../version.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS } from './change.js';
import type { Input, OperationContext } from './context.js';
import type { Mode } from './events.js';
import { withLock } from './lock.js';
import { load } from './manifest.js';
import { planFor } from './observe.js';

export interface PlanOptions {
  /** what apply would do (default), or destroy */
  readonly mode?: Mode;
  readonly target?: string;
  readonly allowWrites?: boolean;
  /** save the plan, with the live facts it was made from, to this file (see `applySavedPlan`) */
  readonly out?: string;
  /** seconds to wait for an apply or destroy that holds the lock (default 10) */
  readonly lockTimeoutSeconds?: number;
}

export type PlanResult =
  | { readonly outcome: 'no-changes' | 'changes-pending'; readonly plan: Plan }
  | { readonly outcome: 'invalid' };

/**
 * Writes a saved plan (mode 0600) without following a symbolic link at `file`: one there is
 * refused (exit 3); otherwise the text goes to a new file beside it, renamed over `file`, so a
 * link placed there meanwhile is replaced, never written through.
 */
async function writeSavedPlan(file: string, text: string): Promise<void> {
  const st = await lstat(file).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (st?.isSymbolicLink()) {
    throw new ImgplanError(`refusing to write the plan to ${file}: it is a symbolic link (to ${await readlink(file)}), which imgplan does not follow`,
      EXIT.invalid, 'remove the link, or save the plan to another path');
  }
  if (st && !st.isFile()) throw new ImgplanError(`refusing to write the plan to ${file}: it is not a regular file`, EXIT.invalid);
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': O_CREAT|O_EXCL, which follows no link either
  await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
  try {
    await rename(temp, file);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

/**
 * Probes and plans; changes nothing on the system (it writes only `out`). Holds the lock shared
 * while it reads, so it never sees an apply or destroy half-way (other plans read alongside).
 */
export async function plan(ctx: OperationContext, input: Input, options: PlanOptions = {}): Promise<PlanResult> {
  const loaded = load(ctx.emit, input, options.allowWrites === true);
  if (!loaded) return { outcome: 'invalid' };
  const mode = options.mode ?? 'apply';
  const command = `imgplan plan ${mode === 'destroy' ? '--destroy ' : ''}${loaded.manifest.path}`;
  const seconds = options.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS;
  return withLock(ctx, { command, seconds, mode: 'shared' }, async () => {
    const planned = await planFor(ctx, loaded, mode, options.target);
    if (!planned) return { outcome: 'invalid' };
    const { plan, observed } = planned;
    if (options.out) await writeSavedPlan(options.out, encodeSavedPlan(plan, planFacts(loaded.manifest, observed), VERSION, options.target));
    return { outcome: isEmptyPlan(plan) ? 'no-changes' : 'changes-pending', plan };
  });
}
