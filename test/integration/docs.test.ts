import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, EXAMPLES, PROGRAM_EXAMPLES } from '../../src/cli/program.js';
import { EXIT } from '../../src/errors.js';
import { CLI } from './harness.js';

// The man pages and the completion that `npm run build:docs` writes (scripts/gen-docs.mjs, from
// the built program): they must name every command and option there is, pass groff without a
// warning, and really complete in bash and zsh. Needs the build (dist/), not root.

const ROOT = join(import.meta.dirname, '../..');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
let tmp: string;
let share: string;
let work: string;
let bin: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'imgplan-docs-'));
  share = join(tmp, 'share');
  execFileSync(process.execPath, [join(ROOT, 'scripts/gen-docs.mjs'), '--out', share, '--quiet']);
  // imgplan on PATH, as the completion calls it for --target
  bin = join(tmp, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'imgplan'), `#!/bin/sh\nexec node ${CLI} "$@"\n`);
  chmodSync(join(bin, 'imgplan'), 0o755);
  work = join(tmp, 'work');
  mkdirSync(join(work, 'sub'), { recursive: true });
  writeFileSync(join(work, 'rescue.yaml'), [
    'version: 1', 'images:', '  web01:', '    file: web01.img', '    format: raw', '    partitions: offset-loops',
    '  data:', '    file: data.qcow2', '    format: qcow2', '    qemu_backend: nbd',
    'mounts:', `  - { what: web01/part3, where: ${work}/mnt/web01 }`, `  - { what: web01/part1, where: ${work}/mnt/web01/boot }`,
    `  - { what: data, where: ${work}/mnt/data }`, '',
  ].join('\n'));
  for (const f of ['other.yml', 'saved.plan', 'notes.txt']) writeFileSync(join(work, f), '');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every command of the program, with its path, depth first (commander's implicit help left out). */
function commands(cmd: Command, path: string[] = []): { cmd: Command; path: string }[] {
  const help = cmd.createHelp();
  return help.visibleCommands(cmd).filter((c) => c.name() !== 'help')
    .flatMap((c) => [{ cmd: c, path: [...path, c.name()].join(' ') }, ...commands(c, [...path, c.name()])]);
}
const program = buildProgram();
const all = commands(program);
const roffLit = (s: string) => s.replace(/-/g, '\\-');
const addresses = () => [`attach:data`, `attach:web01/part1`, `attach:web01/part3`, `dir:${work}/mnt`, `dir:${work}/mnt/data`, `dir:${work}/mnt/web01`,
  `mount:${work}/mnt/data`, `mount:${work}/mnt/web01`, `mount:${work}/mnt/web01/boot`, 'nbd:data'];

describe('--help', () => {
  it.each(all.filter((c) => EXAMPLES[c.path]))('imgplan $path --help ends with its examples', ({ cmd, path }) => {
    let text = '';
    cmd.configureOutput({ writeOut: (s) => (text += s) });
    cmd.outputHelp();
    expect(text).toContain('\nExamples:\n');
    for (const e of EXAMPLES[path]!) expect(text).toContain(`  # ${e.says}\n  ${e.command}\n`);
  });

  it('gives examples for every command', () => {
    expect(all.filter((c) => c.cmd.commands.length === 0 && !EXAMPLES[c.path]).map((c) => c.path)).toEqual([]);
  });

  const examples = [...PROGRAM_EXAMPLES, ...Object.values(EXAMPLES).flat()];
  it.each(examples)('example "$command" is a command line imgplan accepts', async ({ command }) => {
    const words = [...command.split(/\s*[|>]/)[0]!.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
    expect(words[0]).toBe('imgplan');
    const ran: string[] = [];
    const p = buildProgram({ run: async (n) => (ran.push(n), 0), inspect: async () => (ran.push('inspect'), 0), init: async () => (ran.push('init'), 0), exec: async () => (ran.push('exec'), 0), captureState: async () => (ran.push('capture-state'), 0), complete: async () => 0, readGuest: async () => 0, exit: () => {} });
    p.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    await expect(p.parseAsync(words.slice(1), { from: 'user' }).then(() => 'parsed', (e: { code?: string }) => e.code))
      .resolves.toMatch(/^(parsed|commander\.helpDisplayed)$/);
  });
});

describe('imgplan(1) and imgplan-manifest(5)', () => {
  const man1 = () => readFileSync(join(share, 'man/man1/imgplan.1'), 'utf8');
  const man5 = () => readFileSync(join(share, 'man/man5/imgplan-manifest.5'), 'utf8');

  it('names every command, argument and option of the program', () => {
    const text = man1();
    for (const { cmd, path } of all) {
      expect(text, path).toContain(`\\fBimgplan ${roffLit(path)}\\fR`);
      for (const a of cmd.registeredArguments) expect(text, `${path} ${a.name()}`).toContain(`\\fI${a.name()}\\fR`);
      for (const o of cmd.options) expect(text, `${path} ${o.flags}`).toContain(roffLit(o.long!));
    }
    for (const o of program.options) expect(text).toContain(roffLit(o.flags));
    expect(text).not.toContain('__complete');
  });

  it('has the sections of a man page, every exit code and the environment', () => {
    const text = man1();
    for (const s of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'OPTIONS', '"EXIT STATUS"', 'ENVIRONMENT', 'FILES', 'EXAMPLES', '"SEE ALSO"']) {
      expect(text).toMatch(new RegExp(`^\\.SH ${s}$`, 'm'));
    }
    const exit = text.slice(text.indexOf('.SH "EXIT STATUS"'), text.indexOf('.SH ENVIRONMENT'));
    for (const code of new Set(Object.values(EXIT))) expect(exit).toMatch(new RegExp(`^\\.B (\\d+, )*${code}(, \\d+)*$`, 'm'));
    for (const v of ['IMGPLAN_STATE_DIR', 'IMGPLAN_DEBUG', 'NO_COLOR']) expect(text).toContain(v);
    for (const e of Object.values(EXAMPLES).flat()) expect(text).toContain(roffLit(e.command));
  });

  it('lists every field of the manifest schema', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/manifest.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>; $defs: Record<string, { properties: Record<string, unknown> }>;
    };
    const fields = [...Object.keys(schema.properties), ...Object.keys(schema.$defs.image!.properties).map((k) => `images.NAME.${k}`),
      ...Object.keys(schema.$defs.mount!.properties).map((k) => `mounts[].${k}`)];
    const text = man5();
    for (const f of fields) expect(text).toMatch(new RegExp(`^\\\\fB${roffLit(f).replace(/[[\]\\.]/g, (c) => `\\${c}`)}\\\\fR \\(`, 'm'));
  });

  it.each(['man1/imgplan.1', 'man5/imgplan-manifest.5'])('%s: groff and man report no warning', (page) => {
    const file = join(share, 'man', page);
    const groff = spawnSync('groff', ['-man', '-ww', '-z', file], { encoding: 'utf8' });
    expect(groff.error).toBeUndefined();
    expect(groff.stderr).toBe('');
    expect(groff.status).toBe(0);
    if (has('man')) {
      const man = spawnSync('man', ['--warnings', '-l', file], { encoding: 'utf8', env: { ...process.env, MANPAGER: 'cat', MANWIDTH: '80' } });
      expect(man.stderr).toBe('');
      expect(man.stdout).toMatch(/^NAME$/m);
    }
  });
});

