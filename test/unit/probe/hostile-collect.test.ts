/**
 * A crafted image through collect and plan: an absurd size field in an NTFS or LVM structure is a
 * clear, located message, never an internal error (exit 70).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { EXIT, ImageContentError } from '../../../src/errors.js';
import { collectState } from '../../../src/probe/collect.js';
import { lvmCrc } from '../../../src/probe/lvm-metadata.js';
import { FixtureRunner } from '../../../src/runner/fixture-runner.js';
import { bytesKey, type Command, type CommandResult, type PathInfo, type Runner } from '../../../src/runner/runner.js';
import { manifestFor, recording } from '../golden-support.js';

const STATE = 'windows/fresh';
const WIN10 = '/tmp/imgplan-golden/win10.img';
/** win10's partition 3 (NTFS C:), as the recording's sfdisk says */
const PART3 = 17825792;

/** The recorded Windows state, with some of its bytes and blkid answers replaced. */
class Crafted implements Runner {
  private readonly inner: FixtureRunner;
  constructor(private readonly bytes: (offset: number, length: number) => Uint8Array | undefined,
    private readonly blkidType?: string) {
    this.inner = new FixtureRunner(recording(STATE), STATE);
  }
  async run(cmd: Command): Promise<CommandResult> {
    const r = await this.inner.run(cmd);
    if (this.blkidType && cmd.argv[0] === 'blkid' && cmd.argv.includes(String(PART3))) {
      return { ...r, stdout: `DEVNAME=${WIN10}\nTYPE=${this.blkidType}\nUSAGE=raid\n` };
    }
    return r;
  }
  readText(p: string): Promise<string | undefined> {
    return this.inner.readText(p);
  }
  inspectPath(p: string): Promise<PathInfo> {
    return this.inner.inspectPath(p);
  }
  async readBytes(p: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const mine = p === WIN10 && offset >= PART3 ? this.bytes(offset - PART3, length) : undefined;
    return mine ?? this.inner.readBytes(p, offset, length);
  }
}

const collect = (runner: Runner) => {
  const { manifest } = manifestFor(STATE);
  return { manifest, obs: collectState(runner, manifest, { stateDir: String(recording(STATE).meta.state_dir) }) };
};

describe('crafted images through collect', () => {
  it('NTFS: an MFT record size of 2^128 bytes (0x80 at boot sector 0x40) is a plan warning on that partition', async () => {
    const rec = recording(STATE);
    const boot = Buffer.from(rec.bytes![bytesKey(WIN10, PART3, 512)]!, 'base64');
    boot[0x40] = 0x80;
    const { manifest, obs } = collect(new Crafted((o, n) => (o === 0 && n === 512 ? boot : undefined)));
    const state = await obs;
    expect(state.images.win10!.ntfs!.part3).toMatchObject({
      dirty: 'unknown', logFile: 'unknown', hibernation: 'unknown',
      problems: ['boot sector: implausible MFT record size of 2^128 bytes (at byte 64)'],
    });
    const r = makePlan(manifest, state, { mode: 'apply' });
    expect(r.diagnostics.map((d) => d.message)).toContain(
      'could not fully read the Windows state of win10/part3 ("Windows") (boot sector: implausible MFT record size of 2^128 bytes' +
        ' (at byte 64)); treat it as possibly unclean');
  });

  it('LVM: a metadata text size of 2^40 bytes refuses the plan (exit 3), naming the image and partition', async () => {
    const j = JSON.parse(gunzipSync(readFileSync(join(import.meta.dirname, '../../fixtures/lvm/centos-pv.json.gz'))).toString()) as
      { reads: Record<string, string> };
    const reads = new Map(Object.entries(j.reads).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    const mda = reads.get('4096+512')!;
    mda.writeBigUInt64LE(2n ** 40n, 48);
    // signed again, as LVM would have: the size is what is tested, not the checksum
    mda.writeUInt32LE(lvmCrc(mda.subarray(4, 512)), 0);
    const { obs } = collect(new Crafted((o, n) => reads.get(`${o}+${n}`), 'LVM2_member'));
    const e = await obs.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ImageContentError);
    expect((e as ImageContentError).exitCode).toBe(EXIT.invalid);
    expect((e as ImageContentError).message).toBe('image win10: partition 3 holds a malformed LVM physical volume: ' +
      'PV Dp3iYH-3oLE-nheg-TIQ8-I5y4-JfTr-mn3Sut: metadata area at 4096: metadata text of 1099511627776 bytes is larger than its area (at byte 4144)');
  });
});
