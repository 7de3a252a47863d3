import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MalformedImageError, type ByteReader } from '../../../src/probe/bytes.js';
import { readGpt } from '../../../src/probe/gpt.js';

interface Spec {
  alternate?: bigint;
  count?: number;
  entrySize?: number;
  entries?: readonly { first: bigint; last: bigint }[];
  breakHeaderCrc?: boolean;
  breakEntriesCrc?: boolean;
  sectorSize?: number;
}

/** A disk's first sectors as the UEFI spec lays them out: protective MBR, header at LBA 1, entries at LBA 2. */
function disk(s: Spec = {}): Uint8Array {
  const ss = s.sectorSize ?? 512;
  const count = s.count ?? 128;
  const entrySize = s.entrySize ?? 128;
  const entries = Buffer.alloc(Math.min(count, 128) * entrySize);
  for (const [i, e] of (s.entries ?? [{ first: 2048n, last: 34815n }, { first: 34816n, last: 131038n }]).entries()) {
    entries.fill(0xaa, i * entrySize, i * entrySize + 16);
    entries.writeBigUInt64LE(e.first, i * entrySize + 32);
    entries.writeBigUInt64LE(e.last, i * entrySize + 40);
    entries.write(`p${i + 1}\u00e9`, i * entrySize + 56, 'utf16le');
  }
  // a type GUID as it lies on disk: 0FC63DAF-8483-4772-8E79-3D69D8477DE4 (Linux filesystem), first three fields little-endian
  if (s.entries === undefined) Buffer.from('AF3DC60F838472478E793D69D8477DE4', 'hex').copy(entries, 0);
  const h = Buffer.alloc(ss);
  h.write('EFI PART', 0, 'ascii');
  h.writeUInt32LE(0x10000, 8);
  h.writeUInt32LE(92, 12);
  h.writeBigUInt64LE(1n, 24);
  h.writeBigUInt64LE(s.alternate ?? 131071n, 32);
  h.writeBigUInt64LE(34n, 40);
  h.writeBigUInt64LE(131038n, 48);
  h.writeBigUInt64LE(2n, 72);
  h.writeUInt32LE(count, 80);
  h.writeUInt32LE(entrySize, 84);
  h.writeUInt32LE(s.breakEntriesCrc ? 1 : crc32(entries), 88);
  h.writeUInt32LE(crc32(h.subarray(0, 92)) + (s.breakHeaderCrc ? 1 : 0), 16);
  const out = Buffer.alloc(2 * ss + entries.length);
  h.copy(out, ss);
  entries.copy(out, 2 * ss);
  return out;
}

const reader = (bytes: Uint8Array): ByteReader => async (offset, length) => bytes.subarray(offset, offset + length);

describe('the primary GPT, read by imgplan (for a GPT sfdisk rejects)', () => {
  it('reads the disk size the header gives and each used entry, numbered as sfdisk numbers them', async () => {
    expect(await readGpt(reader(disk()))).toEqual({
      sectorSize: 512, diskBytes: 131072 * 512,
      partitions: [
        { number: 1, start: 2048, size: 32768, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', name: 'p1\u00e9' },
        { number: 2, start: 34816, size: 96223, type: 'AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA', name: 'p2\u00e9' },
      ],
    });
  });

  it('finds the header of a 4096-byte-sector disk', async () => {
    expect((await readGpt(reader(disk({ sectorSize: 4096, alternate: 999n }))))?.diskBytes).toBe(1000 * 4096);
  });

  it('no header, or one whose checksum fails, is no GPT', async () => {
    expect(await readGpt(reader(new Uint8Array(8192)))).toBeUndefined();
    expect(await readGpt(reader(disk({ breakHeaderCrc: true })))).toBeUndefined();
  });

  it('hostile headers are malformed, never a huge read or a wrong number', async () => {
    const malformed = async (s: Spec) => expect(readGpt(reader(disk(s)))).rejects.toBeInstanceOf(MalformedImageError);
    await malformed({ count: 100_000 });
    await malformed({ entrySize: 100 });
    await malformed({ entrySize: 1 << 20 });
    await malformed({ breakEntriesCrc: true });
    await malformed({ entries: [{ first: 5000n, last: 4000n }] });
    await malformed({ alternate: 1n << 60n });
    // entries the header promises beyond the bytes there are
    await malformed({ count: 256 });
  });
});
