import { asArray, asBool, asNumber, asOptString, asRecord, asString, parseJsonObject, ShapeError } from './coerce.js';

export interface Partition {
  /** as fdisk/sfdisk number it: MBR primaries 1–4, logicals from 5; GPT entries 1… */
  readonly number: number;
  /** in sectors of `sectorSize` */
  readonly start: number;
  readonly size: number;
  readonly type: string;
  readonly name?: string;
  readonly bootable: boolean;
}

export interface PartitionTable {
  readonly label: string;
  readonly sectorSize: number;
  readonly partitions: readonly Partition[];
}

/** MBR partition types that are containers for logical partitions, not filesystems. */
export const MBR_EXTENDED_TYPES: ReadonlySet<string> = new Set(['5', 'f', '85']);

/**
 * The partition table is read from the image, so it is bounded: GPT's default is 128 entries and
 * sfdisk reads more only from a table that asks for it; no guest disk has this many.
 */
export const MAX_PARTITIONS = 1024;

/** A sector count or number from the table: a safe non-negative integer. */
function sectors(v: unknown, what: string): number {
  const n = asNumber(v, what);
  if (!Number.isSafeInteger(n) || n < 0) throw new ShapeError(`${what}: ${n} is not a sector count`);
  return n;
}

/**
 * Parses `sfdisk --json FILE`. sfdisk names partitions after the device ("web01.img3", or
 * "disk0p3" when the name ends in a digit); the number is what follows that prefix.
 */
export function parseSfdisk(text: string): PartitionTable {
  const root = parseJsonObject(text, 'sfdisk');
  const t = asRecord(root.partitiontable, 'sfdisk partitiontable');
  const device = asString(t.device, 'sfdisk device');
  const unit = asOptString(t.unit) ?? 'sectors';
  if (unit !== 'sectors') throw new ShapeError(`sfdisk: unexpected unit ${unit}`);
  const sectorSize = t.sectorsize === undefined ? 512 : asNumber(t.sectorsize, 'sfdisk sectorsize');
  if (![512, 1024, 2048, 4096].includes(sectorSize)) throw new ShapeError(`sfdisk: unexpected sector size ${sectorSize}`);
  const list = asArray(t.partitions, 'sfdisk partitions');
  if (list.length > MAX_PARTITIONS) throw new ShapeError(`sfdisk: ${list.length} partitions, more than ${MAX_PARTITIONS}`);
  const partitions = list.map((raw) => {
    const p = asRecord(raw, 'sfdisk partition');
    const node = asString(p.node, 'sfdisk node');
    const rest = node.startsWith(device) ? node.slice(device.length) : node;
    const m = /p?(\d+)$/.exec(rest);
    if (!m) throw new ShapeError(`sfdisk: cannot number partition ${node}`);
    const name = asOptString(p.name);
    const start = sectors(p.start, 'sfdisk start');
    const size = sectors(p.size, 'sfdisk size');
    // collect computes byte offsets from these
    if (!Number.isSafeInteger((start + size) * sectorSize)) throw new ShapeError(`sfdisk: partition ${node} ends beyond any disk`);
    return {
      number: sectors(Number(m[1]), 'sfdisk partition number'),
      start,
      size,
      type: asString(p.type, 'sfdisk type').toLowerCase(),
      ...(name ? { name } : {}),
      bootable: asBool(p.bootable),
    };
  });
  return { label: asString(t.label, 'sfdisk label'), sectorSize, partitions };
}
