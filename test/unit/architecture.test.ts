import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');
/** The shell around the pure core: only these may run commands. */
const SHELL = [/^runner\//, /^apply\//, /^cli\//, /^probe\/collect(-[a-z]+)?\.ts$/];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('architecture', () => {
  const core = files(SRC).map((f) => relative(SRC, f)).filter((f) => !SHELL.some((r) => r.test(f)));

  it('has a pure core to check', () => {
    expect(core).toEqual(expect.arrayContaining(['plan/make-plan.ts', 'manifest/load.ts', 'probe/lsblk.ts', 'render/plan-text.ts']));
  });

  it.each(core)('%s neither runs commands nor imports the runner', (f) => {
    const text = readFileSync(join(SRC, f), 'utf8');
    const imports = [...text.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)].map((m) => ({ typeOnly: Boolean(m[1]), from: m[2]! }));
    for (const i of imports) {
      expect(i.from, `${f} imports ${i.from}`).not.toMatch(/^(node:)?child_process$|^execa$/);
      // the Runner's types (PathInfo) may be named; its implementations may not be reached
      if (/runner\//.test(i.from)) expect(i.typeOnly, `${f} imports ${i.from} for more than types`).toBe(true);
    }
    expect(text).not.toMatch(/\b(execa|spawn|execFile)\s*\(/);
  });
});
