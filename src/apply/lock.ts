import { spawn } from 'node:child_process';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, ImgplanError, missingToolHint } from '../errors.js';

/**
 * One lock for every run on this host: loop, dm and mount state is host-global, so two runs that
 * change it must never interleave, and a plan must not read it half-way through one. apply and
 * destroy take it exclusive, plan shared.
 *
 * It is a flock(2) lock on `DIR/lock`, held by imgplan's own open file description: the kernel
 * drops it when imgplan exits, however it exits (SIGKILL too), so a lock is never stale and is
 * never taken over, and the file's contents mean nothing (it stays, empty). Node has no flock(),
 * so util-linux `flock` takes it, run with that open file as its fd 3: flock(2) locks the open
 * file description both processes share, so the lock outlives the short-lived child. The lock
 * is not live state to record or replay, so it does not go through the Runner.
 *
 * Who holds it is only for messages: each run writes `DIR/lock.holders/PID-FD.json` (pid, fd,
 * command) as soon as it has the file open, before it asks for the lock, adds `since` once it
 * has it, and removes it when it lets go or gives up. A waiter believes a record only if /proc
 * shows that pid with the lock file open at that fd and the kernel's flock on it (fdinfo
 * `lock:`; a waiter's own open file shows none), so a record left by a crash, or a pid reused
 * since, names no one and blocks no one; an exclusive holder removes those. Without a record to
 * believe (a holder that is not imgplan), /proc itself is searched for the process whose open
 * file holds the lock. (/proc/locks would name the pid that called flock(2): the child, gone.)
 */
export type LockMode = 'exclusive' | 'shared';

export interface LockHolder {
  readonly pid: number;
  /** imgplan's own words (`imgplan apply /srv/m.yaml`), or a process's command line from /proc */
  readonly command: string;
  /** ISO time it took the lock (imgplan), or the process's start time (another process) */
  readonly since: string;
  readonly mode: LockMode;
  /** false: no imgplan record names it; it was found in /proc */
  readonly imgplan: boolean;
}

/** The lock was not free within the timeout; `holders` are the ones /proc confirmed, maybe none. */
export class LockTimeoutError extends Error {
  constructor(readonly holders: readonly LockHolder[], readonly waitedMs: number, readonly path: string) {
    super(lockHeldMessage(holders, path));
  }

  /** the first holder named (compatibility: most locks have one) */
  get holder(): LockHolder | undefined {
    return this.holders[0];
  }
}

/** The lock file cannot be opened for a reason of access (not root, a read-only state dir). */
export class LockAccessError extends ImgplanError {
  constructor(readonly path: string, readonly code: string) {
    super(`cannot open the lock ${path}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`, EXIT.invalid, 'imgplan must run as root');
  }
}

export interface Lock {
  release(): Promise<void>;
}

export interface LockRequest {
  /** how the holder is named to others, e.g. `imgplan apply /srv/m.yaml` */
  readonly command: string;
  readonly mode: LockMode;
  /** how long to wait for another holder; 0: refuse at once */
  readonly timeoutMs: number;
  /** told once, when the lock is held by others and this run starts to wait */
  readonly onWait?: (holders: readonly LockHolder[]) => void;
}

/** A command line as it may reach a terminal: control and bidirectional characters as `?`. */
const shown = (s: string) => s.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, '?');

/** "pid 12 (imgplan apply /m.yaml) since 2026-…", joined with "; " for several holders. */
export function nameHolders(holders: readonly LockHolder[]): string {
  return holders.map((h) => `pid ${h.pid} (${shown(h.command)}) since ${shown(h.since)}`).join('; ');
}

/** The refusal's first sentence: who holds the lock, in the words README "Commands" shows. */
export function lockHeldMessage(holders: readonly LockHolder[], path: string): string {
  const named = holders.map((h) => `pid ${h.pid} (${shown(h.command)}), since ${shown(h.since)}`).join('; ');
  if (holders.length === 0) return `another process holds the lock ${path}, and imgplan could not tell which (it may be in another pid namespace)`;
  if (holders.some((h) => !h.imgplan)) return `another process holds the lock ${path}: ${named}`;
  return holders.length === 1 ? `another imgplan run holds the lock: ${named}` : `other imgplan runs hold the lock: ${named}`;
}

/** A run's record: `since` is absent until it has the lock. */
export type HolderRecord = Omit<LockHolder, 'imgplan' | 'since'> & { readonly fd: number; readonly since?: string };

