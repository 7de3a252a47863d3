/**
 * Ctrl-C (SIGINT) and SIGTERM during an apply: the running step finishes, then what the run
 * made is undone (or kept with --no-rollback) and imgplan exits 130 (143); a second signal ends
 * it at once, and destroy removes what it made. The signal comes from a wrapper of the tools
 * imgplan runs (found through PATH), at the k-th step command of the plan: imgplan has no hook.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, isRoot, sha256, useSandbox } from './harness.js';
import { wrapStepTools, type JsonStep } from './step-wrappers.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();

const WRAPPER = `#!/bin/bash
# test/integration/signals.test.ts: at imgplan's SIG_AT-th step command, signals imgplan (SIG_TIMES times) around the real tool
name=\${0##*/}
real=$(PATH="$SIG_REAL_PATH" command -v "$name")
line="$name $*"
step=
while IFS= read -r pattern; do [[ "$line" == $pattern ]] && { step=1; break; }; done < "$SIG_PATTERNS"
[ -n "$step" ] || exec "$real" "$@"
n=$(( $(cat "$SIG_COUNT") + 1 ))
echo "$n" > "$SIG_COUNT"
if [ "$n" = "$SIG_AT" ]; then
  kill -"$SIG_NAME" "$PPID"; sleep 0.3
  "$real" "$@"; rc=$?
  if [ "$SIG_TIMES" = 2 ]; then kill -"$SIG_NAME" "$PPID"; sleep 0.3; fi
  exit $rc
fi
exec "$real" "$@"
`;

async function setup() {
  await sb.wholeImage('root.img', 32, 'ext4', 'root', { 'etc/hostname': 'web01\n', 'boot/': '' });
  await sb.wholeImage('boot.img', 16, 'ext4', 'boot', { 'vmlinuz': 'k\n' });
  const manifest = sb.writeManifest('s.yaml', `version: 1
images:
  r: { file: root.img, format: raw }
  b: { file: boot.img, format: raw }
mounts:
  - { what: r, where: ${sb.path('mnt/r')} }
  - { what: b, where: ${sb.path('mnt/r/boot')} }
`);
  const plan = await sb.imgplan(['plan', manifest, '--json']);
  const steps = (JSON.parse(plan.stdout) as { steps: JsonStep[] }).steps;
  // probes are not counted: only commands that match a step's pattern
  const bin = sb.path('.sig-bin');
  wrapStepTools(bin, sb.path('.sig-patterns'), steps, WRAPPER);
  return { manifest, steps, bin, images: [sb.path('root.img'), sb.path('boot.img')] };
}

async function applyWithSignal(manifest: string, bin: string, at: number, signal: 'INT' | 'TERM', times: 1 | 2, extra: string[] = []) {
  const count = sb.path('.sig-count');
  writeFileSync(count, '0');
  const r = await execa(process.execPath, [CLI, 'apply', manifest, '--auto-approve', ...extra], {
    reject: false, stdin: 'ignore', cwd: sb.root,
    env: {
      IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH ?? ''}`, SIG_REAL_PATH: process.env.PATH ?? '',
      SIG_AT: String(at), SIG_NAME: signal, SIG_TIMES: String(times), SIG_COUNT: count, SIG_PATTERNS: sb.path('.sig-patterns'),
    },
  });
  return { code: r.exitCode ?? r.signal, out: `${String(r.stdout)}${String(r.stderr)}`, ran: Number(readFileSync(count, 'utf8')) };
}

describeRoot('signals during apply', () => {
  it('SIGINT: the running step finishes, everything this run made is undone, exit 130; SIGTERM the same with 143', async () => {
    const { manifest, steps, bin, images } = await setup();
    const before = await Promise.all(images.map(sha256));
    for (const [signal, code] of [['INT', 130], ['TERM', 143]] as const) {
      const at = 3;
      const r = await applyWithSignal(manifest, bin, at, signal, 1);
      expect(r.code, r.out).toBe(code);
      expect(r.out).toContain(`imgplan: SIG${signal}: stopping after the running step, then undoing what this run made`);
      expect(r.out).toContain(`stopped by SIG${signal} before this step`);
      expect(r.out).toContain('Everything this run did was undone.');
      // the step that was running when the signal came finished; none after it started
      expect(r.out).toMatch(new RegExp(`\\[${at}/${steps.length}\\][^\\n]*\\n\\s+done`));
      expect(r.out).not.toContain(`[${at + 1}/${steps.length}]`);
      expect(await sb.leaks()).toEqual([]);
      expect(existsSync(sb.path('mnt'))).toBe(false);
    }
    expect(await Promise.all(images.map(sha256))).toEqual(before);
  });

  it('SIGINT with --no-rollback keeps what was made, journaled; SIGINT twice stops at once: destroy removes what either left', async () => {
    const { manifest, steps, bin, images } = await setup();
    const before = await Promise.all(images.map(sha256));
    const kept = await applyWithSignal(manifest, bin, 3, 'INT', 1, ['--no-rollback']);
    expect(kept.code, kept.out).toBe(130);
    expect(kept.out).toContain('keeping what this run made');
    expect(kept.out).toContain('(kept: no rollback; recorded in the journal for destroy)');
    expect(kept.ran).toBe(3);
    let destroy = await sb.imgplan(['destroy', manifest, '--auto-approve']);
    expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
    expect(await sb.leaks()).toEqual([]);

    for (const at of [1, steps.length]) {
      const now = await applyWithSignal(manifest, bin, at, 'INT', 2);
      expect(now.code, now.out).toBe(130);
      expect(now.out).toContain('SIGINT again: stopped at once');
      destroy = await sb.imgplan(['destroy', manifest, '--auto-approve']);
      expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
      expect(await sb.leaks()).toEqual([]);
      expect(existsSync(sb.path('mnt'))).toBe(false);
    }
    expect(await Promise.all(images.map(sha256))).toEqual(before);
  });
});
