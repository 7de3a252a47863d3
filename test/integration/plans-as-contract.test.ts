import { chmodSync, copyFileSync, existsSync, lstatSync, readFileSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { CLI, isRoot, sh, useSandbox } from './harness.js';
import { read } from './protocol.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();
const validatePlanJson = new Ajv2020({ allErrors: true, strict: true }).compile(
  JSON.parse(readFileSync(new URL('../../schemas/plan.schema.json', import.meta.url), 'utf8')) as object,
);

async function twoMounts(): Promise<{ img: string; m: string }> {
  const img = await sb.partitionedImage('web.img', 64, 'dos', [
    { size: '16M', fs: 'ext4', label: 'boot', files: { 'grub.cfg': 'g\n' } },
    { fs: 'ext4', label: 'root', files: { 'etc/hostname': 'web\n', 'boot/': '' } },
  ]);
  const m = sb.writeManifest('web.yaml', `version: 1\nimages:\n  web: { file: web.img, format: raw }\nmounts:\n  - { what: web/part2, where: ${sb.path('mnt')} }\n  - { what: web/part1, where: ${sb.path('mnt/boot')} }\n`);
  return { img, m };
}

describeRoot('saved plans, JSON, exit codes, lock', () => {
  it('plan --out, then apply FILE carries out exactly that plan without asking', async () => {
    const { m } = await twoMounts();
    const plan = await sb.imgplan(['plan', m, '--out', 'p.json']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Saved the plan to p.json');
    const show = await sb.imgplan(['show', 'p.json']);
    // the output's last newline is stripped by execa
    expect(`${show.stdout}\n\nSaved the plan to p.json. To carry out exactly this plan: imgplan apply p.json`).toBe(plan.stdout);
    const apply = await sb.imgplan(['apply', 'p.json']);
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('the saved plan is the approval');
    expect(read(sb.path('mnt/boot/grub.cfg'))).toBe('g\n');
    const again = await sb.imgplan(['apply', 'p.json']);
    expect(again.code).toBe(6);
    expect(again.stderr).toMatch(/loop\d attached since the plan was made/);
    // a saved destroy plan is carried out the same way
    expect((await sb.imgplan(['plan', m, '--destroy', '--out', 'd.json'])).code).toBe(0);
    const destroy = await sb.imgplan(['apply', 'd.json']);
    expect(destroy.code, destroy.stderr).toBe(0);
    expect(destroy.stdout).toContain('Destroy complete! 0 added, 0 changed, 5 destroyed.');
    expect(existsSync(sb.path('mnt'))).toBe(false);
  });

  it('a stale saved plan is refused, saying what changed, and changes nothing', async () => {
    const { img, m } = await twoMounts();
    const stale = async (want: RegExp, diff = true) => {
      const r = await sb.imgplan(['apply', 'p.json']);
      expect(r.code, r.stdout + r.stderr).toBe(6);
      expect(r.stderr).toContain('is stale; nothing was changed');
      expect(r.stderr).toMatch(want);
      if (diff) expect(r.stderr).toContain('--- when planned');
      expect(r.stdout).not.toContain('[1/');
    };
    // a mount added on a manifest mountpoint
    expect((await sb.imgplan(['plan', m, '--out', 'p.json'])).code).toBe(0);
    await sh(['mkdir', '-p', sb.path('mnt')]);
    await sh(['mount', '-t', 'tmpfs', 'scratch', sb.path('mnt')]);
    await stale(new RegExp(`${sb.path('mnt')} now mounted from scratch`));
    await sh(['umount', sb.path('mnt')]);
    await sh(['rmdir', sb.path('mnt')]);
    // the image file replaced by a copy
    expect((await sb.imgplan(['plan', m, '--out', 'p.json'])).code).toBe(0);
    copyFileSync(img, `${img}.new`);
    renameSync(`${img}.new`, img);
    await stale(/image web's file was replaced or modified \(dev=\S+ ino=\d+/);
    // the manifest edited
    expect((await sb.imgplan(['plan', m, '--out', 'p.json'])).code).toBe(0);
    writeFileSync(m, `${readFileSync(m, 'utf8')}# edited\n`);
    await stale(/the manifest .*web\.yaml was edited since the plan was made/, false);
    // a loop detached behind imgplan's back, after a destroy plan was saved
    expect((await sb.imgplan(['apply', m, '--auto-approve'])).code).toBe(0);
    expect((await sb.imgplan(['plan', m, '--destroy', '--out', 'p.json'])).code).toBe(0);
    await sh(['umount', sb.path('mnt/boot')]);
    const journal = JSON.parse(readFileSync(join(sb.stateDir, 'journal', (await import('node:fs')).readdirSync(join(sb.stateDir, 'journal'))[0]!), 'utf8')) as { entries: { address: string; device?: string }[] };
    const boot = journal.entries.find((e) => e.address === 'attach:web/part1')!.device!;
    await sh(['losetup', '--detach', boot]);
    await stale(new RegExp(`${boot.replace('/dev/', '')} detached since the plan was made`));
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
    expect(existsSync(sb.path('mnt'))).toBe(false);
  });

  it('a saved plan approves steps, it is never a source of commands: an edited argv is refused (exit 6), nothing runs', async () => {
    const { img, m } = await twoMounts();
    expect((await sb.imgplan(['plan', m, '--out', 'p.json'])).code).toBe(0);
    // an attacker's edit: the first losetup becomes another command; the facts stay, their digest recomputed
    const marker = sb.path('pwned');
    type Saved = { plan: { actions: { address: string; steps: { argv: unknown[] }[] }[] }; facts: string[]; facts_sha256: string };
    const saved = JSON.parse(readFileSync(sb.path('p.json'), 'utf8')) as Saved;
    const step = saved.plan.actions.flatMap((a) => a.steps.map((st) => ({ a, st }))).find(({ st }) => st.argv[0] === 'losetup')!;
    const was = (step.st.argv as string[]).join(' ');
    expect(was).toContain('--read-only');
    step.st.argv = ['touch', marker];
    saved.facts_sha256 = createHash('sha256').update(saved.facts.join('\n')).digest('hex');
    writeFileSync(sb.path('p.json'), JSON.stringify(saved));
    for (const json of [false, true]) {
      const r = await sb.imgplan(['apply', 'p.json', ...(json ? ['--json'] : [])]);
      expect(r.code, r.stdout + r.stderr).toBe(6);
      expect(r.stderr).toContain('is not the plan imgplan makes now, though the manifest and the live state are unchanged');
      expect(r.stderr).toContain(`of create ${step.a.address}: saved \`touch ${marker}\` vs now \`losetup --find --show --read-only`);
      if (json) {
        const e = JSON.parse(r.stdout.trim()) as { type: string; changes: string[]; plan_difference: string };
        expect(e).toMatchObject({ type: 'stale_plan', changes: [] });
        expect(e.plan_difference).toContain(`saved \`touch ${marker}\``);
      } else expect(r.stdout).not.toContain('[1/');
      expect(existsSync(marker)).toBe(false);
      expect(await sh(['losetup', '--list', '--noheadings', '--output', 'BACK-FILE'])).not.toContain(img);
      expect(existsSync(sb.path('mnt'))).toBe(false);
    }
    // the plan as saved still applies
    expect((await sb.imgplan(['plan', m, '--out', 'p.json'])).code).toBe(0);
    const apply = await sb.imgplan(['apply', 'p.json']);
    expect(apply.code, apply.stderr).toBe(0);
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
  });

  it('plan --out never follows a symbolic link: refused (exit 3), its target untouched', async () => {
    const { m } = await twoMounts();
    const victim = sb.path('victim.conf');
    writeFileSync(victim, 'keep me\n');
    symlinkSync(victim, sb.path('p.json'));
    const r = await sb.imgplan(['plan', m, '--out', 'p.json']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`refusing to write the plan to p.json: it is a symbolic link (to ${victim})`);
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect(lstatSync(sb.path('p.json')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(sb.path('p.json'))).toBe(victim);
    // a plain file there is replaced, mode 0600
    writeFileSync(sb.path('q.json'), 'old\n', { mode: 0o644 });
    expect((await sb.imgplan(['plan', m, '--out', 'q.json'])).code).toBe(0);
    expect(lstatSync(sb.path('q.json')).mode & 0o777).toBe(0o600);
  });

  it('a saved plan that others could have changed approves nothing: refused (exit 3), nothing runs', async () => {
    const { m } = await twoMounts();
    expect((await sb.imgplan(['plan', m, '--out', 'p.json'])).code).toBe(0);
    chmodSync(sb.path('p.json'), 0o620);
    const r = await sb.imgplan(['apply', 'p.json']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`refusing the saved plan ${sb.path('p.json')}: it is writable by its group (mode 0620)`);
    expect(await sh(['losetup', '--list', '--noheadings', '--output', 'BACK-FILE'])).not.toContain(sb.root);
    chmodSync(sb.path('p.json'), 0o600);
    const ok = await sb.imgplan(['apply', 'p.json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
  });

  it('plan --detailed-exitcode: 0 nothing to do, 2 changes pending, 3 invalid', async () => {
    const { m } = await twoMounts();
    expect((await sb.imgplan(['plan', m, '--detailed-exitcode'])).code).toBe(2);
    expect((await sb.imgplan(['apply', m, '--auto-approve'])).code).toBe(0);
    expect((await sb.imgplan(['plan', m, '--detailed-exitcode'])).code).toBe(0);
    expect((await sb.imgplan(['plan', m, '--destroy', '--detailed-exitcode'])).code).toBe(2);
    writeFileSync(sb.path('bad.yaml'), 'version: 1\nimages: {}\n');
    expect((await sb.imgplan(['plan', sb.path('bad.yaml'), '--detailed-exitcode'])).code).toBe(3);
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
  });

  it('--json: a plan document valid against the schema, and one event per line on apply', async () => {
    const { m } = await twoMounts();
    const plan = JSON.parse((await sb.imgplan(['plan', m, '--json'])).stdout) as { summary: { add: number } };
    expect(validatePlanJson(plan), JSON.stringify(validatePlanJson.errors)).toBe(true);
    expect(plan.summary.add).toBe(5);
    const apply = await sb.imgplan(['apply', m, '--auto-approve', '--json']);
    expect(apply.code).toBe(0);
    const events = apply.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; plan?: unknown; ok?: boolean });
    expect(events[0]!.type).toBe('planned_changes');
    expect(validatePlanJson(events[0]!.plan)).toBe(true);
    expect(events.filter((e) => e.type === 'step_start')).toHaveLength(5);
    expect(events.filter((e) => e.type === 'step_complete')).toHaveLength(5);
    expect(events[events.length - 1]).toMatchObject({ type: 'change_summary', ok: true, add: 5, destroy: 0 });
    const destroy = await sb.imgplan(['destroy', m, '--json']);
    expect(destroy.code, 'JSON runs never prompt').toBe(3);
    expect((await sb.imgplan(['destroy', m, '--auto-approve', '--json'])).code).toBe(0);
  });

  it('--target limits a run to one object and its dependencies (dependents on destroy)', async () => {
    const { m } = await twoMounts();
    const root = `mount:${sb.path('mnt')}`;
    const apply = await sb.imgplan(['apply', m, '--auto-approve', '--target', root]);
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('Apply complete! 3 added');
    expect(read(sb.path('mnt/etc/hostname'))).toBe('web\n');
    expect(existsSync(sb.path('mnt/boot/grub.cfg'))).toBe(false);
    const destroy = await sb.imgplan(['destroy', m, '--auto-approve', '--target', 'attach:web/part2']);
    expect(destroy.code, destroy.stderr).toBe(0);
    expect(destroy.stdout).toContain('Destroy complete! 0 added, 0 changed, 2 destroyed.');
    expect((await sb.imgplan(['plan', m, '--target', 'mount:/nope'])).code).toBe(3);
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
  });

  it('a reader that goes away does not stop a run half-way', async () => {
    const { m } = await twoMounts();
    const r = await execa('sh', ['-c', `${process.execPath} ${CLI} apply ${m} --auto-approve | head -n 1`], { env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1' }, reject: false });
    expect(r.stdout.split('\n')).toHaveLength(1);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.stdout).toContain('No changes.');
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
  });

  it('two runs never interleave: the second waits, then names the holder (exit 7); a lock file a dead holder left blocks no one', async () => {
    const busy = await sb.wholeImage('busy.img', 32, 'ext4', 'busy', { 'd/f': 'x' });
    void busy;
    const mb = sb.writeManifest('busy.yaml', `version: 1\nimages:\n  b: { file: busy.img, format: raw }\nmounts:\n  - { what: b, where: ${sb.path('busy')} }\n`);
    const { m } = await twoMounts();
    expect((await sb.imgplan(['apply', mb, '--auto-approve'])).code).toBe(0);
    const holder = execa('sleep', ['60'], { cwd: sb.path('busy/d'), reject: false });
    // this destroy retries its busy umount for ~8 s, holding the lock all along
    const first = execa(process.execPath, [CLI, 'destroy', mb, '--auto-approve'], { env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1' }, reject: false });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const second = await sb.imgplan(['apply', m, '--auto-approve', '--lock-timeout', '1']);
      expect(second.code, second.stderr).toBe(7);
      expect(second.stderr).toMatch(new RegExp(`another imgplan run holds the lock: pid ${first.pid} \\(imgplan destroy ${mb}\\), since \\d{4}-`));
      expect(await sh(['losetup', '--list', '--noheadings', '--output', 'BACK-FILE'])).not.toContain('web.img');
    } finally {
      holder.kill();
      await holder;
      await first;
    }
    expect((await sb.imgplan(['destroy', mb, '--auto-approve'])).code).toBe(0);
    // a lock file as an imgplan before flock(2) locks left it, its process gone: the kernel's lock decides, and there is none
    writeFileSync(join(sb.stateDir, 'lock'), `${JSON.stringify({ pid: 999999, command: 'imgplan apply (crashed)', since: '2026-01-01T00:00:00Z' })}\n`);
    const taken = await sb.imgplan(['apply', m, '--auto-approve', '--lock-timeout', '0']);
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stderr).toBe('');
    expect(existsSync(join(sb.stateDir, 'lock'))).toBe(true);
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
  });
});
