import { acquireLock, LockTimeoutError, type Lock } from '../apply/lock.js';
import { EXIT, ImgplanError } from '../errors.js';
import type { OperationContext } from './context.js';

/** A lock timeout that is not a number of seconds ≥ 0 (the CLI names its flag). */
export class BadLockTimeoutError extends ImgplanError {
  constructor(readonly seconds: number) {
    super(`the lock timeout must be a number of seconds, not ${seconds}`, EXIT.invalid);
  }
}

/** Runs `body` holding the host-wide lock, as `command`; waits up to `seconds` for another run's. */
export async function withLock<T>(ctx: OperationContext, command: string, seconds: number, body: () => Promise<T>): Promise<T> {
  if (!Number.isFinite(seconds) || seconds < 0) throw new BadLockTimeoutError(seconds);
  let lock: Lock;
  try {
    lock = await acquireLock(ctx.lockDir ?? ctx.stateDir, command, seconds * 1000, (holder) => {
      ctx.emit({ type: 'lock_wait', seconds, ...(holder ? { holder } : {}) });
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