/** What a holder record says, if it is one (anything else, e.g. a file half written, is none). */
export function parseHolderRecord(text: string): HolderRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const { pid, fd, command, since, mode } = r;
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0 || !Number.isSafeInteger(fd) || (fd as number) < 0) return undefined;
  if (typeof command !== 'string' || (since !== undefined && typeof since !== 'string') || (mode !== 'exclusive' && mode !== 'shared')) return undefined;
  return { pid: pid as number, fd: fd as number, command, ...(since === undefined ? {} : { since }), mode };
}

/** The flock(2) lock the kernel shows on an open file (/proc/PID/fdinfo/FD), if any. */
export function flockModeOf(fdinfo: string): LockMode | undefined {
  // "lock:\t1: FLOCK  ADVISORY  WRITE 4344 fe:00:2146521 0 EOF"; a waiter's fd shows no lock line
  const m = /^lock:\s+\d+:\s+FLOCK\s+\S+\s+(READ|WRITE)\s/m.exec(fdinfo);
  return m ? (m[1] === 'WRITE' ? 'exclusive' : 'shared') : undefined;
}

/**
 * When a process started, from /proc/PID/stat (field 22, clock ticks after boot) and the boot
 * time (/proc/stat btime, seconds since the epoch); USER_HZ is 100 on Linux.
 */
export function processStart(procStat: string, bootSeconds: number, hz = 100): Date | undefined {
  // the command name (field 2) is in parentheses and may hold spaces and parentheses itself
  const rest = procStat.slice(procStat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[19]);
  return Number.isFinite(ticks) && Number.isFinite(bootSeconds) ? new Date(bootSeconds * 1000 + (ticks * 1000) / hz) : undefined;
}

const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino;

/** Whether PID's fd FD is the lock file `id`. */
async function opens(pid: number | string, fd: number | string, id: Stats): Promise<boolean> {
  return stat(`/proc/${pid}/fd/${fd}`).then((st) => sameFile(st, id), () => false);
}

/** The mode of the flock(2) lock on PID's fd FD, if that fd is the lock file `id` and holds one. */
async function heldVia(pid: number, fd: number | string, id: Stats): Promise<LockMode | undefined> {
  if (!(await opens(pid, fd, id))) return undefined;
  return flockModeOf(await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => ''));
}

async function describeProcess(pid: number, mode: LockMode): Promise<LockHolder> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const command = cmdline.split('\0').filter(Boolean).join(' ') || '?';
  const boot = Number(/^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8').catch(() => ''))?.[1]);
  const started = processStart(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''), boot);
  return { pid, command, since: started ? started.toISOString() : 'an unknown time', mode, imgplan: false };
}

/** Every process whose open file holds a flock on `id` (a waiter's holds none): the slow way, by /proc. */
async function searchProc(id: Stats): Promise<LockHolder[]> {
  const out: LockHolder[] = [];
  const pids = (await readdir('/proc').catch(() => [])).filter((p) => /^\d+$/.test(p)).map(Number);
  for (const pid of pids) {
    for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
      const mode = await heldVia(pid, fd, id);
      if (mode) {
        out.push(await describeProcess(pid, mode));
        break;
      }
    }
  }
  return out;
}

/** The holders of the lock file `id` that a record names and /proc confirms. */
async function recordedHolders(dir: string, id: Stats): Promise<LockHolder[]> {
  const records = join(dir, 'lock.holders');
  const out: LockHolder[] = [];
  for (const f of (await readdir(records).catch(() => [])).filter((n) => /^\d+-\d+\.json$/.test(n))) {
    const r = parseHolderRecord(await readFile(join(records, f), 'utf8').catch(() => ''));
    if (!r || `${r.pid}-${r.fd}.json` !== f) continue;
    const mode = await heldVia(r.pid, r.fd, id);
    // no `since` yet: it got the lock a moment ago, and has yet to say when
    if (mode) out.push({ pid: r.pid, command: r.command, since: r.since ?? new Date().toISOString(), mode, imgplan: true });
  }
  return out.sort((a, b) => a.since.localeCompare(b.since));
}

/**
 * Who holds the lock file `id` now: the records /proc confirms, else what /proc shows. Read
 * while the lock passed from one run to the next, the records may confirm no one; /proc then
 * finds the new holder, whose record is read again.
 */
export async function lockHolders(dir: string, id: Stats): Promise<LockHolder[]> {
  const recorded = await recordedHolders(dir, id);
  if (recorded.length) return recorded;
  const found = await searchProc(id);
  if (found.length === 0) return found;
  const again = await recordedHolders(dir, id);
  return again.length ? again : found;
}

/**
 * util-linux flock on the open file `fd` (its fd 3): 'locked', or 'busy' when another holds it
 * past `waitMs` (0: not waiting at all).
 */
