/**
 * Kill -9 at every step of an apply, then destroy: nothing is left, every time.
 *
 * Driven from the plan's own step list (plan --json), not per scenario: for each step k, the
 * apply is killed with SIGKILL twice, once as step k's command is about to run (its intent
 * journaled, nothing made yet) and once right after it ran (the object made, not yet recorded).
 * The kill is deterministic: the tools imgplan runs are found through PATH, and for the killed
 * apply PATH starts with a folder of this test's own wrappers, which count imgplan's step
 * commands (by the plan's argv) and, at the k-th, kill their parent, imgplan, before or after
 * running the real tool. imgplan itself has no test hook.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, isRoot, sha256, useSandbox } from './harness.js';
import { wrapStepTools, type JsonStep } from './step-wrappers.js';

const describeRoot = isRoot ? describe : describe.skip;

const sb = useSandbox();

/** Each tool imgplan runs as a step, wrapped: at the KILL_AT-th step command, imgplan (the wrapper's parent) is killed. */
const WRAPPER = `#!/bin/bash
# test/integration/kill.test.ts: runs the real tool; at imgplan's KILL_AT-th step command, kills imgplan (SIGKILL), before or after it
name=\${0##*/}
real=$(PATH="$KILL_REAL_PATH" command -v "$name")
line="$name $*"
while IFS= read -r pattern; do
  if [[ "$line" == $pattern ]]; then
    n=$(( $(cat "$KILL_COUNT") + 1 ))
    echo "$n" > "$KILL_COUNT"
    echo "$line" >> "$KILL_LOG"
    if [ "$n" = "$KILL_AT" ]; then
      if [ "$KILL_WHEN" = before ]; then kill -KILL "$PPID"; exit 1; fi
      "$real" "$@"; rc=$?
      kill -KILL "$PPID"
      exit $rc
    fi
    break
  fi
done < "$KILL_PATTERNS"
exec "$real" "$@"
`;

/** Whether a command line the wrapper logged is this step's argv (a ref stands for the device an earlier step made). */
function runs(line: string, s: JsonStep): boolean {
  const words = line.split(' ');
  return words.length === s.argv.length && s.argv.every((a, i) => typeof a !== 'string' || a === words[i]);
}

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

    const bin = sb.path('.kill-bin');
    const patterns = sb.path('.kill-patterns');
    wrapStepTools(bin, patterns, steps, WRAPPER);

    const tried: string[] = [];
    const failed: string[] = [];
    for (const step of steps) {
      for (const when of ['before', 'after'] as const) {
        const what = `step ${step.order}/${steps.length} (${step.address}: ${String(step.argv[0])}), killed ${when} its command`;
        tried.push(what);
        const count = sb.path('.kill-count');
        const log = sb.path('.kill-log');
        writeFileSync(count, '0');
        writeFileSync(log, '');
        const killed = await execa(process.execPath, [CLI, 'apply', manifest, '--auto-approve', '--json'], {
          reject: false, stdin: 'ignore', cwd: sb.root,
          env: {
            IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH ?? ''}`, KILL_REAL_PATH: process.env.PATH ?? '',
            KILL_AT: String(step.order), KILL_WHEN: when, KILL_COUNT: count, KILL_LOG: log, KILL_PATTERNS: patterns,
          },
        });
        // the kill landed where it was meant to: at the k-th step, whose command is this step's
        const ran = readFileSync(log, 'utf8').trim().split('\n');
        const problems: string[] = [];
        if (killed.signal !== 'SIGKILL') problems.push(`apply was not killed (exit ${killed.exitCode}): ${String(killed.stderr)}`);
        if (ran.length !== step.order || !ran.every((l, i) => runs(l, steps[i]!))) problems.push(`apply ran ${ran.join('; ')}`);
        const destroy = await sb.imgplan(['destroy', manifest, '--auto-approve']);
        if (destroy.code !== 0) problems.push(`destroy exited ${destroy.code}: ${destroy.stdout}${destroy.stderr}`);
        // what the killed step was about to make was resolved from its intent: taken over and removed, or, never made, forgotten
        const said = destroy.stdout + destroy.stderr;
        const resolved = when === 'after' ? /interrupted before it recorded it; found on the system/ : /interrupted as it was making it, and it never appeared/;
        if (!resolved.test(said)) problems.push(`destroy did not resolve the intent of ${step.address}: ${said}`);
        const left = await sb.leaks();
        if (left.length) problems.push(`left behind: ${left.join(', ')}`);
        if (existsSync(mnt)) problems.push(`${mnt} is still there`);
        if (problems.length) {
          failed.push(`${what}: ${problems.join(' | ')}`);
          // the next kill starts from nothing again: unmount and detach what is left, then its directories and journal
          await sb.cleanup();
          rmSync(mnt, { recursive: true, force: true });
          rmSync(join(sb.stateDir, 'journal'), { recursive: true, force: true });
        }
      }
    }
    const after = await Promise.all(images.map(sha256));
    const seconds = Math.round((Date.now() - started) / 1000);
    console.log(`kill test: ${steps.length} steps, ${tried.length} kills tried, ${tried.length - failed.length} survived (destroy exit 0, ` +
      `nothing left), ${seconds} s`);
    expect(failed).toEqual([]);
    expect(after, 'image contents must not change').toEqual(before);
  }, 300_000);
});
