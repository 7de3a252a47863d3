/**
 * The single-file bundle (dist/imgplan.mjs, scripts/build-bundle.mjs) runs copied alone into an
 * empty folder: the version, the manifest and journal validators are inside it, and nothing is read
 * from beside it (no package.json, no schemas, no node_modules).
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, isRoot, useSandbox } from './harness.js';

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };

describe.skipIf(!isRoot)('the bundle, alone in an empty folder', () => {
  const sb = useSandbox();
  let dir = '';
  let bundle = '';
  beforeAll(() => {
    dir = mkdtempSync('/tmp/imgplan-bundle-alone-');
    bundle = join(dir, 'imgplan.mjs');
    copyFileSync(CLI, bundle);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], cwd: string, env: Record<string, string> = {}) =>
    execa(process.execPath, [bundle, ...args], { reject: false, cwd, stdin: 'ignore', env: { NO_COLOR: '1', ...env } });

  it('prints the version of package.json', async () => {
    const r = await run(['--version'], dir);
    expect(r.stdout.trim()).toBe(pkg.version);
    expect(readdirSync(dir)).toEqual(['imgplan.mjs']);
  });

  it('validates a manifest, and names what is wrong with a bad one', async () => {
    const m = sb.writeManifest('v.yaml', 'version: 1\nimages:\n  v: { file: v.img, format: raw }\nmounts:\n  - { what: v, where: /mnt/v }\n');
    const ok = await run(['validate', m], dir);
    expect(ok.stderr).toBe('');
    expect(ok.exitCode).toBe(0);
    const bad = sb.writeManifest('bad.yaml', 'version: 1\nimages:\n  v: { file: v.img, format: raw, colour: red }\n');
    const r = await run(['validate', bad], dir);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/colour/);
  });

  it('plans a raw image (--json), reading its journal folder', async () => {
    await sb.wholeImage('p.img', 16, 'ext4');
    const m = sb.writeManifest('p.yaml', `version: 1\nimages:\n  p: { file: p.img, format: raw }\nmounts:\n  - { what: p, where: ${sb.path('mnt/p')} }\n`);
    const r = await run(['plan', '--json', m], dir, { IMGPLAN_STATE_DIR: sb.stateDir });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const plan = JSON.parse(r.stdout) as { steps: { address: string }[] };
    expect(plan.steps.map((s) => s.address)).toEqual(expect.arrayContaining(['attach:p', `mount:${sb.path('mnt/p')}`]));
    expect(readdirSync(dir)).toEqual(['imgplan.mjs']);
  });
});
