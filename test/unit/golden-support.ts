import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest } from '../../src/manifest/load.js';
import type { Manifest } from '../../src/manifest/types.js';
import { collectState } from '../../src/probe/collect.js';
import type { ObservedState } from '../../src/probe/observed.js';
import { FixtureRunner } from '../../src/runner/fixture-runner.js';
import type { Recording } from '../../src/runner/recording-runner.js';

export const GOLDEN = join(import.meta.dirname, '../golden');

export function recording(state: string): Recording {
  return JSON.parse(readFileSync(join(GOLDEN, state, 'state.json'), 'utf8')) as Recording;
}

/** The manifest as it was when the state was recorded (its recorded path), or another text at that path. */
export function manifestFor(state: string, file = 'manifest.yaml', allowWrites = false): { manifest: Manifest; text: string } {
  const rec = recording(state);
  const text = readFileSync(join(GOLDEN, state, '..', file), 'utf8');
  const r = loadManifest({ path: String(rec.meta.manifest), text, allowWrites });
  if (!r.manifest) throw new Error(`golden manifest ${file} does not load: ${JSON.stringify(r.diagnostics)}`);
  return { manifest: r.manifest, text };
}

/** Replays the recorded probes through the product's own collect code. */
export async function observed(state: string, manifest: Manifest, mode: 'apply' | 'destroy' = 'apply'): Promise<ObservedState> {
  const rec = recording(state);
  return collectState(new FixtureRunner(rec, state), manifest, {
    stateDir: String(rec.meta.state_dir), mode, ...(rec.meta.probe_dir ? { probeDir: String(rec.meta.probe_dir) } : {}),
  });
}
