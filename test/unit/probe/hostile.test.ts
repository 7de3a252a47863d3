/**
 * Hostile images: every byte of a guest image is attacker-controlled. Property-based tests drive
 * the readers with random bytes and with mutations of recorded real structures (byte flips,
 * truncations, size fields set to extreme values). The property: a reader returns a result or
 * throws its typed error (MalformedImageError for image bytes, ShapeError for tool output), never
 * another exception, never a hang, and never asks the byte reader for more than the bounds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedImageError, MAX_READ, MAX_TOTAL_READ, type ByteReader } from '../../../src/probe/bytes.js';
import { ShapeError } from '../../../src/probe/coerce.js';
import { parseBlkidExport } from '../../../src/probe/blkid.js';
import { joinDm, parseDmInfo, parseDmTable } from '../../../src/probe/dmsetup.js';
import { parseFindmnt } from '../../../src/probe/findmnt.js';
import { parseLosetup } from '../../../src/probe/losetup.js';
import { parseLsblk } from '../../../src/probe/lsblk.js';
import { inspectLvmPv, lvmCrc, LVM_LIMITS, parseLvmText } from '../../../src/probe/lvm-metadata.js';
import { inspectNtfs, type NtfsHealth } from '../../../src/probe/ntfs.js';
import { MAX_PARTITIONS, parseSfdisk } from '../../../src/probe/sfdisk.js';
import { recorded } from './fixtures.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures');
/**
 * A fixed seed keeps the runs reproducible (a failure prints its seed and path for fc's replay);
 * FC_RUNS=20000 FC_SEED=$RANDOM npx vitest run test/unit/probe/hostile.test.ts searches longer.
 */
const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 300), seed: Number(process.env.FC_SEED ?? 0x1a9b1a) };

type Ranges = Map<number, Buffer>;

function fixtureRanges(name: string): Ranges {
  const j = JSON.parse(gunzipSync(readFileSync(join(FIXTURES, `${name}.json.gz`))).toString()) as { reads: Record<string, string> };
  const out: Ranges = new Map();
  for (const [k, v] of Object.entries(j.reads)) out.set(Number(k.split('+')[0]), Buffer.from(v, 'base64'));
  return out;
}

/**
 * A volume made of recorded byte ranges (zeros elsewhere), ending at `size`; it records the
 * largest single read and the total, which the readers' bounds must keep below MAX_READ and
 * MAX_TOTAL_READ. A read the bounds should have refused fails loudly instead of allocating.
 */
function volume(ranges: Ranges, size: number) {
  const stats = { maxRead: 0, total: 0, reads: 0 };
  const read: ByteReader = async (offset, length) => {
    stats.reads++;
    stats.maxRead = Math.max(stats.maxRead, length);
    stats.total += length;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || length > MAX_READ) {
      throw new Error(`unbounded read reached the byte reader: ${offset}+${length}`);
    }
    const n = Math.max(0, Math.min(length, size - offset));
    const out = new Uint8Array(n);
    for (const [at, b] of ranges) {
      const from = Math.max(at, offset);
      const to = Math.min(at + b.length, offset + n);
      if (from < to) out.set(b.subarray(from - at, to - at), from - offset);
    }
    return out;
  };
  return { read, stats };
}

/** A field value that is absurd on purpose: zero, all ones, the sign bit, or anything. */
const extreme = (width: number) => fc.oneof(
  fc.constant(0n),
  fc.constant((1n << BigInt(8 * width)) - 1n),
  fc.constant(1n << BigInt(8 * width - 1)),
  fc.constant((1n << BigInt(8 * width - 1)) - 1n),
  fc.bigInt({ min: 0n, max: (1n << BigInt(8 * width)) - 1n }),
);

type Mutation =
  | { kind: 'flip'; range: number; at: number; mask: number }
  | { kind: 'set'; range: number; at: number; width: number; value: bigint }
  | { kind: 'truncate'; range: number; keep: number };

