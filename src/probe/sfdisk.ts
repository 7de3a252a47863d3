import { asArray, asBool, asNumber, asOptString, asRecord, asString, parseJsonObject } from './coerce.js';

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
 * Parses `sfdisk --json FILE`. sfdisk names partitions after the device ("web01.img3", or
 * "disk0p3" when the name ends in a digit); the number is what follows that prefix.
 */
export function parseSfdisk(text: string): PartitionTable {
  const root = parseJsonObject(text, 'sfdisk');
  const t = asRecord(root.partitiontable, 'sfdisk partitiontable');
  const device = asString(t.device, 'sfdisk device');
  const unit = asOptString(t.unit) ?? 'sectors';
  if (unit !== 'sectors') throw new Error(`sfdisk: unexpected unit ${unit}`);
  const sectorSize = t.sectorsize === undefined ? 512 : asNumber(t.sectorsize, 'sfdisk sectorsize');
  const partitions = asArray(t.partitions, 'sfdisk partitions').map((raw) => {
    const p = asRecord(raw, 'sfdisk partition');
    const node = asString(p.node, 'sfdisk node');
    const rest = node.startsWith(device) ? node.slice(device.length) : node;
    const m = /p?(\d+)$/.exec(rest);
    if (!m) throw new Error(`sfdisk: cannot number partition ${node}`);
    const name = asOptString(p.name);
    return {
      number: Number(m[1]),
      start: asNumber(p.start, 'sfdisk start'),
      size: asNumber(p.size, 'sfdisk size'),
      type: asString(p.type, 'sfdisk type').toLowerCase(),
      ...(name ? { name } : {}),
      bootable: asBool(p.bootable),
    };
  });
  return { label: asString(t.label, 'sfdisk label'), sectorSize, partitions };
}
