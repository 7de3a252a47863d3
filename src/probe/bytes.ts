/**
 * Little-endian fields of on-disk structures (NTFS, LVM), read from bytes a caller supplies:
 * the pure readers take a ByteReader, the probe gives them the image file through the Runner.
 *
 * Everything in a guest image is attacker-controlled, so every field read here is bounds-checked
 * (a field past the end of its buffer is a malformed structure, not a zero or NaN), and every
 * read goes through boundedReader: never more than MAX_READ bytes at once, never more than a
 * budget per volume, never at an offset that is not a plain non-negative integer.
 */

/** Reads `length` bytes at `offset` of a volume; a short result means the volume ends there. */
export type ByteReader = (offset: number, length: number) => Promise<Uint8Array>;

/**
 * A structure in a guest image that is not what it should be: what is wrong, and where (the byte
 * offset in the volume, or within the structure named in the message, when known). The readers
 * throw nothing else for bad bytes; each reports it as "unknown" with the reason, or lets it reach
 * collect, which names the image and partition.
 */
export class MalformedImageError extends Error {
  constructor(message: string, readonly offset?: number) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = 'MalformedImageError';
  }
}

/** The name the readers used before the bounds were added. */
export { MalformedImageError as DiskFormatError };

/** The largest single read a reader makes (the largest structure is an LVM metadata text of 1 MiB). */
export const MAX_READ = 4 * 1024 * 1024;
/** The most a reader reads of one volume, and collect of one image. */
export const MAX_TOTAL_READ = 64 * 1024 * 1024;

function field(b: Uint8Array, o: number, n: number): void {
  if (!Number.isInteger(o) || o < 0 || o + n > b.length) {
    throw new MalformedImageError(`a ${8 * n}-bit field at ${o} lies outside its ${b.length}-byte structure`);
  }
}

export const u16 = (b: Uint8Array, o: number) => {
  field(b, o, 2);
  return b[o]! | (b[o + 1]! << 8);
};
export const u32 = (b: Uint8Array, o: number) => {
  field(b, o, 4);
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
};
export function u64(b: Uint8Array, o: number): number {
  const v = u32(b, o) + u32(b, o + 4) * 0x100000000;
  if (!Number.isSafeInteger(v)) throw new MalformedImageError(`64-bit field at ${o} is out of range`);
  return v;
}
export const i8 = (b: Uint8Array, o: number) => {
  field(b, o, 1);
  return (b[o]! << 24) >> 24;
};
/** Up to `n` characters at `o` (fewer where the buffer ends: callers compare, never index, the result). */
export const ascii = (b: Uint8Array, o: number, n: number) => {
  let s = '';
  for (const c of b.subarray(o, o + Math.min(n, 4096))) s += String.fromCharCode(c);
  return s;
};

/** `what` as a safe non-negative integer no larger than `max`, else a MalformedImageError. */
export function bounded(v: number, max: number, what: string, offset?: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new MalformedImageError(`${what} is ${v}, outside 0..${max}`, offset);
  return v;
}

export interface ReadBudget {
  readonly total: number;
  /** bytes that may still be read */
  remaining: number;
}

export function readBudget(total = MAX_TOTAL_READ): ReadBudget {
  return { total, remaining: total };
}

/**
 * `read`, refusing (with a MalformedImageError) a read at an offset that is not a safe
 * non-negative integer, one longer than `maxRead`, or one past what `budget` has left; a
 * result longer than asked is cut to length.
 */
export function boundedReader(read: ByteReader, budget: ReadBudget = readBudget(), maxRead = MAX_READ): ByteReader {
  return async (offset, length) => {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new MalformedImageError(`a structure points to byte ${offset}, outside the volume`);
    if (!Number.isSafeInteger(length) || length < 0 || length > maxRead) {
      throw new MalformedImageError(`a structure asks for a read of ${length} bytes (the bound is ${maxRead})`, offset);
    }
    if (length > budget.remaining) {
      throw new MalformedImageError(`the structures ask for more than ${budget.total} bytes of reads in all`, offset);
    }
    budget.remaining -= length;
    const b = await read(offset, length);
    return b.length > length ? b.subarray(0, length) : b;
  };
}
