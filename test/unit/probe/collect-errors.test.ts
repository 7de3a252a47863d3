import { describe, expect, it } from 'vitest';
import { ProbeError, TOOL_PACKAGES, missingToolHint } from '../../../src/errors.js';
import { collectState } from '../../../src/probe/collect.js';
import { FixtureRunner } from '../../../src/runner/fixture-runner.js';
import type { Command, CommandResult, PathInfo, Runner } from '../../../src/runner/runner.js';
import { manifestFor, recording } from '../golden-support.js';

/** The recorded state, except that one tool is not installed. */
class WithoutTool implements Runner {
  private readonly inner: FixtureRunner;
  constructor(private readonly tool: string) {
    this.inner = new FixtureRunner(recording('rescue/fresh'));
  }
  async run(cmd: Command): Promise<CommandResult> {
    if (cmd.argv[0] === this.tool) return { argv: cmd.argv, exitCode: undefined, stdout: '', stderr: '', failure: 'not-found' };
    return this.inner.run(cmd);
  }
  readText(p: string): Promise<string | undefined> {
    return this.inner.readText(p);
  }
  inspectPath(p: string): Promise<PathInfo> {
    return this.inner.inspectPath(p);
  }
  readBytes(p: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    return this.inner.readBytes(p, offset, length);
  }
}

describe('probe failures name the package to install', () => {
  it.each([
    ['sfdisk', 'apt-get install fdisk (Debian, Ubuntu), dnf install util-linux (RHEL, Fedora)'],
    ['lsblk', 'apt-get install util-linux (Debian, Ubuntu), dnf install util-linux (RHEL, Fedora)'],
    ['losetup', 'apt-get install mount (Debian, Ubuntu), dnf install util-linux (RHEL, Fedora)'],
    ['blkid', 'apt-get install util-linux (Debian, Ubuntu), dnf install util-linux (RHEL, Fedora)'],
  ])('%s missing → %s', async (tool, hint) => {
    const { manifest } = manifestFor('rescue/fresh');
    const e = await collectState(new WithoutTool(tool), manifest, { stateDir: '/tmp/imgplan-golden/state' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProbeError);
    expect((e as ProbeError).message).toContain(`${tool} is not installed`);
    expect((e as ProbeError).hint).toContain(hint);
    expect((e as ProbeError).exitCode).toBe(1);
  });
});

describe('every tool imgplan runs has its Debian and RHEL package named', () => {
  it('each argv[0] of the goldens and of the command builders is in TOOL_PACKAGES', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const tools = new Set<string>();
    const walkJson = (x: unknown): void => {
      if (Array.isArray(x)) x.forEach(walkJson);
      else if (x && typeof x === 'object') {
        for (const [k, v] of Object.entries(x)) {
          if (k === 'argv' && Array.isArray(v) && typeof v[0] === 'string') tools.add(v[0]);
          else walkJson(v);
        }
      }
    };
    const walk = (dir: string, visit: (file: string) => void): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name), visit);
        else visit(join(dir, e.name));
      }
    };
    // what real runs recorded (plans' commands and probes)
    walk('test/golden', (f) => { if (f.endsWith('.json')) walkJson(JSON.parse(readFileSync(f, 'utf8'))); });
    // and every literal argv the source builds: ['losetup', ...]
    walk('src', (f) => {
      if (f.endsWith('.ts')) for (const m of readFileSync(f, 'utf8').matchAll(/argv: \[\s*'([a-z][a-z0-9.-]+)'/g)) tools.add(m[1]!);
    });
    expect(tools.size).toBeGreaterThan(15);
    expect([...tools].filter((t) => !(t in TOOL_PACKAGES))).toEqual([]);
    for (const t of tools) expect(missingToolHint(t)).toMatch(/^install it: apt-get install \S+ \(Debian, Ubuntu\), dnf install \S+ \((RHEL, Fedora|Fedora; RHEL: from EPEL)\)$/);
  });
});
