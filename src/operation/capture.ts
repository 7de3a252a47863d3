import { writeFile } from 'node:fs/promises';
import { journalPath } from '../journal/format.js';
import { checkJournalPath } from '../journal/store.js';
import { collectState } from '../probe/collect.js';
import { RecordingRunner } from '../runner/recording-runner.js';
import type { Input, OperationContext } from './context.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS } from './change.js';
import { withLock } from './lock.js';
import { load } from './manifest.js';

export interface CaptureOptions {
  /** the JSON file to write */
  readonly out: string;
  /** what the recorded state shows */
  readonly scenario: string;
}

/**
 * `imgplan debug capture-state`: runs every probe plan runs, recording what each printed, and
 * writes the recording (for bug reports and test fixtures). Changes nothing on the system. Holds
 * the lock shared, as plan does, so that an apply or destroy never changes the state mid-recording.
 */
export async function captureState(ctx: OperationContext, input: Input, options: CaptureOptions): Promise<{ readonly outcome: 'captured' | 'invalid' }> {
  const loaded = load(ctx.emit, input, true);
  if (!loaded) return { outcome: 'invalid' };
  await checkJournalPath(journalPath(ctx.stateDir, loaded.manifest.path));
  const rec = new RecordingRunner(ctx.runner);
  // a fixed folder for plan's probe views, so that replaying the recording finds the same argv
  const probeDir = `${ctx.stateDir}/probe/capture`;
  await withLock(ctx, { command: `imgplan debug capture-state ${loaded.manifest.path}`, seconds: DEFAULT_LOCK_TIMEOUT_SECONDS, mode: 'shared' },
    () => collectState(rec, loaded.manifest, { stateDir: ctx.stateDir, probeDir }));
  const version = (await ctx.runner.run({ argv: ['losetup', '--version'], effect: 'reads' })).stdout.trim();
  const recording = {
    ...rec.recording,
    meta: {
      captured_with: 'imgplan debug capture-state', scenario: options.scenario, util_linux: version,
      state_dir: ctx.stateDir, probe_dir: probeDir, manifest: loaded.manifest.path,
    },
  };
  await writeFile(options.out, `${JSON.stringify(recording, null, 1)}\n`);
  return { outcome: 'captured' };
}
