/**
 * Kill -9 at every step of an apply, then destroy: nothing is left, every time.
 *
 * Driven from the plan's own step list (plan --json), not per scenario: for each step k, the
 * apply is killed with SIGKILL twice, once as step k's command is about to run (its intent
 * journaled, nothing made yet) and once right after it ran (the object made, not yet recorded).
 * The loop and its PATH wrappers (imgplan itself has no test hook) are in kill-loop.ts, shared
 * with the VM lane's kill test (test/vm/kill.test.ts: kpartx maps, a VG, an nbd connection).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRoot, sha256, useSandbox } from './harness.js';
import { killAtSteps, killSummary } from './kill-loop.js';
import type { JsonStep } from './step-wrappers.js';

const describeRoot = isRoot ? describe : describe.skip;

const sb = useSandbox();

describeRoot('killed at every step of an apply (SIGKILL), destroy still removes everything', () => {
  it('three images, four loops, nested mounts: before and after each step\'s command', async () => {
    const started = Date.now();
    const guest = await sb.partitionedImage('guest.img', 48, 'dos', [
      { size: '12M', fs: 'ext4', label: 'boot', files: { 'grub/grub.cfg': 'x\n' } },
      { fs: 'ext4', label: 'root', files: { 'etc/hostname': 'guest\n', 'boot/': '' } },
    ]);
    const data = await sb.wholeImage('data.img', 16, 'ext4', 'data', { 'f.txt': 'data\n', 'logs/': '' });
    const logs = await sb.wholeImage('logs.img', 16, 'ext4', 'logs', { 'l.txt': 'logs\n' });
    const images = [guest, data, logs];
    const before = await Promise.all(images.map(sha256));
    const mnt = sb.path('mnt');
    const manifest = sb.writeManifest('kill.yaml', `version: 1
images:
  guest: { file: guest.img, format: raw }
  data: { file: data.img, format: raw }
  logs: { file: logs.img, format: raw }
mounts:
  - { what: guest/part2, where: ${mnt}/guest }
  - { what: guest/part1, where: ${mnt}/guest/boot }
  - { what: data, where: ${mnt}/data }
  - { what: logs, where: ${mnt}/data/logs }
`);
    const plan = await sb.imgplan(['plan', manifest, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const steps = (JSON.parse(plan.stdout) as { steps: JsonStep[] }).steps;
    // 3 loops of the guest's partitions and images + 1, 4 directories... as the planner orders them: whatever it plans is covered
    expect(steps.length).toBeGreaterThanOrEqual(10);

    const result = await killAtSteps(sb, { manifest, steps, gone: [mnt] });
    console.log(killSummary(steps.length, result, started));
    expect(result.failed).toEqual([]);
    expect(existsSync(mnt)).toBe(false);
    expect(await Promise.all(images.map(sha256)), 'image contents must not change').toEqual(before);
  }, 300_000);
});
