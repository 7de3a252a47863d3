import { acquireLock, LockAccessError, LockTimeoutError, type Lock, type LockMode } from '../apply/lock.js';
import { EXIT, ImgplanError } from '../errors.js';
import type { OperationContext } from './context.js';

/** A lock timeout that is not a number of seconds ≥ 0 (the CLI names its flag). */
export class BadLockTimeoutError extends ImgplanError {
  constructor(readonly seconds: number) {
    super(`the lock timeout must be a number of seconds, not ${seconds}`, EXIT.invalid);
  }
}

export interface LockUse {
  /** how this run is named to one that waits for it, e.g. `imgplan apply /srv/m.yaml` */
  readonly command: string;
  /** how long to wait for another run's lock */
  readonly seconds: number;
  /** apply and destroy change the host: exclusive; plan only reads it: shared */
  readonly mode: LockMode;
}

/**
 * Runs `body` holding the host-wide lock; waits up to `seconds` for the runs that hold it.
 * Where a shared lock (plan) cannot be opened at all (not root: the state dir is root's), plan
 * runs without it, with a warning, and reads what it can, as before.
 */
export async function withLock<T>(ctx: OperationContext, use: LockUse, body: () => Promise<T>): Promise<T> {
  const { seconds, mode } = use;
  if (!Number.isFinite(seconds) || seconds < 0) throw new BadLockTimeoutError(seconds);
  let lock: Lock | undefined;
  try {
    lock = await acquireLock(ctx.lockDir ?? ctx.stateDir, {
      command: use.command, mode, timeoutMs: seconds * 1000,
      onWait: (holders) => ctx.emit({ type: 'lock_wait', seconds, mode, holders }),
    });
  } catch (e) {
    if (e instanceof LockTimeoutError) {
      const them = e.holders.length === 1 ? 'it' : 'them';
      throw new ImgplanError(`${e.message}${seconds > 0 ? `; gave up after ${seconds} s` : ''}`, EXIT.locked,
        `wait for ${them} to finish and run this again, or pass a longer --lock-timeout. The lock goes away with the process that holds it ` +
          `(a run that crashed or was killed holds nothing); do not remove ${e.path}: a run started after that would not wait for ${them}`);
    }
    if (e instanceof LockAccessError && mode === 'shared') ctx.emit({ type: 'lock_skipped', reason: e.message });
    else throw e;
  }
  try {
    return await body();
  } finally {
    await lock?.release();
  }
}
