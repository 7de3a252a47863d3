import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireLock, flockModeOf, lockHeldMessage, LockTimeoutError, nameHolders, parseHolderRecord, processStart,
  type LockHolder, type LockRequest,
} from '../../../src/apply/lock.js';
import { ImgplanError } from '../../../src/errors.js';

const holder = (over: Partial<LockHolder> = {}): LockHolder => ({
  pid: 42, command: 'imgplan apply /srv/m.yaml', since: '2026-01-01T00:00:00.000Z', mode: 'exclusive', imgplan: true, ...over,
});

describe('lock: the pure parts', () => {
  it('believes a holder record only in its own shape', () => {
    const good = { pid: 12, fd: 21, mode: 'shared', command: 'imgplan plan /m.yaml', since: '2026-01-01T00:00:00.000Z' };
    expect(parseHolderRecord(`${JSON.stringify(good)}\n`)).toEqual(good);
    // written before it asks for the lock: no `since` until it has it
    const { since: _, ...asking } = good;
    expect(parseHolderRecord(JSON.stringify(asking))).toEqual(asking);
    for (const bad of ['', '{', 'null', '[]', '12', JSON.stringify({ ...good, pid: 0 }), JSON.stringify({ ...good, pid: 1.5 }),
      JSON.stringify({ ...good, fd: -1 }), JSON.stringify({ ...good, mode: 'both' }), JSON.stringify({ ...good, command: 7 }), JSON.stringify({ ...good, since: 1 }),
      JSON.stringify({ pid: 12, command: 'x', since: 'y' })]) {
      expect(parseHolderRecord(bad), bad).toBeUndefined();
    }
  });

  it('reads the flock on an open file from its fdinfo: WRITE is exclusive, READ shared; a waiter\'s fd or a POSIX lock is none', () => {
    const fdinfo = (lock: string) => `pos:\t0\nflags:\t02500002\nmnt_id:\t27\nino:\t2146521\n${lock}`;
    expect(flockModeOf(fdinfo('lock:\t1: FLOCK  ADVISORY  WRITE 4344 fe:00:2146521 0 EOF\n'))).toBe('exclusive');
    expect(flockModeOf(fdinfo('lock:\t2: FLOCK  ADVISORY  READ 4537 fe:00:2146857 0 EOF\n'))).toBe('shared');
    expect(flockModeOf(fdinfo(''))).toBeUndefined();
    expect(flockModeOf(fdinfo('lock:\t1: POSIX  ADVISORY  WRITE 4344 fe:00:2146521 0 EOF\n'))).toBeUndefined();
    expect(flockModeOf(fdinfo('lock:\t1: -> FLOCK  ADVISORY  WRITE 4344 fe:00:2146521 0 EOF\n'))).toBeUndefined();
  });

  it('tells when a process started from /proc/PID/stat, whatever its name holds', () => {
    // field 22 (starttime) is the 20th after the name; a name may hold spaces and parentheses
    const stat = (comm: string, ticks: number) => `1234 (${comm}) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 ${ticks} 1000 10 18446744073709551615`;
    expect(processStart(stat('node', 250), 1_700_000_000)?.toISOString()).toBe('2023-11-14T22:13:22.500Z');
    expect(processStart(stat('a) (b c', 100), 1_700_000_000)?.toISOString()).toBe('2023-11-14T22:13:21.000Z');
    expect(processStart('', 1_700_000_000)).toBeUndefined();
  });

  it('names the holders: one imgplan run, several, a process that is not imgplan, or no one; control characters never reach the terminal', () => {
    expect(lockHeldMessage([holder()], '/run/imgplan/lock'))
      .toBe('another imgplan run holds the lock: pid 42 (imgplan apply /srv/m.yaml), since 2026-01-01T00:00:00.000Z');
    expect(lockHeldMessage([holder({ mode: 'shared', command: 'imgplan plan /a.yaml' }), holder({ pid: 43, mode: 'shared', command: 'imgplan plan /b.yaml' })], '/l'))
      .toBe('other imgplan runs hold the lock: pid 42 (imgplan plan /a.yaml), since 2026-01-01T00:00:00.000Z; pid 43 (imgplan plan /b.yaml), since 2026-01-01T00:00:00.000Z');
    expect(lockHeldMessage([holder({ imgplan: false, command: 'flock /run/imgplan/lock sleep 100' })], '/run/imgplan/lock'))
      .toBe('another process holds the lock /run/imgplan/lock: pid 42 (flock /run/imgplan/lock sleep 100), since 2026-01-01T00:00:00.000Z');
    expect(lockHeldMessage([], '/run/imgplan/lock')).toMatch(/^another process holds the lock \/run\/imgplan\/lock, and imgplan could not tell which/);
    expect(nameHolders([holder({ command: 'evil \x1b]0;owned\x07 name\u202e' })])).toBe('pid 42 (evil ?]0;owned? name?) since 2026-01-01T00:00:00.000Z');
  });
});

