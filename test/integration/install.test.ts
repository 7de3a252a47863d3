/**
 * scripts/install.sh into a temporary PREFIX: the launcher runs the bundle on the right Node.js,
 * a second install gives the same result, and --uninstall leaves PREFIX exactly as it was (nothing
 * of imgplan's left, nothing else removed). Root only, like the other integration tests (the real
 * install goes to /usr/local as root).
 */
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRoot } from './harness.js';

const REPO = join(import.meta.dirname, '../..');
const INSTALL = join(REPO, 'scripts/install.sh');
const RUNTIME = join(REPO, '.runtime/node');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

/** Every path under dir with its type, mode and size (or link target), sorted. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = p.slice(dir.length);
      out.push(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${rel} ${(st.mode & 0o7777).toString(8)} ${st.isFile() ? st.size : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** A node that says it is Node.js 18, first on PATH. */
function fakeNodeDir(tmp: string): string {
  const bin = join(tmp, 'fake-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'node'), '#!/bin/sh\necho v18.20.4\n');
  chmodSync(join(bin, 'node'), 0o755);
  return bin;
}

const run = (argv: string[], env: Record<string, string> = {}) =>
  execa(argv[0]!, argv.slice(1), { reject: false, stdin: 'ignore', env: { NO_COLOR: '1', ...env } });

describe.skipIf(!isRoot)('scripts/install.sh', () => {
  let tmp = '';
  beforeEach(() => {
    tmp = mkdtempSync('/tmp/imgplan-it-install-');
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('installs, runs, re-installs to the same result, and uninstalls exactly what it installed', async () => {
    const prefix = join(tmp, 'prefix');
    // what was there before: a file, and a directory an install also puts files in
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    writeFileSync(join(prefix, 'bin', 'other-tool'), 'not imgplan\n');
    const before = snapshot(prefix);

    const first = await run(['bash', INSTALL, '--prefix', prefix]);
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    const launcher = join(prefix, 'bin/imgplan');
    expect(readFileSync(launcher, 'utf8')).toMatch(/^#!\/bin\/sh\n/);
    const version = await run([launcher, '--version']);
    expect(version.stdout.trim()).toBe(pkg.version);
    const m = join(tmp, 'm.yaml');
    writeFileSync(m, 'version: 1\nimages:\n  m: { file: m.img, format: raw }\nmounts:\n  - { what: m, where: /mnt/m }\n');
    const validate = await run([launcher, 'validate', m]);
    expect(validate.stdout).toMatch(/valid \(1 image, 1 mount\)/);
    expect(validate.exitCode).toBe(0);

    const record = readFileSync(join(prefix, 'lib/imgplan/installed-files'), 'utf8');
    expect(record).toMatch(new RegExp(`^f ${prefix}/lib/imgplan/imgplan\\.mjs$`, 'm'));
    expect(record).toMatch(new RegExp(`^f ${prefix}/bin/imgplan$`, 'm'));
    expect(record).not.toMatch(new RegExp(`^[fd] ${prefix}/bin$`, 'm')); // it was there before
    const installed = snapshot(prefix);

    const again = await run(['bash', INSTALL, '--prefix', prefix]);
    expect(again.exitCode).toBe(0);
    expect(snapshot(prefix)).toEqual(installed);
    expect(readFileSync(join(prefix, 'lib/imgplan/installed-files'), 'utf8')).toBe(record);

    const un = await run(['bash', INSTALL, '--prefix', prefix, '--uninstall']);
    expect(un.exitCode).toBe(0);
    expect(snapshot(prefix)).toEqual(before);
    // a second uninstall finds nothing to do
    expect((await run(['bash', INSTALL, '--prefix', prefix, '--uninstall'])).exitCode).toBe(0);
    expect(snapshot(prefix)).toEqual(before);
  });

  it.skipIf(!existsSync(join(RUNTIME, 'bin/node')))('installs the pinned runtime when the node on PATH is too old, and the launcher runs on it', async () => {
    const prefix = join(tmp, 'prefix');
    const fake = fakeNodeDir(tmp);
    const path = `${fake}:${process.env.PATH ?? '/usr/bin:/bin'}`;
    const r = await run(['bash', INSTALL, '--prefix', prefix], { PATH: path });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/installing the pinned Node\.js/);
    const node = join(prefix, 'lib/imgplan/node/bin/node');
    expect(lstatSync(node).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(prefix, 'bin/imgplan'), 'utf8')).toContain(`exec '${node}' '${join(prefix, 'lib/imgplan/imgplan.mjs')}' "$@"`);
    // the fake node on PATH says v18 and runs nothing: the launcher must not use it
    const version = await run([join(prefix, 'bin/imgplan'), '--version'], { PATH: path });
    expect(version.stderr).toBe('');
    expect(version.stdout.trim()).toBe(pkg.version);
    expect((await run(['bash', INSTALL, '--prefix', prefix, '--uninstall'])).exitCode).toBe(0);
    // PREFIX did not exist: the install made it, the uninstall removed it
    expect(readdirSync(tmp)).toEqual(['fake-bin']);
  });

  it.skipIf(!existsSync(join(RUNTIME, 'bin/node')))('from a release layout (install.sh beside imgplan.mjs, node/, share/), into DESTDIR', async () => {
    // the layout a release tarball has; share/ holds what the docs build makes in dist/share
    const rel = join(tmp, 'release');
    mkdirSync(join(rel, 'share/man/man1'), { recursive: true });
    mkdirSync(join(rel, 'share/bash-completion/completions'), { recursive: true });
    copyFileSync(INSTALL, join(rel, 'install.sh'));
    mkdirSync(join(rel, 'lib'));
    copyFileSync(join(REPO, 'scripts/lib/runtime.sh'), join(rel, 'lib/runtime.sh'));
    copyFileSync(join(REPO, 'scripts/node-runtime.env'), join(rel, 'node-runtime.env'));
    copyFileSync(join(REPO, 'dist/imgplan.mjs'), join(rel, 'imgplan.mjs'));
    symlinkSync(RUNTIME, join(rel, 'node'));
    writeFileSync(join(rel, 'share/man/man1/imgplan.1'), '.TH IMGPLAN 1\n');
    writeFileSync(join(rel, 'share/bash-completion/completions/imgplan'), 'complete -F _imgplan imgplan\n');
    const stage = join(tmp, 'stage');
    mkdirSync(join(stage, 'usr/share/man/man1'), { recursive: true });
    writeFileSync(join(stage, 'usr/share/man/man1/ls.1'), 'not imgplan\n');
    const before = snapshot(stage);

    const r = await run(['bash', join(rel, 'install.sh'), '--prefix', '/usr', '--with-runtime'], { DESTDIR: stage });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(stage, 'usr/share/man/man1/imgplan.1'), 'utf8')).toBe('.TH IMGPLAN 1\n');
    expect(existsSync(join(stage, 'usr/share/bash-completion/completions/imgplan'))).toBe(true);
    expect(existsSync(join(stage, 'usr/lib/imgplan/node/bin/node'))).toBe(true);
    // the launcher and the record name the final paths, not DESTDIR
    expect(readFileSync(join(stage, 'usr/bin/imgplan'), 'utf8')).toContain("exec '/usr/lib/imgplan/node/bin/node' '/usr/lib/imgplan/imgplan.mjs' \"$@\"");
    const record = readFileSync(join(stage, 'usr/lib/imgplan/installed-files'), 'utf8');
    expect(record).toMatch(/^f \/usr\/share\/man\/man1\/imgplan\.1$/m);
    expect(record).not.toContain(stage);

    expect((await run(['bash', join(rel, 'install.sh'), '--prefix', '/usr', '--uninstall'], { DESTDIR: stage })).exitCode).toBe(0);
    expect(snapshot(stage)).toEqual(before);
  });

  it('refuses a record that names a path outside PREFIX, and removes nothing', async () => {
    const prefix = join(tmp, 'prefix');
    mkdirSync(join(prefix, 'lib/imgplan'), { recursive: true });
    const victim = join(tmp, 'victim');
    writeFileSync(victim, 'keep me\n');
    writeFileSync(join(prefix, 'lib/imgplan/installed-files'), `f ${victim}\n`);
    const r = await run(['bash', INSTALL, '--prefix', prefix, '--uninstall']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/outside/);
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
  });
});