/** Mutations of recorded ranges; `hot` are offsets in range 0 worth aiming at (size fields). */
function mutation(hot: readonly number[]): fc.Arbitrary<Mutation> {
  const at = fc.oneof(fc.constantFrom(...hot), fc.nat({ max: 4095 }));
  const set = fc.constantFrom(1, 2, 4, 8).chain((width) => fc.record({
    kind: fc.constant('set' as const), range: fc.nat({ max: 15 }), at, width: fc.constant(width), value: extreme(width),
  }));
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), range: fc.nat({ max: 15 }), at, mask: fc.integer({ min: 1, max: 255 }) }) },
    { weight: 4, arbitrary: set },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), range: fc.nat({ max: 15 }), keep: fc.nat({ max: 4096 }) }) },
  );
}

function mutate(base: Ranges, ms: readonly Mutation[], hotRange = 0): Ranges {
  const out: Ranges = new Map([...base].map(([k, v]) => [k, Buffer.from(v)]));
  const keys = [...out.keys()];
  for (const m of ms) {
    // aimed offsets ("hot") belong to the first range; others land in any range
    const key = keys[m.range % keys.length === 0 ? hotRange : m.range % keys.length]!;
    const b = out.get(key)!;
    if (m.kind === 'truncate') out.set(key, b.subarray(0, Math.min(m.keep, b.length)));
    else if (m.kind === 'flip') {
      if (m.at < b.length) b[m.at] = b[m.at]! ^ m.mask;
    } else {
      for (let i = 0; i < m.width && m.at + i < b.length; i++) b[m.at + i] = Number((m.value >> BigInt(8 * i)) & 0xffn);
    }
  }
  return out;
}

/** Runs a reader; anything but a result or a MalformedImageError fails, as does an unbounded read. */
async function total<T>(run: (read: ByteReader) => Promise<T>, ranges: Ranges, size: number): Promise<T | MalformedImageError> {
  const v = volume(ranges, size);
  let out: T | MalformedImageError;
  try {
    out = await run(v.read);
  } catch (e) {
    if (!(e instanceof MalformedImageError)) throw e;
    out = e;
  }
  expect(v.stats.maxRead).toBeLessThanOrEqual(MAX_READ);
  expect(v.stats.total).toBeLessThanOrEqual(MAX_TOTAL_READ);
  return out;
}

const NTFS_FIXTURES = ['clean', 'clean-log', 'dirty', 'fast-startup', 'hibernated', 'unclean'] as const;
/** boot sector: bytes per sector, sectors per cluster, $MFT cluster, MFT record and index block sizes */
const NTFS_HOT = [0x0b, 0x0c, 0x0d, 0x30, 0x34, 0x38, 0x40, 0x44];
const VOLUME_SIZE = 64 * 1024 * 1024;

