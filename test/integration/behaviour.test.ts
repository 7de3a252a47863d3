import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, isRoot, useSandbox, sh, sha256 } from './harness.js';
import { read, runProtocol } from './protocol.js';

const describeRoot = isRoot ? describe : describe.skip;

const sb = useSandbox();

async function ourLoops(): Promise<string[]> {
  const t = await sh(['losetup', '--list', '--json', '--output', 'NAME,BACK-FILE']);
  const loops = t.trim() ? (JSON.parse(t) as { loopdevices: { name: string; 'back-file': string }[] }).loopdevices : [];
  return loops.filter((l) => l['back-file']?.startsWith(sb.root)).map((l) => l.name);
}

describeRoot('behaviour on a real kernel', () => {
  it('cloned xfs images (same UUID) mount side by side with nouuid on the second', async () => {
    const a = await sb.wholeImage('a.img', 320, 'xfs', 'clone', { 'who': 'a\n' });
    copyFileSync(a, sb.path('b.img'));
    const ma = sb.writeManifest('a.yaml', `version: 1\nimages:\n  a: { file: a.img, format: raw }\nmounts:\n  - { what: a, where: ${sb.path('a')} }\n`);
    const mb = sb.writeManifest('b.yaml', `version: 1\nimages:\n  b: { file: b.img, format: raw }\nmounts:\n  - { what: b, where: ${sb.path('b')} }\n`);
    expect((await sb.imgplan(['apply', ma, '--auto-approve'])).code).toBe(0);
    try {
      const plan = await sb.imgplan(['plan', mb]);
      expect(plan.stdout).toContain('-o ro,norecovery,nouuid');
      await runProtocol(sb, { manifest: mb, images: [sb.path('b.img')], createdDirs: [sb.path('b')], whileApplied: () => expect(read(sb.path('b/who'))).toBe('a\n') });
    } finally {
      expect((await sb.imgplan(['destroy', ma, '--auto-approve'])).code).toBe(0);
    }
  });

  it('leaves alone what an admin attached and mounted by hand', async () => {
    const img = await sb.wholeImage('hand.img', 32, 'ext4', 'hand', { 'f.txt': 'by hand\n' });
    mkdirSync(sb.path('hand'));
    const loop = (await sh(['losetup', '--find', '--show', '--read-only', img])).trim();
    await sh(['mount', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', loop, sb.path('hand')]);
    try {
      const m = sb.writeManifest('hand.yaml', `version: 1\nimages:\n  h: { file: hand.img, format: raw }\nmounts:\n  - { what: h, where: ${sb.path('hand')} }\n`);
      const apply = await sb.imgplan(['apply', m, '--auto-approve']);
      expect(apply.code).toBe(0);
      expect(apply.stdout).toContain(`= attach:h`);
      expect(apply.stdout).toContain('already present, not made by imgplan');
      expect(apply.stdout).toContain('No changes.');
      const destroy = await sb.imgplan(['destroy', m, '--auto-approve']);
      expect(destroy.code).toBe(0);
      expect(destroy.stdout).toContain('nothing to destroy');
      expect(read(sb.path('hand/f.txt'))).toBe('by hand\n');
      expect(await ourLoops()).toEqual([loop]);
    } finally {
      await sh(['umount', sb.path('hand')]);
      await sh(['losetup', '--detach', loop]);
    }
  });

  it('refuses bad input with file:line:col, exit 3, and touches nothing', async () => {
    await sb.wholeImage('ok.img', 32, 'ext4');
    mkdirSync(sb.path('full'));
    writeFileSync(sb.path('full/keep.txt'), 'x');
    const cases: [string, RegExp][] = [
      [`version: 1\nimages:\n  web01:\n    file: missing.img\n    format: raw\nmounts:\n  - { what: web01, where: ${sb.path('x')} }\n`, /:4:11: error: image file .*missing\.img does not exist/],
      [`version: 1\nimages:\n  ok: { file: ok.img, format: raw }\nmounts:\n  - what: ok\n    where: ${sb.path('y')}\n    type: xfs\n`, /:7:11: error: type xfs given, but blkid finds ext4 in ok/],
      [`version: 1\nimages:\n  ok: { file: ok.img, format: raw }\nmounts:\n  - what: ok\n    where: ${sb.path('full')}\n`, /:6:12: error: mountpoint .*full is not empty/],
      [`version: 1\nimages:\n  ok: { file: ok.img, format: raw }\nmounts:\n  - what: ok/part1\n    where: ${sb.path('z')}\n`, /:5:11: error: image ok has no partition table \(it holds one ext4 filesystem\)/],
      [`version: 1\nimages:\n  ok: { file: ok.img, format: raw, access: read-write }\nmounts:\n  - { what: ok, where: ${sb.path('w')} }\n`, /:3:44: error: image ok asks for read-write access/],
    ];
    for (const [i, [yaml, want]] of cases.entries()) {
      const m = sb.writeManifest(`bad${i}.yaml`, yaml);
      for (const cmd of ['plan', 'apply']) {
        const r = await sb.imgplan([cmd, m, '--auto-approve'].slice(0, cmd === 'plan' ? 2 : 3));
        expect(r.code, `${cmd} bad${i}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toMatch(want);
        expect(r.stderr).toContain('hint:');
        expect(r.stdout).toBe('');
      }
    }
    expect(await ourLoops()).toEqual([]);
    for (const d of ['x', 'y', 'z', 'w']) expect(existsSync(sb.path(d))).toBe(false);
  });

  it('refuses a hostile manifest (alias bomb, not UTF-8, unnormalised path) with exit 3 and attaches nothing', async () => {
    await sb.wholeImage('ok.img', 32, 'ext4');
    const mount = `mounts:\n  - { what: ok, where: ${sb.path('h')} }\n`;
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) =>
      `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)];
    sb.writeManifest('bomb.yaml', `version: 1\nimages:\n  ok: { file: ok.img, format: raw }\n${mount}lol:\n${bomb.map((l) => `  ${l}\n`).join('')}`);
    writeFileSync(sb.path('latin1.yaml'), Buffer.concat([
      Buffer.from(`version: 1\nimages:\n  ok: { file: ok.img, format: raw, description: "caf`), Buffer.from([0xe9]), Buffer.from(`" }\n${mount}`)]));
    sb.writeManifest('dotdot.yaml', `version: 1\nimages:\n  ok: { file: ok.img, format: raw }\nmounts:\n  - what: ok\n    where: ${sb.path('h')}/../h\n`);
    const cases: [string, RegExp][] = [
      ['bomb.yaml', /bomb\.yaml:11:10: error: YAML aliases expand the manifest by more than 10000 values here \(at \*d\): refused as a possible alias bomb/],
      ['latin1.yaml', /latin1\.yaml:3:53: error: the manifest is not valid UTF-8: byte 0xe9 at byte offset 71/],
      ['dotdot.yaml', /dotdot\.yaml:6:12: error: mounts\[0\]\.where ".*\/h\/\.\.\/h" is not a normalised path: it has a "\.\." component\n(.*\n)*  hint: write it as \/tmp\/.*\/h\n/],
    ];
    for (const [file, want] of cases) {
      for (const cmd of ['validate', 'plan', 'apply']) {
        const r = await sb.imgplan([cmd, sb.path(file), ...(cmd === 'apply' ? ['--auto-approve'] : [])]);
        expect(r.code, `${cmd} ${file}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toMatch(want);
        expect(r.stderr).toContain('hint:');
        expect(r.stderr).not.toContain('internal error');
        expect(r.stdout).toBe('');
      }
    }
    expect(await ourLoops()).toEqual([]);
    expect(existsSync(sb.path('h'))).toBe(false);
  });

  it('a failed step rolls back everything this run did (exit 1)', async () => {
    // the nested mountpoint does not exist inside the parent filesystem: only apply can find out
    const img = await sb.partitionedImage('nested.img', 64, 'dos', [
      { size: '16M', fs: 'ext4', label: 'boot' },
      { fs: 'ext4', label: 'root', files: { 'etc/hostname': 'x\n' } },
    ]);
    const m = sb.writeManifest('nested.yaml', `version: 1\nimages:\n  n: { file: nested.img, format: raw }\nmounts:\n  - { what: n/part2, where: ${sb.path('root')} }\n  - { what: n/part1, where: ${sb.path('root/boot')} }\n`);
    const before = await sha256(img);
    const r = await sb.imgplan(['apply', m, '--auto-approve']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/Error: mount:.*root\/boot: mount -c -i -t ext4/);
    expect(r.stderr).toMatch(/Rolled back: \n(  .*\n){4}/);
    expect(r.stderr).toContain('Left behind: none');
    expect(r.stderr).toContain('Everything this run did was undone.');
    expect(await ourLoops()).toEqual([]);
    expect(existsSync(sb.path('root'))).toBe(false);
    expect(await sha256(img)).toBe(before);
  });

  it('a busy unmount is retried, the holders shown, and what stays is listed (exit 4)', async () => {
    const img = await sb.wholeImage('busy.img', 32, 'ext4', 'busy', { 'd/f': 'x' });
    const m = sb.writeManifest('busy.yaml', `version: 1\nimages:\n  b: { file: busy.img, format: raw }\nmounts:\n  - { what: b, where: ${sb.path('busy')} }\n`);
    expect((await sb.imgplan(['apply', m, '--auto-approve'])).code).toBe(0);
    const holder = execa('sleep', ['60'], { cwd: sb.path('busy/d'), reject: false });
    try {
      const r = await sb.imgplan(['destroy', m, '--auto-approve']);
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(r.stdout).toContain('busy; retrying');
      expect(r.stderr).toContain('Processes using it:');
      expect(r.stderr).toMatch(/sleep/);
      expect(r.stderr).toMatch(/Left behind: \n  mount:.*busy: still present \(its removal failed/);
      expect(r.stderr).toMatch(/attach:b: still present \(removal not attempted/);
      expect(r.stderr).toContain('run "imgplan destroy"');
    } finally {
      holder.kill();
      await holder;
    }
    const again = await sb.imgplan(['destroy', m, '--auto-approve']);
    expect(again.code, again.stderr).toBe(0);
    expect(await sb.leaks()).toEqual([]);
    void img;
  });

  it('read-write needs --allow-writes, and then writes reach the image', async () => {
    const img = await sb.wholeImage('rw.img', 32, 'ext4', 'rw');
    const m = sb.writeManifest('rw.yaml', `version: 1\nimages:\n  rw: { file: rw.img, format: raw, access: read-write }\nmounts:\n  - { what: rw, where: ${sb.path('rw')} }\n`);
    expect((await sb.imgplan(['apply', m, '--auto-approve'])).code).toBe(3);
    const before = await sha256(img);
    const plan = await sb.imgplan(['plan', m, '--allow-writes']);
    expect(plan.stdout).toContain('WRITABLE: rw');
    expect(plan.stdout).not.toContain('--read-only');
    expect((await sb.imgplan(['apply', m, '--auto-approve', '--allow-writes'])).code).toBe(0);
    writeFileSync(sb.path('rw/new.txt'), 'written\n');
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
    expect(await sha256(img)).not.toBe(before);
  });

  it('asks for "yes" on a terminal; anything else cancels with exit 5', async () => {
    await sb.wholeImage('tty.img', 32, 'ext4');
    const m = sb.writeManifest('tty.yaml', `version: 1\nimages:\n  t: { file: tty.img, format: raw }\nmounts:\n  - { what: t, where: ${sb.path('tty')} }\n`);
    // script(1) gives the CLI a pseudo-terminal; "no" is typed at the prompt
    const r = await execa('script', ['-qec', `${process.execPath} ${CLI} apply ${m}; echo "exit=$?"`, '/dev/null'], {
      input: 'no\n', reject: false, env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1' },
    });
    expect(r.stdout).toContain("Only 'yes' will be accepted to approve.");
    expect(r.stdout).toContain('Apply cancelled; nothing was changed.');
    expect(r.stdout).toContain('exit=5');
    expect(existsSync(sb.path('tty'))).toBe(false);
    const noTty = await sb.imgplan(['apply', m]);
    expect(noTty.code).toBe(3);
    expect(noTty.stderr).toContain('--auto-approve');
  });
});
