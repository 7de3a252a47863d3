import { describe, expect, it } from 'vitest';
import { ProbeError } from '../../../src/errors.js';
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
    ['sfdisk', 'apt-get install fdisk'],
    ['lsblk', 'apt-get install util-linux'],
    ['losetup', 'apt-get install mount'],
    ['blkid', 'apt-get install util-linux'],
  ])('%s missing → %s', async (tool, hint) => {
    const { manifest } = manifestFor('rescue/fresh');
    const e = await collectState(new WithoutTool(tool), manifest, { stateDir: '/tmp/imgplan-golden/state' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProbeError);
    expect((e as ProbeError).message).toContain(`${tool} is not installed`);
    expect((e as ProbeError).hint).toContain(hint);
    expect((e as ProbeError).exitCode).toBe(1);
  });
});
