import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, vi, type MockInstance } from 'vitest';
import type { Input, OperationContext, OperationEvent } from '../../../src/operation/index.js';
import { FixtureRunner } from '../../../src/runner/fixture-runner.js';
import type { Runner } from '../../../src/runner/runner.js';
import type { Recording } from '../../../src/runner/recording-runner.js';
import { GOLDEN, recording } from '../golden-support.js';

/**
 * An operation context over a recorded state (test/golden/STATE/state.json): probes are
 * replayed (and kept in `probed`); a mutating command fails as a step would ("refused by the test") and is kept in
 * `mutations`; the lock is taken, and the journal written, in a temporary folder; events are kept in `events`; the
 * manifest a saved plan names is read from `files` (by `manifest()`, at its recorded path).
 */
export function recorded(state: string) {
  const lockDir = mkdtempSync(join(tmpdir(), 'imgplan-operation-test-'));
  // the recorded state directory moves into the test's own folder, so that what apply writes (the journal) never lands in the
  // recording's real /tmp path, which another run may be using
  const recordedDir = String(recording(state).meta.state_dir);
  const rec = JSON.parse(JSON.stringify(recording(state)).split(recordedDir).join(join(lockDir, 'state'))) as Recording;
  const fixture = new FixtureRunner(rec, state);
  const mutations: string[][] = [];
  const probed: string[][] = [];
  const runner: Runner = {
    run: async (cmd) => {
      if (cmd.effect !== 'changes') {
        probed.push([...cmd.argv]);
        return fixture.run(cmd);
      }
      mutations.push([...cmd.argv]);
      return { argv: cmd.argv, exitCode: 1, stdout: '', stderr: 'refused by the test', failure: 'exit-code' };
    },
    readText: (p) => fixture.readText(p),
    inspectPath: (p) => fixture.inspectPath(p),
    readBytes: (p, o, l) => fixture.readBytes(p, o, l),
  };
  const events: OperationEvent[] = [];
  const files = new Map<string, string>();
  const ctx: OperationContext = {
    runner, stateDir: String(rec.meta.state_dir), lockDir,
    emit: (e) => events.push(e),
    readInput: async (f) => {
      const text = files.get(f);
      if (text === undefined) throw new Error(`the test has no file ${f}`);
      return { path: f, text };
    },
  };
  /** the manifest at its recorded path, with the text of test/golden/<dir>/<file> */
  const manifest = (file = 'manifest.yaml'): Input => {
    const input = { path: String(rec.meta.manifest), text: readFileSync(join(GOLDEN, state, '..', file), 'utf8') };
    files.set(input.path, input.text);
    return input;
  };
  const types = () => events.map((e) => e.type);
  const cleanup = () => rmSync(lockDir, { recursive: true, force: true });
  return { ctx, events, types, mutations, probed, manifest, files, cleanup };
}

/** Fails the test if anything below the CLI wrote to stdout or stderr. */
export function expectSilence(): void {
  let spies: MockInstance[] = [];
  beforeEach(() => {
    spies = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write')];
  });
  afterEach(() => {
    const [stdout, stderr] = spies;
    expect(stdout!.mock.calls.map((c) => String(c[0])), 'written to stdout').toEqual([]);
    expect(stderr!.mock.calls.map((c) => String(c[0])), 'written to stderr').toEqual([]);
    for (const s of spies) s.mockRestore();
  });
}

/**
 * For a describe block: each test's recorded states (`at(state)`), cleaned up after it, and a
 * check that nothing below the CLI wrote to stdout or stderr.
 */
export function recordedStates(): (state: string) => ReturnType<typeof recorded> {
  expectSilence();
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));
  return (state) => {
    const r = recorded(state);
    cleanups.push(r.cleanup);
    return r;
  };
}
