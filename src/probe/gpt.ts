import { crc32 } from 'node:zlib';
import { ascii, bounded, MalformedImageError, u32, u64, type ByteReader } from './bytes.js';

/**
 * The primary GPT header and its entries, read by imgplan itself for one case only: sfdisk finds
 * a GPT's protective MBR but rejects the GPT (libfdisk wants the backup header, at the disk's last
 * sector, to lie inside the device: a copy cut short fails that), and then reports only the
 * protective 0xEE entry. The primary header still says how large the disk was and where its
 * partitions lie, which is what a user of a truncated copy needs to hear.
 */
export interface GptLayout {
  readonly sectorSize: number;
  /** bytes the disk had: the backup header's sector is its last */
  readonly diskBytes: number;
  /** each used entry, numbered as sfdisk numbers them (entry index + 1), in sectors */
  readonly partitions: readonly GptPartition[];
}

export interface GptPartition {
  readonly number: number;
  /** in sectors */
  readonly start: number;
  readonly size: number;
  /** the partition type GUID, as sfdisk prints it (upper case) */
  readonly type: string;
  /** the entry's name (UTF-16LE in the image; attacker-controlled text) */
  readonly name: string;
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();

/** A GUID as text: its first three fields are little-endian on disk. */
function guid(b: Uint8Array): string {
  const r = (s: number, e: number) => Uint8Array.from(b.subarray(s, e)).reverse();
  return `${hex(r(0, 4))}-${hex(r(4, 6))}-${hex(r(6, 8))}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/** GPT allows more, but no guest disk has more entries than this (sfdisk's default is 128). */
const MAX_ENTRIES = 1024;
const HEADER_SIZE = 92;

/**
 * The GPT whose primary header is at sector 1 (of 512 or 4096 bytes), if there is one whose header
 * CRC checks out; undefined otherwise. A header that checks out yet points at entries that do not
 * (a wrong entries CRC, sizes out of bounds) is a MalformedImageError.
 */
export async function readGpt(read: ByteReader): Promise<GptLayout | undefined> {
  for (const ss of [512, 4096]) {
    const h = await read(ss, ss);
    if (h.length < HEADER_SIZE || ascii(h, 0, 8) !== 'EFI PART') continue;
    const headerSize = u32(h, 12);
    if (headerSize < HEADER_SIZE || headerSize > ss) continue;
    const copy = Uint8Array.from(h.subarray(0, headerSize));
    copy.fill(0, 16, 20);
    if (crc32(copy) !== u32(h, 16)) continue;
    const alternate = u64(h, 32);
    const entriesLba = u64(h, 72);
    const count = bounded(u32(h, 80), MAX_ENTRIES, 'the GPT entry count', ss + 80);
    const entrySize = u32(h, 84);
    if (entrySize < 128 || entrySize > 4096 || entrySize % 8 !== 0) throw new MalformedImageError(`GPT entries of ${entrySize} bytes`, ss + 84);
    const entries = await read(entriesLba * ss, count * entrySize);
    if (entries.length < count * entrySize) throw new MalformedImageError('the GPT entries lie past the end of the file', entriesLba * ss);
    if (crc32(entries) !== u32(h, 88)) throw new MalformedImageError('the GPT entries do not match their checksum', entriesLba * ss);
    const partitions = [];
    for (let i = 0; i < count; i++) {
      const e = entries.subarray(i * entrySize, (i + 1) * entrySize);
      if (e.subarray(0, 16).every((b) => b === 0)) continue;
      const first = u64(e, 32);
      const last = u64(e, 40);
      if (last < first) throw new MalformedImageError(`GPT entry ${i + 1} ends (sector ${last}) before it starts (sector ${first})`);
      const name = new TextDecoder('utf-16le').decode(e.subarray(56, 128)).replace(/\0.*$/s, '');
      partitions.push({ number: i + 1, start: first, size: last - first + 1, type: guid(e.subarray(0, 16)), name });
    }
    return { sectorSize: ss, diskBytes: bounded((alternate + 1) * ss, Number.MAX_SAFE_INTEGER, 'the GPT disk size', ss + 32), partitions };
  }
  return undefined;
}
