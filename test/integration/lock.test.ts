import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, isRoot, sha256, useSandbox } from './harness.js';

/**
 * The host-wide lock with real processes: a holder refuses others with its name (exit 7), a
 * lock file left empty or naming a live unrelated pid blocks no one, a holder killed with
 * SIGKILL lets go at once, and 20 applies and destroys started together never interleave.
 */
const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();
const HOLD = join(import.meta.dirname, '../support/hold-lock.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run { readonly argv: readonly string[]; readonly pid: number; readonly code: number; readonly stdout: string; readonly stderr: string }

/** `imgplan ARGS` as a child of its own, its pid known (the pid another run names as holder). */
function start(args: readonly string[]): { pid: number; done: Promise<Run>; said: (text: string) => Promise<void> } {
  const p = execa(process.execPath, [CLI, ...args], { reject: false, stdin: 'ignore', cwd: sb.root, env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1' } });
  const pid = p.pid ?? -1;
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = p.then((r) => ({ argv: args, pid, code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }));
  /** resolves once the run has written `text` on stderr (fails if it ends first) */
  const said = async (text: string) => {
    let ended = false;
    void done.then(() => (ended = true));
    while (!stderr.includes(text)) {
      if (ended) throw new Error(`imgplan ${args.join(' ')} ended without saying "${text}": ${stderr}`);
      await sleep(20);
    }
  };
  return { pid, done, said };
}

/** test/support/hold-lock.mjs holding the lock (`mode`) as `command`, until `release` or a kill. */
async function holdLock(mode: 'exclusive' | 'shared', command: string): Promise<{ pid: number; proc: ResultPromise; release: () => Promise<void> }> {
  const proc = execa('node', [HOLD, sb.stateDir, mode, command], { reject: false, stdin: 'pipe' });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    proc.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('held ')) resolve();
    });
    void proc.then((r) => reject(new Error(`hold-lock.mjs ended: ${r.stderr}`)));
  });
  return { pid: proc.pid!, proc, release: async () => { proc.stdin!.end(); await proc; } };
}

const lockIsFree = () => spawnSync('flock', ['--nonblock', join(sb.stateDir, 'lock'), 'true']).status === 0;

/** Loop devices backed by this sandbox's files, by backing file (from sysfs: cheap enough to sample). */
function loopsByImage(): Map<string, number> {
  const out = new Map<string, number>();
  for (const dev of readdirSync('/sys/block').filter((d) => /^loop\d+$/.test(d))) {
    let file: string;
    try {
      file = readFileSync(`/sys/block/${dev}/loop/backing_file`, 'utf8').trim();
    } catch {
      continue;
    }
    if (file.startsWith(`${sb.root}/`)) out.set(file, (out.get(file) ?? 0) + 1);
  }
  return out;
}

/** Mounts at each mountpoint under the sandbox. */
function mountsByTarget(): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const target = l.split(' ')[4];
    if (target?.startsWith(`${sb.root}/`)) out.set(target, (out.get(target) ?? 0) + 1);
  }
  return out;
}

async function twoManifests() {
  const images = [await sb.wholeImage('a.img', 16, 'ext4', 'a', { who: 'a\n' }), await sb.wholeImage('b.img', 16, 'ext4', 'b', { who: 'b\n' })];
  const manifest = (n: string) => sb.writeManifest(`${n}.yaml`, `version: 1\nimages:\n  ${n}: { file: ${n}.img, format: raw }\nmounts:\n  - { what: ${n}, where: ${sb.path(`mnt-${n}`)} }\n`);
  return { images, a: manifest('a'), b: manifest('b') };
}

const HELD_BY = (pid: number | string, command: string) => new RegExp(`another imgplan run holds the lock: pid ${pid} \\(${command}\\), since \\d{4}-\\d\\d-\\d\\dT`);