describe('imgplan __complete addresses', () => {
  const complete = (...args: string[]) => execFileSync(process.execPath, [CLI, '__complete', 'addresses', ...args],
    { cwd: work, encoding: 'utf8', env: { ...process.env, IMGPLAN_STATE_DIR: join(tmp, 'state') } });

  it('prints the addresses a plan of the manifest can name, from the manifest alone', () => {
    expect(complete('rescue.yaml').split('\n').filter(Boolean)).toEqual(addresses());
  });

  it('prints nothing, and exits 0, for a file that is no manifest', () => {
    expect(complete('notes.txt')).toBe('');
    expect(complete('missing.yaml')).toBe('');
  });
});

describe('bash completion', () => {
  /** COMPREPLY for a command line whose last word is being completed; COMP_WORDS split as bash splits them (at ":"). */
  function bash(...words: string[]): string[] {
    const script = `source ${join(share, 'bash-completion/completions/imgplan')}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_imgplan; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script], { cwd: work, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  }

  it('completes commands and subcommands', () => {
    expect(bash('imgplan', 'pl')).toEqual(['plan']);
    expect(bash('imgplan', '')).toEqual(['plan', 'apply', 'destroy', 'inspect', 'init', 'exec', 'validate', 'show', 'graph', 'debug', 'help']);
    expect(bash('imgplan', 'debug', 'c')).toEqual(['capture-state']);
  });

  it('completes each command\'s options', () => {
    expect(bash('imgplan', 'apply', '--auto')).toEqual(['--auto-approve']);
    expect(bash('imgplan', 'plan', 'rescue.yaml', '--d')).toEqual(['--destroy', '--detailed-exitcode']);
    for (const { cmd, path } of all.filter((c) => c.cmd.commands.length === 0)) {
      expect(bash('imgplan', ...path.split(' '), '--')).toEqual(expect.arrayContaining(cmd.options.map((o) => o.long)));
    }
  });

  it('completes manifests, saved plans and folders where a command takes them', () => {
    expect(bash('imgplan', 'plan', '')).toEqual(['other.yml', 'rescue.yaml', 'sub']);
    expect(bash('imgplan', 'apply', '')).toEqual(['other.yml', 'rescue.yaml', 'saved.plan', 'sub']);
    expect(bash('imgplan', 'show', '')).toEqual(['saved.plan', 'sub']);
    expect(bash('imgplan', 'plan', '--lock-timeout', '')).toEqual([]);
  });

  it('completes exec\'s command after the manifest: a program, then its arguments as files', () => {
    expect(bash('imgplan', 'exec', '')).toEqual(['other.yml', 'rescue.yaml', 'sub']);
    expect(bash('imgplan', 'exec', 'rescue.yaml', '--', 'lsbl')).toEqual(['lsblk']);
    expect(bash('imgplan', 'exec', 'rescue.yaml', '--', 'cat', 'oth')).toEqual(['other.yml']);
    expect(bash('imgplan', 'inspect', 'notes.txt', 'oth')).toEqual(['other.yml']);
  });

  it('completes --target with the manifest\'s addresses, also after a ":" that bash splits at', () => {
    expect(bash('imgplan', 'plan', 'rescue.yaml', '--target', '')).toEqual(addresses());
    expect(bash('imgplan', 'destroy', 'rescue.yaml', '--target', 'mount')).toEqual(addresses().filter((a) => a.startsWith('mount:')));
    // bash hands "mount:/x" over as "mount" ":" "/x" and puts back only what follows the last ":"
    expect(bash('imgplan', 'apply', 'rescue.yaml', '--target', 'mount', ':', `${work}/mnt/web01/`)).toEqual([`${work}/mnt/web01/boot`]);
    expect(bash('imgplan', 'plan', '--target', 'nbd', ':')).toEqual([]); // imgplan.yaml: none here
  });
});

describe.runIf(has('zsh'))('zsh completion', () => {
  const script = () => join(share, 'zsh/site-functions/_imgplan');

  it('parses (zsh -n)', () => {
    const r = spawnSync('zsh', ['-n', script()], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('completes commands, options, manifests and addresses in an interactive zsh', () => {
    const lines = ['imgplan pl', 'imgplan apply --auto', 'imgplan validate oth', 'imgplan show sa', 'imgplan debug cap',
      `imgplan plan rescue.yaml --target mount:${work}/mnt/web01/`, 'imgplan destroy rescue.yaml --target nb', 'imgplan exec rescue.yaml -- lsbl',
      'imgplan exec rescue.yaml --auto', 'imgplan exec rescue.yaml -- ls --recur'];
    const r = spawnSync('zsh', [join(ROOT, 'test/support/zsh-complete.zsh'), join(share, 'zsh/site-functions'), work, bin, ...lines],
      { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['imgplan plan', 'imgplan apply --auto-approve', 'imgplan validate other.yml',
      'imgplan show saved.plan', 'imgplan debug capture-state', `imgplan plan rescue.yaml --target mount:${work}/mnt/web01/boot`,
      'imgplan destroy rescue.yaml --target nbd:data', 'imgplan exec rescue.yaml -- lsblk', 'imgplan exec rescue.yaml --auto-approve',
      // past "--" an option is the command's own (zsh's completion of ls), never imgplan's
      'imgplan exec rescue.yaml -- ls --recursive']);
  });
});