describe('the NTFS reader on hostile volumes', () => {
  it('mutated recorded volumes: a result (problems for what is wrong), never another exception, reads bounded', async () => {
    const bases = NTFS_FIXTURES.map((n) => fixtureRanges(`ntfs/${n}`));
    await fc.assert(fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutation(NTFS_HOT), { minLength: 1, maxLength: 6 }),
      async (i, ms) => {
        const h = await total(inspectNtfs, mutate(bases[i]!, ms), VOLUME_SIZE);
        // inspectNtfs reports every malformation as a problem; it throws nothing
        expect(h).not.toBeInstanceOf(MalformedImageError);
      }), RUNS);
  });

  it('random bytes behind a valid-looking boot sector', async () => {
    const boot = fc.record({
      bps: fc.constantFrom(0, 1, 256, 512, 4096, 0xffff, 513),
      spc: fc.integer({ min: 0, max: 255 }),
      mft: fc.oneof(fc.nat({ max: 64 }), fc.constant(2 ** 52)),
      rec: fc.integer({ min: 0, max: 255 }),
      idx: fc.integer({ min: 0, max: 255 }),
    });
    await fc.assert(fc.asyncProperty(boot, fc.uint8Array({ minLength: 512, maxLength: 64 * 1024 }), async (g, bytes) => {
      const b = Buffer.from(bytes);
      b.write('NTFS    ', 3, 'latin1');
      b.writeUInt16LE(g.bps, 0x0b);
      b[0x0d] = g.spc;
      b.writeBigUInt64LE(BigInt(g.mft), 0x30);
      b[0x40] = g.rec;
      b[0x44] = g.idx;
      const h = await total(inspectNtfs, new Map([[0, b]]), b.length);
      expect(h).not.toBeInstanceOf(MalformedImageError);
    }), RUNS);
  });

  // found by the properties above: before the bounds, each sent the reader to absurd offsets (2^53 and beyond, 2^128-byte reads) or misread the volume
  it.each([
    ['MFT record size 2^-(-128) = 2^128 bytes (i8 0x80 at 0x40)', 0x40, 1, 0x80n, /boot sector: implausible MFT record size/],
    ['sectors per cluster 0xE0: 2^32 sectors of 512 bytes', 0x0d, 1, 0xe0n, /boot sector: implausible geometry/],
    ['$MFT at cluster 2^52 × 4096', 0x30, 8, 2n ** 52n, /boot sector: \$MFT cluster 4503599627370496 is beyond any volume/],
    ['index block size of 127 clusters', 0x44, 1, 0x7fn, /boot sector: implausible index block size/],
  ])('regression: %s', async (_what, at, width, value, problem) => {
    const h = await total(inspectNtfs, mutate(fixtureRanges('ntfs/clean'), [{ kind: 'set', range: 0, at, width, value }]), VOLUME_SIZE);
    expect(h).toMatchObject({ dirty: 'unknown', logFile: 'unknown', hibernation: 'unknown' });
    expect((h as NtfsHealth).problems.join()).toMatch(problem);
  });

  it('regression: a $LogFile restart page that claims a 4 GiB page size is refused, not allocated', async () => {
    const ranges = fixtureRanges('ntfs/clean-log');
    // the first restart page: the 4096-byte read whose bytes start with RSTR
    const [at] = [...ranges].find(([, b]) => b.length === 4096 && b.subarray(0, 4).toString('latin1') === 'RSTR')!;
    ranges.get(at)!.writeUInt32LE(0xffffffff, 0x10);
    const h = await total(inspectNtfs, ranges, VOLUME_SIZE);
    expect((h as NtfsHealth).problems).toContain('$LogFile: implausible $LogFile page size of 4294967295 bytes (at byte 16)');
  });
});

const LVM_FIXTURES = ['centos-pv', 'span-pv0', 'span-pv1'] as const;

/**
 * Signs a recorded PV's label, metadata area header (at 4096) and text again after an edit, as
 * LVM would have: LVM ignores what fails its checksums, and so does the reader, so an edit left
 * unsigned only tests the checksum; signed, it reaches the bounds behind it.
 */
function resign(r: Ranges): Ranges {
  const label = r.get(0);
  for (let s = 0; label && s < 4; s++) {
    if (label.length >= (s + 1) * 512 && label.toString('latin1', s * 512, s * 512 + 8) === 'LABELONE') {
      label.writeUInt32LE(lvmCrc(label.subarray(s * 512 + 20, s * 512 + 512)), s * 512 + 16);
    }
  }
  const mda = r.get(4096);
  if (mda && mda.length >= 512) {
    const text = r.get(4096 + Number(mda.readBigUInt64LE(40)));
    const size = mda.readBigUInt64LE(48);
    if (text && size <= BigInt(text.length)) mda.writeUInt32LE(lvmCrc(text.subarray(0, Number(size))), 56);
    mda.writeUInt32LE(lvmCrc(mda.subarray(4, 512)), 0);
  }
  return r;
}
/** label sector: header offset; PV header area lists; mda header: text offset and size */
const LVM_HOT = [0x14, 0x40, 0x48, 0x50, 0x58, 0x60, 0x68, 0x70, 0x78];

