import type { Command } from '../runner/runner.js';
import { optValue } from './storage-daemon.js';

/**
 * Plan's look inside a QEMU image, in user space: a sparse raw file of the
 * image's virtual size in plan's probe folder, of which only the regions plan reads are filled
 * with the guest's bytes, each by one `qemu-img convert` that copies that range of the guest disk
 * into the same range of the file. No kernel facility (no FUSE, no nbd, no loop) and no daemon:
 * every qemu-img exits when its copy is done, and the file is removed before plan returns (or
 * swept by the next run after a kill). sfdisk, blkid and the LVM and NTFS readers then read the
 * file as they read a raw image; what was never filled reads as zeros.
 *
 * Everything in an image is attacker-controlled (its virtual size too), so the ranges are cut to
 * the virtual size, rounded to whole chunks, and bounded in number and in bytes.
 *
 * Field notes (QEMU 7.2, Debian 12):
 * - qemu-img convert over QEMU's raw driver with offset= and size= on both sides copies exactly
 *   that range, ~20 ms a process for 1 MiB; a zero range is left a hole (convert -n writes zeros
 *   or punches, never fills a sparse file with zeros). The raw driver refuses a size that is
 *   not a multiple of 512 ("Specified size is not multiple of 512") and a range past the end of
 *   the disk ("The sum of offset (…) and size (…) has to be smaller or equal to the actual size
 *   of the containing file"), so a hostile partition table cannot make it read elsewhere.
 * - --image-opts and --format (-f) are mutually exclusive: the format goes in as file.driver=.
 * - -U (force-share) is accepted with read-only=on in the options; without it, an image a VM
 *   holds fails with `Failed to get shared "write" lock`, as qemu-img info does.
 * - qemu-io -r -c 'read -v OFF LEN' was the other way measured: one process for all reads, but
 *   its hex dump is ~4.8 bytes of text per byte (5 MB per MiB, 0.2 s to print), which would
 *   have to be parsed, written through Node, and recorded in every golden state.
 */

/** The unit of filling: ranges are widened to whole chunks, and a chunk is copied once. */
export const FILL_CHUNK = 1024 * 1024;
/** The most plan copies of one image into its probe view (a few MiB per partition is typical). */
export const MAX_FILL_BYTES = 256 * 1024 * 1024;
/** How many partitions' heads and tails are filled: more is a table plan will not read. */
export const MAX_FILL_PARTITIONS = 128;
/**
 * How many times sfdisk rereads the table while filling reveals more of it (a DOS extended
 * partition shows one more logical partition per round, as each EBR is filled).
 */
export const MAX_TABLE_ROUNDS = 64;
/** The largest virtual size plan makes a view of (2^53: past it offsets are not exact in JavaScript). */
export const MAX_VIEW_SIZE = Number.MAX_SAFE_INTEGER;

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** Why a virtual size cannot be a probe view, or undefined when it can. */
export function badViewSize(size: number): string | undefined {
  if (!Number.isSafeInteger(size) || size <= 0) return `its virtual size ${size} is not a positive whole number of bytes`;
  if (size > MAX_VIEW_SIZE) return `its virtual size ${size} is larger than imgplan reads (${MAX_VIEW_SIZE} bytes)`;
  return undefined;
}

/** The first and last MiB of the disk: MBR, GPT and its backup, and what blkid probes of a whole disk. */
export function diskEnds(size: number): ByteRange[] {
  return [{ offset: 0, length: FILL_CHUNK }, { offset: size - FILL_CHUNK, length: FILL_CHUNK }];
}

/**
 * What sfdisk and blkid need of a partition table's partitions (byte offsets and sizes): the MiB
 * before and after each partition's start (a DOS logical partition's EBR lies just before it) and
 * before and after its end (the next EBR lies just after it; a filesystem's tail, a backup
 * superblock or RAID label lies before it).
 */
export function partitionRanges(parts: readonly ByteRange[]): ByteRange[] {
  if (parts.length > MAX_FILL_PARTITIONS) {
    throw new RangeError(`the partition table lists ${parts.length} partitions (plan reads at most ${MAX_FILL_PARTITIONS})`);
  }
  return parts.flatMap((p) => [
    { offset: p.offset - FILL_CHUNK, length: 2 * FILL_CHUNK },
    { offset: p.offset + p.length - FILL_CHUNK, length: 2 * FILL_CHUNK },
  ]);
}

/** The head and tail MiB of a byte range (what blkid of a partition or volume reads). */
export function rangeEnds(r: ByteRange): ByteRange[] {
  return [{ offset: r.offset, length: FILL_CHUNK }, { offset: r.offset + r.length - FILL_CHUNK, length: FILL_CHUNK }];
}

/**
 * The copies that fill `ranges` of a view of `size` bytes, given the chunks already `filled`:
 * each range cut to the disk and widened to whole chunks, chunks already there left out, and
 * consecutive chunks joined into one copy. Each copy's length is a multiple of 512 (QEMU's raw
 * driver wants that), so the last bytes of a disk whose size is not are never filled (zeros).
 */
export function missingCopies(ranges: readonly ByteRange[], size: number, filled: ReadonlySet<number>): ByteRange[] {
  const chunks = new Set<number>();
  for (const r of ranges) {
    if (!Number.isFinite(r.offset) || !Number.isFinite(r.length) || r.length <= 0) continue;
    const start = Math.max(0, r.offset);
    const end = Math.min(size, r.offset + r.length);
    if (end <= start) continue;
    for (let c = Math.floor(start / FILL_CHUNK); c * FILL_CHUNK < end; c++) if (!filled.has(c)) chunks.add(c);
  }
  const sorted = [...chunks].sort((a, b) => a - b);
  const copies: ByteRange[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    const offset = sorted[i]! * FILL_CHUNK;
    const end = Math.min(size, (sorted[j]! + 1) * FILL_CHUNK);
    const length = Math.floor((end - offset) / 512) * 512;
    if (length > 0) copies.push({ offset, length });
    i = j + 1;
  }
  return copies;
}

/** The chunks a copy fills. */
export function chunksOf(copy: ByteRange): number[] {
  const out: number[] = [];
  for (let c = Math.floor(copy.offset / FILL_CHUNK); c * FILL_CHUNK < copy.offset + copy.length; c++) out.push(c);
  return out;
}

export interface FillSpec {
  readonly image: string;
  /** the manifest's format: never probed */
  readonly format: string;
  /** the image is in use by another process and allow_live says read it anyway (read-only, shared locking) */
  readonly forceShare: boolean;
  readonly view: string;
}

/**
 * Copies `r` of the guest disk into the same bytes of the view. qemu-img convert opens its
 * source read-only (and with -U, shared); the raw driver's offset and size over the image's own
 * format driver select the range of the guest disk (QEMU refuses a range past its end), the same
 * over the view's file driver the range written, so nothing else of the view is touched; -n: the
 * view exists, it is not created or truncated. The image's backing files are opened as its
 * header names them, as the storage daemon's export did: collect has checked the chain first.
 */
export function fillCommand(s: FillSpec, r: ByteRange): Command {
  const range = `offset=${r.offset},size=${r.length}`;
  return {
    argv: ['qemu-img', 'convert', '-n', ...(s.forceShare ? ['-U'] : []),
      '--image-opts', `driver=raw,${range},file.driver=${s.format},file.file.driver=file,file.file.filename=${optValue(s.image)},read-only=on`,
      '--target-image-opts', `driver=raw,${range},file.driver=file,file.filename=${optValue(s.view)}`],
    effect: 'scratch',
    timeoutMs: 60_000,
  };
}
