import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One lock for all apply/destroy runs on this host: loop, dm and mount state is host-global,
 * so two runs must never interleave. The lock is a file created with O_EXCL holding the owner's
 * pid, command and start time. A lock whose pid is gone is taken over: renamed away (only one
 * contender's rename succeeds) and created afresh.
 */
export interface LockHolder {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
}

export class LockTimeoutError extends Error {
  constructor(readonly holder: LockHolder | undefined, readonly waitedMs: number) {
    super(holder
      ? `another imgplan run holds the lock: pid ${holder.pid} (${holder.command}), since ${holder.since}`
      : 'another imgplan run holds the lock');
  }
}

export interface Lock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

export async function acquireLock(stateDir: string, command: string, timeoutMs: number, onWait?: (h: LockHolder | undefined) => void): Promise<Lock> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'lock');
  const me: LockHolder = { pid: process.pid, command, since: new Date().toISOString() };
  const started = Date.now();
  let told = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${JSON.stringify(me)}\n`);
      await fh.close();
      return { release: async () => { if ((await readHolder(path))?.pid === process.pid) await rm(path, { force: true }); } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readHolder(path);
    if (holder && !alive(holder.pid)) {
      // stale: whoever renames it first takes over; the others find the new lock on their next try
      await rename(path, `${path}.stale.${process.pid}`).then(() => rm(`${path}.stale.${process.pid}`, { force: true }), () => undefined);
      continue;
    }
    if (Date.now() - started >= timeoutMs) throw new LockTimeoutError(holder, Date.now() - started);
    if (!told) {
      onWait?.(holder);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