describeRoot('the host-wide lock, with real processes', () => {
  it('a holder refuses apply, destroy and plan with its name (exit 7, nothing changed); a shared one lets plans read alongside', async () => {
    const { a } = await twoManifests();
    const holder = await holdLock('exclusive', 'imgplan apply /srv/other.yaml');
    try {
      const apply = await sb.imgplan(['apply', a, '--auto-approve', '--lock-timeout', '1']);
      expect(apply.code, apply.stderr).toBe(7);
      expect(apply.stderr).toContain(`Waiting up to 1 s for the lock, held by pid ${holder.pid} (imgplan apply /srv/other.yaml) since `);
      expect(apply.stderr).toMatch(HELD_BY(holder.pid, 'imgplan apply /srv/other.yaml'));
      expect(apply.stderr).toContain('; gave up after 1 s');
      expect(apply.stderr).toContain('hint: wait for it to finish and run this again, or pass a longer --lock-timeout');
      expect(apply.stdout).toBe('');
      for (const args of [['destroy', a, '--auto-approve'], ['plan', a], ['apply', a, '--auto-approve', '--json']]) {
        const r = await sb.imgplan([...args, '--lock-timeout', '0']);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(7);
        expect(r.stderr).toMatch(HELD_BY(holder.pid, 'imgplan apply /srv/other.yaml'));
        expect(r.stderr).not.toContain('Waiting');
      }
      expect(loopsByImage().size).toBe(0);
    } finally {
      await holder.release();
    }
    expect(lockIsFree()).toBe(true);

    const reader = await holdLock('shared', 'imgplan plan /srv/other.yaml');
    try {
      const plan = await sb.imgplan(['plan', a, '--lock-timeout', '0']);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('Plan: 3 to add');
      const apply = await sb.imgplan(['apply', a, '--auto-approve', '--lock-timeout', '0']);
      expect(apply.code, apply.stderr).toBe(7);
      expect(apply.stderr).toMatch(HELD_BY(reader.pid, 'imgplan plan /srv/other.yaml'));
    } finally {
      await reader.release();
    }
    // and the other way round: a plan waits for an apply, then reads what it made
    const holder2 = await holdLock('exclusive', 'imgplan apply /srv/other.yaml');
    const plan = start(['plan', a, '--lock-timeout', '20']);
    await plan.said('Waiting up to 20 s');
    await sleep(300);
    await holder2.release();
    const p = await plan.done;
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toContain(`Waiting up to 20 s for the lock (shared, to read), held by pid ${holder2.pid} (imgplan apply /srv/other.yaml)`);
  });

  it('a lock file left empty, one naming a live unrelated pid (pid 1), and stale holder records block no one', async () => {
    const { a } = await twoManifests();
    mkdirSync(sb.stateDir, { recursive: true, mode: 0o700 });
    const lock = join(sb.stateDir, 'lock');
    for (const content of ['', `${JSON.stringify({ pid: 1, command: 'imgplan apply (crashed long ago; pid 1 is init now)', since: '2026-01-01T00:00:00Z' })}\n`]) {
      writeFileSync(lock, content);
      mkdirSync(join(sb.stateDir, 'lock.holders'), { recursive: true, mode: 0o700 });
      // a record of pid 1 (alive, and holds nothing of ours), and a half-written one
      writeFileSync(join(sb.stateDir, 'lock.holders', '1-3.json'), JSON.stringify({ pid: 1, fd: 3, mode: 'exclusive', command: 'imgplan apply (reused pid)', since: '2026-01-01T00:00:00Z' }));
      writeFileSync(join(sb.stateDir, 'lock.holders', '77-20.json.tmp'), '{"pid": 77,');
      const started = Date.now();
      const apply = await sb.imgplan(['apply', a, '--auto-approve', '--lock-timeout', '0']);
      expect(apply.code, apply.stderr).toBe(0);
      expect(apply.stderr).toBe('');
      expect(Date.now() - started).toBeLessThan(10_000);
      // the exclusive holder cleared the records no one holds
      expect(readdirSync(join(sb.stateDir, 'lock.holders'))).toEqual([]);
      expect((await sb.imgplan(['destroy', a, '--auto-approve', '--lock-timeout', '0'])).code).toBe(0);
    }
    // the lock file stays (a flock lock is never stale): it is never removed nor written
    expect(existsSync(lock)).toBe(true);
  });

  it('a holder killed with SIGKILL lets go at once: the run waiting for it goes on', async () => {
    const { a, images } = await twoManifests();
    const holder = await holdLock('exclusive', 'imgplan apply /srv/other.yaml');
    const waiting = start(['apply', a, '--auto-approve', '--lock-timeout', '30']);
    await waiting.said('Waiting up to 30 s');
    await sleep(300);
    expect(lockIsFree()).toBe(false);
    holder.proc.kill('SIGKILL');
    await holder.proc;
    const killed = Date.now();
    const r = await waiting.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`held by pid ${holder.pid}`);
    // its wait ended with the kill, not with the timeout (the apply itself takes a second or two)
    expect(Date.now() - killed).toBeLessThan(10_000);
    expect(loopsByImage().get(images[0]!)).toBe(1);
    expect((await sb.imgplan(['destroy', a, '--auto-approve', '--lock-timeout', '0'])).code).toBe(0);
    // with no one waiting: free the moment the holder is gone, though its record is still there
    const again = await holdLock('exclusive', 'imgplan destroy /srv/other.yaml');
    expect(lockIsFree()).toBe(false);
    again.proc.kill('SIGKILL');
    await again.proc;
    expect(lockIsFree()).toBe(true);
    expect(readdirSync(join(sb.stateDir, 'lock.holders'))).toEqual([expect.stringMatching(new RegExp(`^${again.pid}-\\d+\\.json$`))]);
    const plan = await sb.imgplan(['plan', a, '--lock-timeout', '0']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toBe('');
  });

  it('20 applies and destroys of the same and of different manifests, started together, never interleave; with a short timeout some are refused, naming the holder', async () => {
    const { images, a, b } = await twoManifests();
    const before = await Promise.all(images.map(sha256));
    const mountpoint = { [a]: sb.path('mnt-a'), [b]: sb.path('mnt-b') };
    const image = { [a]: images[0]!, [b]: images[1]! };

    // sampled all along: never two loops of one image, never two mounts at one mountpoint
    const seen = { loops: 0, mounts: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        seen.loops = Math.max(seen.loops, ...loopsByImage().values());
        seen.mounts = Math.max(seen.mounts, ...mountsByTarget().values());
        await sleep(25);
      }
    })();

    /** One round: `n` runs started together, shuffled; plans read alongside. */
    const round = async (timeout: string, n: number, plans: number): Promise<Run[]> => {
      const kinds = Array.from({ length: n }, (_, i) => [i % 4 < 2 ? 'apply' : 'destroy', i % 2 === 0 ? a : b] as const);
      kinds.sort(() => Math.random() - 0.5);
      const runs = [
        ...kinds.map(([cmd, m]) => start([cmd, m, '--auto-approve', '--lock-timeout', timeout])),
        ...Array.from({ length: plans }, (_, i) => start(['plan', i % 2 ? a : b, '--lock-timeout', timeout])),
      ];
      return Promise.all(runs.map((r) => r.done));
    };
    /** After a round: each manifest is wholly applied (one loop, one mount, plan has nothing to do) or wholly not. */
    const consistent = async () => {
      for (const m of [a, b]) {
        const loops = loopsByImage().get(image[m]!) ?? 0;
        const mounts = mountsByTarget().get(mountpoint[m]!) ?? 0;
        expect(loops, m).toBe(mounts);
        expect(loops, m).toBeLessThanOrEqual(1);
        const plan = await sb.imgplan(['plan', m]);
        expect(plan.code, plan.stderr).toBe(0);
        if (loops) expect(plan.stdout).toContain('No changes.');
        else expect(plan.stdout).toContain('Plan: 3 to add');
      }
    };
    const finished = (r: Run) => [
      /Apply complete! 3 added, 0 changed, 0 destroyed\./, /No changes\. The system matches the manifest\./,
      /Destroy complete! 0 added, 0 changed, 3 destroyed\./, /nothing to destroy/, /Plan: 3 to add/,
    ].some((re) => re.test(r.stdout));

    try {
      // round 1: time enough for all (~20 s one after another on a small machine)
      const t1 = Date.now();
      const first = await round('90', 20, 4);
      const wall1 = Date.now() - t1;
      for (const r of first) {
        expect(r.code, `${r.argv.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0);
        expect(finished(r), `${r.argv.join(' ')}:\n${r.stdout}`).toBe(true);
      }
      // most had to wait: the lock was contended, and each waiter named who it waited for
      const waited = first.filter((r) => r.stderr.includes('Waiting up to 90 s for the lock'));
      expect(waited.length).toBeGreaterThan(5);
      for (const r of waited) expect(r.stderr).toMatch(/held by (pid \d+ \(imgplan (apply|destroy|plan) \S+\.yaml\) since \d{4}-\S+(; )?)+…/);
      await consistent();

      // round 2: a 1 s timeout; the ones refused name a holder, which is one of this round's runs that got through
      const second = await round('1', 20, 0);
      const refused = second.filter((r) => r.code === 7);
      const through = second.filter((r) => r.code === 0);
      expect(refused.length + through.length, second.map((r) => `${r.code} ${r.argv.join(' ')}: ${r.stderr}`).join('\n')).toBe(20);
      expect(refused.length).toBeGreaterThan(0);
      expect(through.length).toBeGreaterThan(0);
      for (const r of through) expect(finished(r), r.stdout).toBe(true);
      const pids = new Set(through.map((r) => String(r.pid)));
      for (const r of refused) {
        // the holders are read one after another: across a handover the one before and the one after can both be named
        const m = /(another imgplan run holds|other imgplan runs hold) the lock: ((?:pid \d+ \(imgplan (?:apply|destroy) \S+\.yaml\), since \d{4}-[^;\s]+(?:; )?)+)/
          .exec(r.stderr);
        expect(m, r.stderr).not.toBeNull();
        const named = [...m![2]!.matchAll(/pid (\d+) /g)].map((x) => x[1]!);
        for (const pid of named) expect(pids.has(pid), `pid ${pid} (in ${m![0]}) is not one of the runs that got through`).toBe(true);
        expect(r.stderr).toContain(named.length === 1 ? 'hint: wait for it to finish' : 'hint: wait for them to finish');
        expect(r.stdout).toBe('');
      }
      await consistent();
      console.log(`lock: round 1 ${first.length} runs in ${wall1} ms (${waited.length} waited); round 2 ${through.length} through, ${refused.length} refused`);

      // applied by one, then by the other: exactly the two loops; destroyed: none
      for (const m of [a, b]) expect((await sb.imgplan(['apply', m, '--auto-approve'])).code).toBe(0);
      expect([...loopsByImage().entries()].sort()).toEqual([[images[0], 1], [images[1], 1]]);
      expect(readFileSync(sb.path('mnt-a/who'), 'utf8')).toBe('a\n');
      for (const m of [a, b]) expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
      expect(loopsByImage().size).toBe(0);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(seen.loops, 'two loop devices of one image at once: two runs interleaved').toBeLessThanOrEqual(1);
    expect(seen.mounts, 'two mounts at one mountpoint at once').toBeLessThanOrEqual(1);
    expect(await Promise.all(images.map(sha256)), 'image contents must not change').toEqual(before);
  });
});
