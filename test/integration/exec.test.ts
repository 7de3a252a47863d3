/**
 * `imgplan exec`: apply, the command in the guest's tree, destroy — always. Real loop devices and
 * mounts on the host kernel; the signals come as a terminal and a service manager send them.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, COMPILE_CACHE, isRoot, sha256, sh, useSandbox } from './harness.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();

/** A guest of two whole-disk images: root (etc/hostname) and boot nested in it, boot listed first. */
async function guest() {
  const images = [
    await sb.wholeImage('root.img', 32, 'ext4', 'root', { 'etc/hostname': 'web01\n', 'boot/': '' }),
    await sb.wholeImage('boot.img', 16, 'ext4', 'boot', { 'vmlinuz-6.1': 'k\n' }),
  ];
  const manifest = sb.writeManifest('web01.yaml', `version: 1
images:
  web01: { file: root.img, format: raw }
  web01-boot: { file: boot.img, format: raw }
mounts:
  - { what: web01-boot, where: ${sb.path('mnt/web01/boot')} }
  - { what: web01, where: ${sb.path('mnt/web01')} }
`);
  return { manifest, images, before: await Promise.all(images.map(sha256)) };
}

const env = (extra: Record<string, string> = {}) => ({ IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', NODE_COMPILE_CACHE: COMPILE_CACHE, ...extra });

function start(args: string[], opts: { input?: string; detached?: boolean; extra?: Record<string, string> } = {}): ResultPromise {
  return execa(process.execPath, [CLI, 'exec', ...args], {
    reject: false, stripFinalNewline: false, cwd: sb.root, env: env(opts.extra), detached: opts.detached === true,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
  });
}

async function exec(args: string[], opts: { input?: string; extra?: Record<string, string> } = {}) {
  const r = await start(args, opts);
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Resolves once the running exec says its command has started. */
function started(p: ResultPromise): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    p.stderr!.on('data', (d: Buffer) => {
      seen += String(d);
      if (seen.includes('imgplan: running ')) resolve();
    });
    void p.then(() => reject(new Error(`exec ended before its command started:\n${seen}`)));
  });
}

async function closed(g: { images: string[]; before: string[] }) {
  expect(await sb.leaks()).toEqual([]);
  expect(existsSync(sb.path('mnt'))).toBe(false);
  expect(await Promise.all(g.images.map(sha256))).toEqual(g.before);
}

