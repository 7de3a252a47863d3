/**
 * Plan's probe view of a QEMU image, through collect, on the recorded qemu/fresh state with the
 * image's answers replaced: a hostile virtual size, a partition table that never stops growing,
 * one of too many partitions. Each is a clear ImageContentError naming the image; every copy
 * plan makes stays inside the virtual size and inside its bounds.
 */
import { describe, expect, it } from 'vitest';
import { ImageContentError } from '../../../src/errors.js';
import { collectState } from '../../../src/probe/collect.js';
import { FixtureRunner } from '../../../src/runner/fixture-runner.js';
import type { Command, CommandResult, PathInfo, Runner } from '../../../src/runner/runner.js';
import { MAX_FILL_BYTES, MAX_TABLE_ROUNDS } from '../../../src/qemu/probe-view.js';
import { manifestFor, recording } from '../golden-support.js';

const STATE = 'qemu/fresh';
const VIEW = '/tmp/imgplan-golden/state/probe/capture/top.raw';
const MiB = 1024 * 1024;

/** The recorded state; qemu-img info of top.qcow2 says `size`, sfdisk of its view says `table(round)`. */
class Crafted implements Runner {
  private readonly inner = new FixtureRunner(recording(STATE), STATE);
  readonly copies: { offset: number; length: number }[] = [];
  private round = 0;
  constructor(private readonly size: number, private readonly table?: (round: number) => { start: number; size: number }[]) {}

  async run(cmd: Command): Promise<CommandResult> {
    const ok = { argv: cmd.argv, exitCode: 0, stdout: '', stderr: '' };
    if (cmd.argv[1] === 'convert' && cmd.argv.some((a) => a.includes(VIEW))) {
      const m = /offset=(\d+),size=(\d+)/.exec(cmd.argv.find((a) => a.startsWith('driver=raw'))!)!;
      this.copies.push({ offset: Number(m[1]), length: Number(m[2]) });
      return ok;
    }
    if (cmd.argv[0] === 'truncate' && cmd.argv.includes(VIEW)) return ok;
    if (cmd.argv[0] === 'sfdisk' && cmd.argv.includes(VIEW) && this.table) {
      const partitions = this.table(++this.round).map((p, i) => ({ node: `${VIEW}${i + 1}`, start: p.start, size: p.size, type: '83' }));
      return { ...ok, stdout: JSON.stringify({ partitiontable: { label: 'dos', id: '0x1', device: VIEW, unit: 'sectors', sectorsize: 512, partitions } }) };
    }
    const r = await this.inner.run(cmd);
    if (cmd.argv[0] === 'qemu-img' && cmd.argv[1] === 'info' && cmd.argv.at(-1)!.endsWith('/top.qcow2')) {
      return { ...r, stdout: r.stdout.replace(/"virtual-size": \d+/, `"virtual-size": ${this.size}`) };
    }
    return r;
  }
  readText(p: string): Promise<string | undefined> {
    return this.inner.readText(p);
  }
  inspectPath(p: string): Promise<PathInfo> {
    return this.inner.inspectPath(p);
  }
  async readBytes(): Promise<Uint8Array | undefined> {
    return new Uint8Array(512);
  }
}

const collect = (runner: Runner) => {
  const rec = recording(STATE);
  return collectState(runner, manifestFor(STATE).manifest, { stateDir: String(rec.meta.state_dir), probeDir: String(rec.meta.probe_dir) });
};

describe('plan\'s probe view of a hostile QEMU image', () => {
  it('a virtual size that is no size is refused before anything is made', async () => {
    for (const size of [2 ** 60, 0]) {
      const r = new Crafted(size);
      await expect(collect(r)).rejects.toThrow(/image top: the whole disk holds a malformed QEMU image header: its virtual size/);
      expect(r.copies).toEqual([]);
    }
  });

  it('a partition table that grows with every read stops after the bound, every copy inside the disk', async () => {
    const size = 4096 * MiB;
    // each round one more partition, 2 MiB further on: a chain of EBRs that never ends
    const r = new Crafted(size, (round) => Array.from({ length: round }, (_, i) => ({ start: (i + 1) * 4096, size: 2048 })));
    const e = await collect(r).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ImageContentError);
    expect((e as Error).message).toContain(`partition table: it still shows more partitions after ${MAX_TABLE_ROUNDS} rounds of reading`);
    for (const c of r.copies) expect(c.offset + c.length).toBeLessThanOrEqual(size);
    expect(r.copies.reduce((n, c) => n + c.length, 0)).toBeLessThanOrEqual(MAX_FILL_BYTES);
  });

  it('partitions far apart: the bytes copied are bounded, then refused', async () => {
    const size = 2 ** 50;
    // 100 partitions 1 TiB apart: 4 MiB around each would be 400 MiB
    const r = new Crafted(size, () => Array.from({ length: 100 }, (_, i) => ({ start: (i + 1) * 2 ** 31, size: 2 ** 30 })));
    await expect(collect(r)).rejects.toThrow(/plan would copy more than 256 MiB of it to read its structures/);
    expect(r.copies.reduce((n, c) => n + c.length, 0)).toBeLessThanOrEqual(MAX_FILL_BYTES);
  });

  it('more partitions than plan reads is refused; partitions past the end of the disk are never read', async () => {
    const many = new Crafted(64 * MiB, () => Array.from({ length: 129 }, (_, i) => ({ start: 2048 + i * 8, size: 8 })));
    await expect(collect(many)).rejects.toThrow(/image top: the whole disk holds a malformed partition table: the partition table lists 129 partitions/);
    const past = new Crafted(64 * MiB, () => [{ start: 2048, size: 2048 }, { start: 2 ** 40, size: 2 ** 20 }]);
    await collect(past).catch(() => undefined);
    expect(past.copies.length).toBeGreaterThan(0);
    for (const c of past.copies) expect(c.offset + c.length).toBeLessThanOrEqual(64 * MiB);
  });
});
