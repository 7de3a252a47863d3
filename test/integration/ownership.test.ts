/**
 * Two manifests over the same image: what one manifest's journal made is that manifest's. The
 * other's plan shows it as such (with its path), uses it as it is, never adopts it, never
 * removes it; a destroy that would pull it from under the other manifest stops and says so.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, isRoot, sh, sha256, useSandbox } from './harness.js';
import { wrapStepTools, type JsonStep } from './step-wrappers.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();

interface JsonChange { address: string; kind: string; reason: string; owner?: string; actions: string[] }
interface JsonPlan { resource_changes: JsonChange[]; unchanged: JsonChange[]; steps: JsonStep[]; warnings: { code: string; message: string }[] }

async function planJson(manifest: string, ...more: string[]): Promise<JsonPlan> {
  const r = await sb.imgplan(['plan', manifest, '--json', ...more]);
  expect([0, 2], r.stderr).toContain(r.code);
  return JSON.parse(r.stdout) as JsonPlan;
}

const loopsOf = async (file: string) => (await sh(['losetup', '--noheadings', '--output', 'NAME', '--associated', file])).split('\n').filter(Boolean);
const mounted = async (target: string) => (await execa('findmnt', ['--mountpoint', target], { reject: false })).exitCode === 0;

async function apply(manifest: string): Promise<void> {
  const r = await sb.imgplan(['apply', manifest, '--auto-approve']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

async function destroy(manifest: string): Promise<{ code: number; said: string }> {
  const r = await sb.imgplan(['destroy', manifest, '--auto-approve']);
  return { code: r.code, said: r.stdout + r.stderr };
}

describeRoot('ownership across manifests', () => {
  it('a loop and a mount made for one manifest are that manifest\'s in the other\'s plan; neither destroy takes the other\'s', async () => {
    const img = await sb.wholeImage('shared.img', 16, 'ext4', 'shared', { 'etc/hostname': 'web01\n' });
    const before = await sha256(img);
    const a = sb.writeManifest('a.yaml', `version: 1
images:
  web01: { file: shared.img, format: raw }
mounts:
  - { what: web01, where: ${sb.path('mnt/a')} }
`);
    const b = sb.writeManifest('b.yaml', `version: 1
images:
  web01: { file: shared.img, format: raw }
mounts:
  - { what: web01, where: ${sb.path('mnt/b')} }
`);
    const c = sb.writeManifest('c.yaml', `version: 1
images:
  web01: { file: shared.img, format: raw }
mounts:
  - { what: web01, where: ${sb.path('mnt/a')} }
`);
    await apply(a);
    const [loop] = await loopsOf(img);
    expect(loop).toBeDefined();

    // C wants what A made, at the same place: A's loop and mount, named as A's; nothing to do, and C's destroy touches neither
    const pc = await planJson(c);
    expect(pc.resource_changes).toEqual([]);
    expect(pc.unchanged.map((x) => [x.kind, x.reason, x.owner])).toEqual([['attach', 'other-manifest', a], ['mount', 'other-manifest', a]]);
    const dc = await destroy(c);
    expect(dc.code, dc.said).toBe(0);
    expect(await mounted(sb.path('mnt/a'))).toBe(true);

    // B's plan: A's loop is A's (named by path), used as it is; B makes only its directory and mount
    const pb = await planJson(b);
    expect(pb.unchanged.find((x) => x.kind === 'attach')).toMatchObject({ reason: 'other-manifest', owner: a });
    expect(pb.resource_changes.filter((x) => x.actions.includes('create')).map((x) => x.kind).sort()).toEqual(['dir', 'mount']);
    const text = await sb.imgplan(['plan', b]);
    expect(text.stdout).toContain(`made by imgplan for another manifest, ${a}: used as it is; this manifest's destroy leaves it alone`);
    await apply(b);
    expect(await loopsOf(img)).toEqual([loop]);

    // A's destroy would detach the loop B's mount stands on: refused, naming B's mount and manifest; nothing changes
    const refused = await destroy(a);
    expect(refused.code, refused.said).toBe(3);
    expect(refused.said).toContain('is in use by what imgplan made for another manifest');
    expect(refused.said).toContain(`of ${b}`);
    expect(refused.said).toContain(`imgplan destroy ${b}`);
    expect(await mounted(sb.path('mnt/a'))).toBe(true);
    expect(await mounted(sb.path('mnt/b'))).toBe(true);

    // B's destroy removes B's mount and directory only: A's loop and A's mount stay
    const db = await destroy(b);
    expect(db.code, db.said).toBe(0);
    expect(await mounted(sb.path('mnt/b'))).toBe(false);
    expect(await mounted(sb.path('mnt/a'))).toBe(true);
    expect(await loopsOf(img)).toEqual([loop]);

    const da = await destroy(a);
    expect(da.code, da.said).toBe(0);
    expect(await loopsOf(img)).toEqual([]);
    expect(await sha256(img)).toBe(before);
  }, 120_000);

  it('a parent directory one manifest made and another\'s mount sits in is kept by the first one\'s destroy, and removed by its next', async () => {
    const img = await sb.wholeImage('one.img', 16, 'ext4', 'one');
    const two = await sb.wholeImage('two.img', 16, 'ext4', 'two');
    const a = sb.writeManifest('a.yaml', `version: 1
images:
  one: { file: one.img, format: raw }
mounts:
  - { what: one, where: ${sb.path('mnt/shared/a')} }
`);
    const b = sb.writeManifest('b.yaml', `version: 1
images:
  two: { file: two.img, format: raw }
mounts:
  - { what: two, where: ${sb.path('mnt/shared/b')} }
`);
    await apply(a);
    await apply(b);
    const da = await destroy(a);
    expect(da.code, da.said).toBe(0);
    expect(da.said).toContain(`${sb.path('mnt/shared')} stays: it holds what imgplan made for another manifest`);
    expect(await mounted(sb.path('mnt/shared/a'))).toBe(false);
    expect(await mounted(sb.path('mnt/shared/b'))).toBe(true);
    expect(await loopsOf(img)).toEqual([]);
    const db = await destroy(b);
    expect(db.code, db.said).toBe(0);
    // the kept directories are still A's: its next destroy removes them, now that they hold nothing
    const again = await destroy(a);
    expect(again.code, again.said).toBe(0);
    expect(again.said).not.toContain('stays');
    const left = await sb.leaks();
    expect(left).toEqual([]);
    expect((await execa('test', ['-e', sb.path('mnt')], { reject: false })).exitCode).toBe(1);
    expect(await loopsOf(two)).toEqual([]);
  }, 120_000);

  it('an interrupted run of one manifest never takes the loop another manifest made since for the same image', async () => {
    const img = await sb.wholeImage('shared.img', 16, 'ext4', 'shared');
    const a = sb.writeManifest('a.yaml', `version: 1
images:
  web01: { file: shared.img, format: raw }
mounts:
  - { what: web01, where: ${sb.path('mnt/a')} }
`);
    const b = sb.writeManifest('b.yaml', `version: 1
images:
  web01: { file: shared.img, format: raw }
mounts:
  - { what: web01, where: ${sb.path('mnt/b')} }
`);
    // A's apply is killed as its losetup is about to run: its intent is journaled, no loop made
    const steps = (await planJson(a)).steps;
    const losetup = steps.find((s) => s.argv[0] === 'losetup')!;
    const bin = sb.path('.bin');
    const patterns = sb.path('.patterns');
    wrapStepTools(bin, patterns, [losetup], `#!/bin/bash
if [[ "\${0##*/} $*" == $(head -n1 "$KILL_PATTERNS") ]]; then kill -KILL "$PPID"; exit 1; fi
exec "$(PATH="$KILL_REAL_PATH" command -v "\${0##*/}")" "$@"
`);
    const killed = await execa(process.execPath, [CLI, 'apply', a, '--auto-approve'], {
      reject: false, stdin: 'ignore', cwd: sb.root,
      env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH ?? ''}`, KILL_REAL_PATH: process.env.PATH ?? '',
        KILL_PATTERNS: patterns },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(await loopsOf(img)).toEqual([]);

    // B then attaches the image: a loop that fits A's intent exactly (same file, offset, size, read-only)
    await apply(b);
    const [loop] = await loopsOf(img);
    expect(loop).toBeDefined();

    // A's next plan resolves its intent: B's loop is B's, so the intent never appeared, and A plans its own
    const pa = await planJson(a);
    expect(pa.warnings.map((w) => w.code)).toContain('journal-intent-dropped');
    expect(pa.warnings.map((w) => w.code)).not.toContain('journal-recovered');
    const da = await destroy(a);
    expect(da.code, da.said).toBe(0);
    expect(await loopsOf(img)).toEqual([loop]);
    expect(await mounted(sb.path('mnt/b'))).toBe(true);
    const db = await destroy(b);
    expect(db.code, db.said).toBe(0);
    expect(await loopsOf(img)).toEqual([]);
  }, 120_000);

  it('another manifest\'s journal that cannot be read is named in the plan, and this manifest still plans', async () => {
    await sb.wholeImage('one.img', 16, 'ext4', 'one');
    const a = sb.writeManifest('a.yaml', `version: 1
images:
  one: { file: one.img, format: raw }
mounts:
  - { what: one, where: ${sb.path('mnt/a')} }
`);
    const b = sb.writeManifest('b.yaml', `version: 1
images:
  one: { file: one.img, format: raw }
mounts:
  - { what: one, where: ${sb.path('mnt/b')} }
`);
    await apply(b);
    const journals = (await sh(['find', `${sb.stateDir}/journal`, '-name', '*.json'])).split('\n').filter(Boolean);
    expect(journals).toHaveLength(1);
    const good = readFileSync(journals[0]!, 'utf8');
    writeFileSync(journals[0]!, good.slice(0, 40));
    try {
      const pa = await planJson(a);
      const w = pa.warnings.find((x) => x.code === 'other-journal-unreadable');
      expect(w?.message).toContain(journals[0]);
      expect(w?.message).toContain('is not valid JSON');
    } finally {
      writeFileSync(journals[0]!, good);
    }
    const db = await destroy(b);
    expect(db.code, db.said).toBe(0);
  }, 120_000);
});
