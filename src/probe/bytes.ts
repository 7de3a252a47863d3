/**
 * Little-endian fields of on-disk structures (NTFS, LVM), read from bytes a caller supplies:
 * the pure readers take a ByteReader, the probe gives them the image file through the Runner.
 */

/** Reads `length` bytes at `offset` of a volume; a short result means the volume ends there. */
export type ByteReader = (offset: number, length: number) => Promise<Uint8Array>;

/** A structure that is not what it should be; each reader reports it as "unknown", with the reason. */
export class DiskFormatError extends Error {}

export const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
export const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
export function u64(b: Uint8Array, o: number): number {
  const v = u32(b, o) + u32(b, o + 4) * 0x100000000;
  if (!Number.isSafeInteger(v)) throw new DiskFormatError(`64-bit field at ${o} is out of range`);
  return v;
}
export const i8 = (b: Uint8Array, o: number) => (b[o]! << 24) >> 24;
export const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