describeRoot('imgplan exec (host kernel)', () => {
  it('runs the command in the guest root with the variables, passes its status and its stdout through, then closes the guest', async () => {
    const g = await guest();
    const r = await exec([g.manifest, '--auto-approve', '--', 'sh', '-c',
      'pwd; cat etc/hostname; ls boot; echo "$IMGPLAN_ROOT|$IMGPLAN_MOUNT_WEB01_BOOT|$IMGPLAN_MANIFEST"; findmnt -n -o OPTIONS --target . | tr , "\\n" | grep -x ro; exit 7']);
    expect(r.code, r.stderr).toBe(7);
    // stdout is the command's alone: imgplan's plan and progress went to stderr
    expect(r.stdout).toBe(`${sb.path('mnt/web01')}\nweb01\nlost+found\nvmlinuz-6.1\n${sb.path('mnt/web01')}|${sb.path('mnt/web01/boot')}|${g.manifest}\nro\n`);
    expect(r.stderr).toContain('Apply complete! 6 added');
    expect(r.stderr).toContain(`exited with status 7; unmounting and detaching.`);
    expect(r.stderr).toContain('Destroy complete!');
    // the teardown's plan is not shown a second time: only apply's has "will perform"
    expect(r.stderr.match(/imgplan will (perform|undo)/g)).toEqual(['imgplan will perform']);
    await closed(g);

    const missing = await exec([g.manifest, '--auto-approve', '--', 'no-such-command-imgplan']);
    expect(missing.code, missing.stderr).toBe(127);
    expect(missing.stderr).toContain('could not be started: not found');
    await closed(g);
    // no execute bit: even root may not run it
    writeFileSync(sb.path('notes.txt'), 'not a program\n', { mode: 0o644 });
    const notRunnable = await exec([g.manifest, '--auto-approve', '--', sb.path('notes.txt')]);
    expect(notRunnable.code, notRunnable.stderr).toBe(126);
    await closed(g);
  });

  it('without a command it starts $SHELL there; the shell\'s status is exec\'s', async () => {
    const g = await guest();
    const r = await exec([g.manifest, '--auto-approve'], { input: 'cat etc/hostname; exit 4\n', extra: { SHELL: '/bin/sh' } });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toBe('web01\n');
    expect(r.stderr).toContain('imgplan: running /bin/sh in');
    await closed(g);
  });

  it('SIGTERM to imgplan reaches the command; the guest is closed, then exec exits 143', async () => {
    const g = await guest();
    const p = start([g.manifest, '--auto-approve', '--', 'sleep', '60']);
    await started(p);
    expect(await sb.leaks()).not.toEqual([]);
    process.kill(p.pid!, 'SIGTERM');
    const r = await p;
    expect(r.exitCode, String(r.stderr)).toBe(143);
    expect(String(r.stderr)).toContain('was ended by SIGTERM; unmounting and detaching.');
    expect(String(r.stderr)).toContain('Destroy complete!');
    await closed(g);
  });

  it('Ctrl-C (SIGINT to the whole process group, as a terminal sends it): the command ends, the guest is closed, exit 130', async () => {
    const g = await guest();
    const p = start([g.manifest, '--auto-approve', '--', 'sleep', '60'], { detached: true });
    await started(p);
    process.kill(-p.pid!, 'SIGINT');
    const r = await p;
    expect(r.exitCode, String(r.stderr)).toBe(130);
    expect(String(r.stderr)).toContain('was ended by SIGINT');
    await closed(g);
  });

  it('refusals change nothing and exit 125: already applied, no terminal without --auto-approve, bad usage', async () => {
    const g = await guest();
    const noTty = await exec([g.manifest, '--', 'true']);
    expect(noTty.code, noTty.stderr).toBe(125);
    expect(noTty.stderr).toContain('standard input is not a terminal');
    expect(noTty.stderr).toContain('the command was not run');
    await closed(g);
    expect((await exec([])).code).toBe(125);
    expect((await exec([g.manifest, '--auto-approve', '--lock-timeout', 'soon', '--', 'true'])).code).toBe(125);

    expect((await sb.imgplan(['apply', g.manifest, '--auto-approve'])).code).toBe(0);
    const again = await exec([g.manifest, '--auto-approve', '--', 'touch', sb.path('ran')]);
    expect(again.code, again.stderr).toBe(125);
    expect(again.stderr).toMatch(/is already applied \(its journal holds [^)]*mount:/);
    expect(existsSync(sb.path('ran'))).toBe(false);
    // what the earlier apply made is still there, untouched
    expect(readFileSync(sb.path('mnt/web01/etc/hostname'), 'utf8')).toBe('web01\n');
    expect((await sb.imgplan(['destroy', g.manifest, '--auto-approve'])).code).toBe(0);
    await closed(g);
  });

  it('a teardown that cannot finish (the command left a process in the guest): 125, what is left is listed; destroy removes it later', async () => {
    const g = await guest();
    const pidFile = sb.path('bg.pid');
    const r = await exec([g.manifest, '--auto-approve', '--', 'sh', '-c', `sleep 120 </dev/null >/dev/null 2>&1 & echo $! > ${pidFile}`]);
    const bg = Number(readFileSync(pidFile, 'utf8'));
    try {
      expect(r.code, r.stderr).toBe(125);
      expect(r.stderr).toContain('exited with status 0; unmounting and detaching.');
      expect(r.stderr).toContain('Left behind:');
      expect(r.stderr).toContain(`the guest was not closed completely (above); run "imgplan destroy ${g.manifest}". The command's status was 0.`);
    } finally {
      process.kill(bg, 'SIGKILL');
      await sh(['sh', '-c', `while kill -0 ${bg} 2>/dev/null; do sleep 0.1; done`]);
    }
    const d = await sb.imgplan(['destroy', g.manifest, '--auto-approve']);
    expect(d.code, d.stdout + d.stderr).toBe(0);
    await closed(g);
  });
});

describeRoot('the confirmation prompt on a terminal (a pty made by util-linux script)', () => {
  /** runs imgplan ARGS on a pseudo-terminal; each time its output shows the next prompt, types that prompt's keys */
  async function onTerminal(args: string[], ...typed: readonly (readonly [string, string])[]) {
    const p = execa('script', ['-qec', [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], {
      reject: false, cwd: sb.root, env: env({ SHELL: '/bin/sh' }), stdin: 'pipe', timeout: 60_000,
    });
    let seen = '';
    const left = [...typed];
    p.stdout!.on('data', (d: Buffer) => {
      seen += String(d);
      while (left.length && seen.includes(left[0]![0])) {
        seen = seen.slice(seen.indexOf(left[0]![0]) + left[0]![0].length);
        p.stdin!.write(left.shift()![1]);
      }
    });
    const r = await p;
    return { code: r.exitCode, out: String(r.stdout) };
  }

  it('Ctrl-C at the question is a "no": apply is cancelled (5), exec too (125), nothing changed', async () => {
    const g = await guest();
    const apply = await onTerminal(['apply', g.manifest], ['Enter a value:', '\x03']);
    expect(apply.code, apply.out).toBe(5);
    expect(apply.out).toContain('Apply cancelled; nothing was changed.');
    expect(apply.out).not.toContain('internal error');
    const ex = await onTerminal(['exec', g.manifest, '--', 'touch', sb.path('ran')], ['Enter a value:', '\x03']);
    expect(ex.code, ex.out).toBe(125);
    expect(ex.out).toContain('exec: cancelled; nothing was changed; the command was not run.');
    expect(existsSync(sb.path('ran'))).toBe(false);
    await closed(g);
  });

  it('"yes", then the shell has the terminal; exiting it closes the guest', async () => {
    const g = await guest();
    const r = await onTerminal(['exec', g.manifest], ['Enter a value:', 'yes\n'], ['imgplan: running /bin/sh', 'cat etc/hostname; tty; exit 3\n']);
    expect(r.code, r.out).toBe(3);
    expect(r.out).toMatch(/web01\r?\n\/dev\/pts\/\d+/);
    await closed(g);
  });
});