describe('lock: real flock(2) locks in a temporary folder', () => {
  const dirs: string[] = [];
  const held: { release(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const l of held.splice(0)) await l.release();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const folder = () => {
    const d = mkdtempSync(join(tmpdir(), 'imgplan-lock-test-'));
    dirs.push(d);
    return d;
  };
  const take = async (dir: string, req: Partial<LockRequest> = {}) => {
    const l = await acquireLock(dir, { command: 'imgplan apply /srv/m.yaml', mode: 'exclusive', timeoutMs: 0, ...req });
    held.push(l);
    return l;
  };
  const refusal = async (p: Promise<unknown>) => {
    const e = await p.then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(LockTimeoutError);
    return e as LockTimeoutError;
  };

  it('exclusive refuses everyone else at once, naming itself from its record (confirmed in /proc); released, it is free; the file stays, empty', async () => {
    const dir = folder();
    const first = await take(dir);
    const e = await refusal(take(dir, { command: 'imgplan destroy /x.yaml' }));
    expect(e.holders).toEqual([{ pid: process.pid, command: 'imgplan apply /srv/m.yaml', since: expect.stringMatching(/^\d{4}-/), mode: 'exclusive', imgplan: true }]);
    expect(e.message).toMatch(new RegExp(`^another imgplan run holds the lock: pid ${process.pid} \\(imgplan apply /srv/m.yaml\\), since \\d{4}-`));
    expect((await refusal(take(dir, { mode: 'shared' }))).holder?.pid).toBe(process.pid);
    await first.release();
    await first.release();
    await take(dir, { mode: 'shared' });
    expect(statSync(join(dir, 'lock')).size).toBe(0);
    expect(statSync(join(dir, 'lock')).mode & 0o777).toBe(0o600);
  });

  it('shared holders read together; exclusive waits for all of them and names each', async () => {
    const dir = folder();
    await take(dir, { mode: 'shared', command: 'imgplan plan /a.yaml' });
    await take(dir, { mode: 'shared', command: 'imgplan plan /b.yaml' });
    const e = await refusal(take(dir));
    expect(e.holders.map((h) => [h.command, h.mode])).toEqual([['imgplan plan /a.yaml', 'shared'], ['imgplan plan /b.yaml', 'shared']]);
    expect(e.message).toMatch(/^other imgplan runs hold the lock: /);
  });

  it('waits: told once, who holds it; gets it the moment it is let go, not at the next poll', async () => {
    const dir = folder();
    const first = await take(dir);
    const told: (readonly LockHolder[])[] = [];
    const started = Date.now();
    const second = take(dir, { command: 'imgplan destroy /srv/m.yaml', timeoutMs: 5000, onWait: (h) => told.push(h) });
    await new Promise((r) => setTimeout(r, 200));
    // the waiter has its record written already, yet names no one: only the holder's open file holds the lock
    expect(readdirSync(join(dir, 'lock.holders'))).toHaveLength(2);
    expect((await refusal(take(dir, { command: 'imgplan plan /srv/m.yaml' }))).holders.map((h) => h.command)).toEqual(['imgplan apply /srv/m.yaml']);
    setTimeout(() => void first.release(), 100);
    await second;
    expect(Date.now() - started).toBeLessThan(1500);
    expect(told).toHaveLength(1);
    expect(told[0]!.map((h) => h.command)).toEqual(['imgplan apply /srv/m.yaml']);
  });

  it('gives up after the timeout, naming the holder', async () => {
    const dir = folder();
    await take(dir);
    const started = Date.now();
    const e = await refusal(take(dir, { timeoutMs: 400 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e.waitedMs).toBeGreaterThanOrEqual(390);
    expect(e.holder?.pid).toBe(process.pid);
  });

  it('an empty lock file, an old-style one naming a pid, and records of a live unrelated pid or of a fd that holds nothing block no one; exclusive clears them', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'lock'), `${JSON.stringify({ pid: 1, command: 'imgplan apply (crashed)', since: '2026-01-01T00:00:00Z' })}\n`);
    mkdirSync(join(dir, 'lock.holders'), { mode: 0o700 });
    const stale = (pid: number, fd: number) => writeFileSync(join(dir, 'lock.holders', `${pid}-${fd}.json`),
      JSON.stringify({ pid, fd, mode: 'exclusive', command: 'imgplan apply (crashed)', since: '2026-01-01T00:00:00Z' }));
    stale(1, 0);
    stale(process.pid, 0);
    writeFileSync(join(dir, 'lock.holders', '99-3.json.tmp'), '{"pi');
    const l = await take(dir);
    expect(readdirSync(join(dir, 'lock.holders'))).toEqual([expect.stringMatching(new RegExp(`^${process.pid}-\\d+\\.json$`))]);
    await l.release();
    expect(readdirSync(join(dir, 'lock.holders'))).toEqual([]);
    writeFileSync(join(dir, 'lock'), '');
    await take(dir);
  });

  it('a holder that is not imgplan (flock(1) by hand) is found in /proc and named by its command line', async () => {
    const dir = folder();
    const path = join(dir, 'lock');
    writeFileSync(path, '');
    // --close: sleep does not inherit it, so flock alone holds the lock; --timeout: it waits out the probes below
    const child = spawn('flock', ['--timeout', '5', '--close', path, 'sleep', '5'], { stdio: 'ignore' });
    const command = `flock --timeout 5 --close ${path} sleep 5`;
    try {
      for (let i = 0; i < 100 && spawnSync('flock', ['--nonblock', path, 'true']).status === 0; i++) await new Promise((r) => setTimeout(r, 50));
      const e = await refusal(take(dir));
      expect(e.holders).toEqual([expect.objectContaining({ pid: child.pid, command, imgplan: false, mode: 'exclusive' })]);
      expect(e.message).toContain(`another process holds the lock ${path}: pid ${child.pid} (${command}), since 20`);
    } finally {
      child.kill('SIGKILL');
    }
    // killed, it holds nothing
    await new Promise((r) => child.once('exit', r));
    await take(dir);
  });

  it('no command imgplan runs inherits the lock: only flock gets it, as its fd 3', async () => {
    const dir = folder();
    await take(dir);
    const fds = execFileSync('sh', ['-c', 'ls -l /proc/self/fd/'], { encoding: 'utf8' });
    expect(fds).not.toContain(join(dir, 'lock'));
  });

  it('a lock file removed or replaced while one waits: the waiter locks the file now there, not the old one', async () => {
    const dir = folder();
    const first = await take(dir);
    const second = take(dir, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    renameSync(join(dir, 'lock'), join(dir, 'lock.old'));
    writeFileSync(join(dir, 'lock'), '');
    await first.release();
    await second;
    // the waiter holds the file at the path: a third run is refused, naming it
    expect((await refusal(take(dir))).holder?.pid).toBe(process.pid);
    expect(existsSync(join(dir, 'lock.old'))).toBe(true);
  });

  it('a link or a FIFO at the lock\'s path is refused (exit 3), never followed or waited on', async () => {
    const dir = folder();
    symlinkSync('/etc/passwd', join(dir, 'lock'));
    const e = await take(dir).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(ImgplanError);
    expect((e as ImgplanError).exitCode).toBe(3);
    expect((e as Error).message).toContain('is a symbolic link');
    const dir2 = folder();
    execFileSync('mkfifo', [join(dir2, 'lock')]);
    const f = await take(dir2).then(() => undefined, (x: unknown) => x);
    expect((f as ImgplanError).exitCode).toBe(3);
    expect((f as Error).message).toContain('is not a regular file');
    expect(readFileSync('/etc/passwd', 'utf8')).toContain('root');
  });
});
