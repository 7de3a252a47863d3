/**
 * Tool wrappers for tests that interrupt imgplan at a chosen step (kill.test.ts, signals.test.ts):
 * imgplan finds the tools it runs through PATH, so a folder of wrappers put first on PATH sees
 * every command; the step patterns tell a plan's step commands from its probes.
 */
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface JsonStep {
  readonly order: number;
  readonly address: string;
  readonly argv: readonly (string | { ref: string })[];
  /** how apply's rollback undoes the command: a command with one makes something */
  readonly undo?: readonly (string | { ref: string })[];
}

/** A step's argv as a bash glob: a device known only after an earlier step matches anything. */
export const stepPattern = (s: Pick<JsonStep, 'argv'>) =>
  s.argv.map((a) => (typeof a === 'string' ? a.replace(/[*?[\]\\]/g, '\\$&') : '*')).join(' ');

/**
 * Writes `script` as the wrapper of every tool the steps run, in `bin`, and the steps' patterns
 * (one per line, in order) to `patterns`, for the script to read.
 */
export function wrapStepTools(bin: string, patterns: string, steps: readonly Pick<JsonStep, 'argv'>[], script: string): void {
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, '.wrapper'), script);
  chmodSync(join(bin, '.wrapper'), 0o755);
  for (const tool of new Set(steps.map((s) => String(s.argv[0])))) if (!existsSync(join(bin, tool))) symlinkSync('.wrapper', join(bin, tool));
  writeFileSync(patterns, `${steps.map(stepPattern).join('\n')}\n`);
}