describe('the LVM reader on hostile PVs', () => {
  it('mutated recorded PVs: a result or a MalformedImageError, reads bounded', async () => {
    const bases = LVM_FIXTURES.map((n) => fixtureRanges(`lvm/${n}`));
    await fc.assert(fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutation(LVM_HOT), { minLength: 1, maxLength: 6 }),
      async (i, ms) => {
        await total(inspectLvmPv, resign(mutate(bases[i]!, ms)), VOLUME_SIZE);
      }), RUNS);
  });

  it('mutated metadata area headers (text offset and size) and texts', async () => {
    const base = fixtureRanges('lvm/centos-pv');
    // the mda header is the range at 4096; aim at its raw location (offset 40, size 48)
    await fc.assert(fc.asyncProperty(fc.array(mutation([40, 44, 48, 52, 0, 4]), { minLength: 1, maxLength: 4 }), async (ms) => {
      await total(inspectLvmPv, resign(mutate(base, ms, 1)), VOLUME_SIZE);
    }), RUNS);
  });

  it('a label, metadata area header or text that fails LVM\'s checksum is refused, as LVM ignores it', async () => {
    const flip = (b: Buffer, at: number) => void b.writeUInt8(b.readUInt8(at) ^ 1, at);
    const signed = await total(inspectLvmPv, resign(fixtureRanges('lvm/centos-pv')), VOLUME_SIZE);
    expect(signed).not.toBeInstanceOf(Error);
    const edits: [string, (r: Ranges) => void, RegExp][] = [
      ['label', (r) => flip(r.get(0)!, 512 + 40), /PV label checksum does not match/],
      ['header', (r) => flip(r.get(4096)!, 100), /metadata area at 4096: metadata area header checksum does not match/],
      ['text', (r) => flip(r.get(7168)!, 20), /metadata area at 4096: metadata text checksum does not match \(LVM does not use this copy\)/],
    ];
    for (const [what, edit, problem] of edits) {
      const ranges = fixtureRanges('lvm/centos-pv');
      edit(ranges);
      const e = await total(inspectLvmPv, ranges, VOLUME_SIZE);
      expect(e, what).toBeInstanceOf(MalformedImageError);
      expect((e as Error).message, what).toMatch(problem);
    }
  });

  it('regression: a metadata text size of 2^40 bytes is refused before any read', async () => {
    const ranges = fixtureRanges('lvm/centos-pv');
    ranges.get(4096)!.writeBigUInt64LE(2n ** 40n, 48);
    const e = await total(inspectLvmPv, resign(ranges), VOLUME_SIZE);
    expect(e).toBeInstanceOf(MalformedImageError);
    expect((e as Error).message).toMatch(/metadata area at 4096: metadata text of 1099511627776 bytes is larger than its area/);
  });

  it('regression: a metadata area of 2^52 bytes with text of 64 MiB is refused by the 1 MiB bound', async () => {
    const ranges = fixtureRanges('lvm/centos-pv');
    const label = ranges.get(0)!;
    // the metadata area list follows the data area list in the PV header; set the size of its entry
    const hdr = 512 + label.readUInt32LE(512 + 20);
    let p = hdr + 40;
    while (label.readBigUInt64LE(p) || label.readBigUInt64LE(p + 8)) p += 16;
    label.writeBigUInt64LE(2n ** 52n, p + 16 + 8);
    ranges.get(4096)!.writeBigUInt64LE(64n * 1024n * 1024n, 48);
    const e = await total(inspectLvmPv, resign(ranges), VOLUME_SIZE);
    expect((e as Error).message).toMatch(/metadata text of 67108864 bytes is larger than 1048576/);
  });
});

/** LVM-ish tokens, so that random texts get past the first character */
const TOKENS = ['{', '}', '=', '[', ']', ',', '"', '\\', '\n', '#', ' ', 'a', 'vg', 'pv0', '-1', '12', '3.5', '"s"', '\0', 'é', '__proto__',
  'constructor', 'segment1', 'stripes', 'extent_size', 'pe_start', '99999999999999999999999'];

