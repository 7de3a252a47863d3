import { error, type Diagnostic, type SourcePos } from '../diagnostics.js';
import type { ImageSpec } from '../manifest/types.js';
import type { ImageObservation } from '../probe/observed.js';
import type { PartitionTable } from '../probe/sfdisk.js';
import { humanBytes } from './format.js';

/**
 * Images cut short (a copy that stopped early, a download that did not finish) are the normal case
 * in incident response: their partition tables describe more disk than the file holds. A
 * partition that lies wholly inside the file is still whole; the others are not.
 */

const RECOPY = 'copy the image again from its source, or compare its size with the original\'s (ls -l, qemu-img info)';

/** Whether a partition (in sectors) lies wholly inside an image of imageBytes. */
export function wholeInside(p: { readonly start: number; readonly size: number }, sectorSize: number, imageBytes: number): boolean {
  return (p.start + p.size) * sectorSize <= imageBytes;
}

function inside(parts: readonly { number: number; start: number; size: number }[], sectorSize: number, imageBytes: number): string {
  const whole = parts.filter((p) => wholeInside(p, sectorSize, imageBytes)).map((p) => `part${p.number}`);
  return whole.length ? `partitions wholly inside the file: ${whole.join(', ')}` : 'no partition lies wholly inside the file';
}

/** sfdisk rejected a GPT and saw only its protective MBR: why, from the primary header imgplan read (observation.rejectedGpt). */
export function rejectedGptProblem(img: ImageSpec, o: ImageObservation, imageBytes: number, at: SourcePos): Diagnostic | undefined {
  if (o.rejectedGpt === undefined) return undefined;
  const gpt = o.rejectedGpt;
  if (gpt && gpt.diskBytes > imageBytes) {
    return error('image-truncated', `image ${img.name} is a GPT disk of ${humanBytes(gpt.diskBytes)}, but ${img.file} holds only ${humanBytes(imageBytes)}: ` +
      'it looks truncated (a copy cut short), so its partition table cannot be read', at,
    `${inside(gpt.partitions, gpt.sectorSize, imageBytes)}; ${RECOPY}`);
  }
  return error('gpt-unreadable', `image ${img.name} has a GPT's protective MBR, but sfdisk reads no valid GPT ` +
    `(${gpt ? 'its primary header checks out, the rest does not' : 'no GPT header checks out'})`, at,
  'the partition table is damaged: check it on a copy (sgdisk --verify, or gdisk), or leave this image out of the manifest');
}

/** A partition that ends past the end of the image: the image is truncated, and the partition is not all there. */
export function pastEndProblem(img: ImageSpec, table: PartitionTable, number: number, imageBytes: number, at: SourcePos): Diagnostic | undefined {
  const part = table.partitions.find((p) => p.number === number);
  if (!part || wholeInside(part, table.sectorSize, imageBytes)) return undefined;
  return error('image-truncated', `partition ${number} of ${img.name} ends at ${humanBytes((part.start + part.size) * table.sectorSize)}, ` +
    `past the end of the image (${humanBytes(imageBytes)}): the image looks truncated (a copy cut short), and this partition is not all there`, at,
  `${inside(table.partitions, table.sectorSize, imageBytes)}; ${RECOPY}`);
}
