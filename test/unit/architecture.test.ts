import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');
/** The shell around the pure core: only these may run commands. */
const SHELL = [/^runner\//, /^apply\//, /^operation\//, /^cli\//, /^(probe|qemu)\/collect\.ts$/];

/**
 * The layers, lowest first: a module imports only from its own layer or lower ones (types too),
 * so no import runs backwards. The plan's vocabulary (plan/types.ts) is shared by all.
 */
const LAYERS: readonly (readonly [string, RegExp])[] = [
  ['base', /^(version|embedded|diagnostics|errors|printable)\.ts$|^runner\/(runner|concurrent)\.ts$|^plan\/types\.ts$/],
  ['manifest', /^manifest\//],
  ['journal format', /^journal\/format\.ts$/],
  ['probe parsers', /^probe\/(?!collect\.ts|observed\.ts)/],
  ['qemu tools', /^qemu\/(?!collect\.ts|backend\.ts)/],
  ['observed state', /^probe\/observed\.ts$/],
  ['plan', /^plan\/|^qemu\/backend\.ts$/],
  ['resources', /^resources\//],
  ['collect', /^(probe|qemu)\/collect\.ts$/],
  ['core', /^core\//],
  ['runners and journal store', /^runner\/|^journal\/store\.ts$/],
  ['apply', /^apply\//],
  ['operation', /^operation\//],
  ['render', /^render\//],
  ['cli', /^cli\//],
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const layerOf = (f: string) => LAYERS.findIndex(([, r]) => r.test(f));
const imports = (f: string) => [...readFileSync(join(SRC, f), 'utf8').matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)]
  .map((m) => ({ typeOnly: Boolean(m[1]), from: m[2]! }));

describe('architecture', () => {
  const all = files(SRC).map((f) => relative(SRC, f));
  const core = all.filter((f) => !SHELL.some((r) => r.test(f)));

  it('has a pure core to check', () => {
    expect(core).toEqual(expect.arrayContaining(['core/make-plan.ts', 'resources/attach.ts', 'manifest/load.ts', 'probe/lsblk.ts', 'render/plan-text.ts']));
  });

  it.each(core)('%s neither runs commands nor imports the runner', (f) => {
    const text = readFileSync(join(SRC, f), 'utf8');
    for (const i of imports(f)) {
      expect(i.from, `${f} imports ${i.from}`).not.toMatch(/^(node:)?child_process$|^execa$/);
      // the Runner's types (PathInfo) may be named; its implementations may not be reached
      if (/runner\//.test(i.from)) expect(i.typeOnly, `${f} imports ${i.from} for more than types`).toBe(true);
    }
    expect(text).not.toMatch(/\b(execa|spawn|execFile)\s*\(/);
  });

  it('puts every module in a layer', () => {
    expect(all.filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it.each(all)('%s imports no higher layer', (f) => {
    for (const i of imports(f).filter((x) => x.from.startsWith('.'))) {
      const target = normalize(join(dirname(f), i.from)).replace(/\.js$/, '.ts');
      expect(layerOf(target), `${f} (${LAYERS[layerOf(f)]?.[0]}) imports ${target} (${LAYERS[layerOf(target)]?.[0]})`).toBeLessThanOrEqual(layerOf(f));
    }
  });

  it('no line in src is wider than 160 characters', () => {
    const wide = all.flatMap((f) => readFileSync(join(SRC, f), 'utf8').split('\n').map((l, i) => ({ f, i, l })).filter((x) => x.l.length > 160).map((x) => `${x.f}:${x.i + 1}`));
    expect(wide).toEqual([]);
  });
});