describe('the LVM metadata text parser', () => {
  it('random texts: a section or a MalformedImageError', () => {
    const text = fc.oneof(fc.string({ maxLength: 400 }), fc.array(fc.constantFrom(...TOKENS), { maxLength: 300 }).map((t) => t.join('')));
    fc.assert(fc.property(text, (t) => {
      try {
        parseLvmText(t);
      } catch (e) {
        if (!(e instanceof MalformedImageError)) throw e;
      }
    }), RUNS);
  });

  it('mutated real metadata texts, through the whole PV reader', async () => {
    const base = fixtureRanges('lvm/centos-pv');
    const text = base.get(7168)!.toString('latin1');
    const edit = fc.record({ at: fc.nat({ max: text.length }), cut: fc.nat({ max: 40 }), insert: fc.array(fc.constantFrom(...TOKENS), { maxLength: 8 }) });
    await fc.assert(fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 5 }), async (edits) => {
      let t = text;
      for (const e of edits) t = t.slice(0, e.at) + e.insert.join('') + t.slice(e.at + e.cut);
      const ranges = new Map(base);
      const b = Buffer.from(t, 'latin1');
      ranges.set(7168, b);
      const mda = Buffer.from(ranges.get(4096)!);
      mda.writeBigUInt64LE(BigInt(b.length), 48);
      ranges.set(4096, mda);
      await total(inspectLvmPv, resign(ranges), VOLUME_SIZE);
    }), RUNS);
  });

  it('regression: sections nested 100 000 deep are a MalformedImageError, not a stack overflow', () => {
    expect(() => parseLvmText('a {'.repeat(100_000))).toThrow(MalformedImageError);
    expect(() => parseLvmText(`${'a {\n'.repeat(LVM_LIMITS.depth + 1)}`)).toThrow(/nested more than 32 deep/);
  });

  it('regression: a "__proto__" section is a key, not a prototype', () => {
    const t = parseLvmText('__proto__ { seqno = 1 }\n');
    expect(Object.keys(t)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).seqno).toBeUndefined();
  });

  it('regression: absurd numbers in the VG metadata are refused (extents that overflow a byte offset)', async () => {
    const base = fixtureRanges('lvm/centos-pv');
    const t = base.get(7168)!.toString('latin1').replace('extent_size = 8192', 'extent_size = 4294967296').replace('"pv0", 10', '"pv0", 4294967295');
    const ranges = new Map(base);
    ranges.set(7168, Buffer.from(t, 'latin1'));
    const mda = Buffer.from(ranges.get(4096)!);
    mda.writeBigUInt64LE(BigInt(t.length), 48);
    ranges.set(4096, mda);
    const e = await total(inspectLvmPv, resign(ranges), VOLUME_SIZE);
    expect((e as Error).message).toMatch(/VolGroup\/lv_swap: a segment ends at extent 4294967297, beyond any disk/);
  });
});

/** Tool output parsers: collect turns any error of theirs into a ProbeError; none may hang or crash otherwise. */
describe('tool output parsers on random and mutated output', () => {
  const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
  const mutatedText = (t: string) => fc.array(fc.record({ at: fc.nat({ max: t.length }), cut: fc.nat({ max: 20 }), insert: fc.string({ maxLength: 8 }) }),
    { minLength: 1, maxLength: 4 }).map((es) => es.reduce((s, e) => s.slice(0, e.at) + e.insert + s.slice(e.at + e.cut), t));

  it('sfdisk: a table or a ShapeError', () => {
    const texts = fc.oneof(json, mutatedText(recorded('sfdisk-dos.json')), mutatedText(recorded('sfdisk-gpt.json')), fc.string());
    fc.assert(fc.property(texts, (t) => {
      try {
        parseSfdisk(t);
      } catch (e) {
        if (!(e instanceof ShapeError)) throw e;
      }
    }), RUNS);
  });

  it(`sfdisk: more than ${MAX_PARTITIONS} partitions, or sectors beyond 2^53 bytes, are a ShapeError`, () => {
    const table = (parts: unknown[]) => JSON.stringify({ partitiontable: { label: 'gpt', device: '/d', unit: 'sectors', sectorsize: 512, partitions: parts } });
    const part = (i: number, start = 2048) => ({ node: `/d${i}`, start, size: 8, type: '83' });
    expect(() => parseSfdisk(table(Array.from({ length: MAX_PARTITIONS + 1 }, (_, i) => part(i + 1))))).toThrow(ShapeError);
    expect(() => parseSfdisk(table([part(1, 2 ** 45)]))).toThrow(/ends beyond any disk/);
    expect(() => parseSfdisk(table([{ ...part(1), start: -5 }]))).toThrow(ShapeError);
  });

  it('blkid, lsblk, losetup, findmnt, dmsetup: a result or an Error (never a hang, never a non-Error throw)', () => {
    const texts = fc.oneof(json, fc.string({ maxLength: 300 }), mutatedText(recorded('lsblk.json')), mutatedText(recorded('losetup.json')),
      mutatedText(recorded('findmnt.json')), mutatedText(recorded('blkid-ext4.txt')));
    fc.assert(fc.property(texts, (t) => {
      for (const parse of [parseBlkidExport, parseLsblk, parseLosetup, parseFindmnt, (s: string) => joinDm(parseDmInfo(s), parseDmTable(s))]) {
        try {
          parse(t);
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
        }
      }
    }), RUNS);
  });
});