function flock(fd: number, mode: LockMode, waitMs: number): Promise<'locked' | 'busy'> {
  const argv = ['flock', `--${mode}`, ...(waitMs >= 1 ? ['--timeout', (waitMs / 1000).toFixed(3)] : ['--nonblock']), '3'] as const;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe', fd], env: { ...process.env, LC_ALL: 'C' } });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT'
        ? new ImgplanError('flock is not installed: imgplan takes its host-wide lock with it', EXIT.failedCleanly, missingToolHint('flock'))
        : e);
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve('locked');
      // 1: flock's "conflict" exit, for --nonblock and for --timeout alike
      else if (code === 1) resolve('busy');
      else {
        const why = stderr.trim() || (signal ? `killed by ${signal}` : `exit ${code}`);
        reject(new ImgplanError(`cannot take the lock: ${argv.join(' ')}: ${why}`, EXIT.failedCleanly));
      }
    });
  });
}

async function openLockFile(path: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: the lock is never a link to elsewhere; O_NONBLOCK: a FIFO put there cannot hang the open.
    // Node adds O_CLOEXEC: no command imgplan runs inherits the lock, only flock gets it, as its fd 3
    fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'ELOOP') throw new ImgplanError(`the lock ${path} is a symbolic link, which imgplan does not follow`, EXIT.invalid, `remove ${path}`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new LockAccessError(path, code);
    throw e;
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw new ImgplanError(`the lock ${path} is not a regular file`, EXIT.invalid, `remove ${path}`);
  }
  return fh;
}

/** This run's record in `DIR/lock.holders`: written, rewritten, removed; never an error (it only names). */
function recordOf(dir: string, fd: number, request: LockRequest) {
  const records = join(dir, 'lock.holders');
  const name = `${process.pid}-${fd}.json`;
  const mine = join(records, name);
  return {
    write: async (since?: string) => {
      const record = { pid: process.pid, fd, mode: request.mode, command: request.command, ...(since ? { since } : {}) };
      try {
        await mkdir(records, { recursive: true, mode: 0o700 });
        await writeFile(`${mine}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
        await rename(`${mine}.tmp`, mine);
      } catch {
        // others find the holder in /proc without it
      }
    },
    remove: () => rm(mine, { force: true }).catch(() => undefined),
    /** exclusive holders only: the records (and their temporary files) of no open lock file now, left by a crash */
    clearStale: async (id: Stats) => {
      for (const f of await readdir(records).catch(() => [])) {
        const m = /^(\d+)-(\d+)\.json(\.tmp)?$/.exec(f);
        if (f !== name && !(m && (await opens(m[1]!, m[2]!, id)))) await rm(join(records, f), { force: true }).catch(() => undefined);
      }
    },
  };
}

export async function acquireLock(dir: string, request: LockRequest): Promise<Lock> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new LockAccessError(join(dir, 'lock'), code);
    throw e;
  }
  const path = join(dir, 'lock');
  const started = Date.now();
  const waited = () => Date.now() - started;
  let told = false;
  for (;;) {
    const fh = await openLockFile(path);
    const record = recordOf(dir, fh.fd, request);
    let kept = false;
    try {
      const id = await fh.stat();
      // named before it asks: whoever finds it holding the lock a moment from now can say who it is
      await record.write();
      let got = await flock(fh.fd, request.mode, 0);
      if (got === 'busy' && request.timeoutMs - waited() >= 1) {
        if (!told) request.onWait?.(await lockHolders(dir, id));
        told = true;
        got = await flock(fh.fd, request.mode, request.timeoutMs - waited());
      }
      if (got === 'busy') {
        const holders = await lockHolders(dir, id);
        // no one to name: the holder let go just now; try once more before refusing
        if (holders.length > 0 || (await flock(fh.fd, request.mode, 0)) === 'busy') {
          throw new LockTimeoutError(holders.length ? holders : await lockHolders(dir, id), waited(), path);
        }
      }
      // the lock guards the file at `path`: one removed or replaced meanwhile guards nothing, so start again
      const now = await lstat(path).catch(() => undefined);
      if (!now || !sameFile(now, id)) continue;
      if (request.mode === 'exclusive') await record.clearStale(id);
      await record.write(new Date().toISOString());
      kept = true;
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          // closing the last descriptor of the open file drops the flock; the record goes after, so a holder always has one
          await fh.close();
          await record.remove();
        },
      };
    } finally {
      if (!kept) {
        await fh.close();
        await record.remove();
      }
    }
  }
}
