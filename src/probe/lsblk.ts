import { asArray, asBool, asMajMin, asNumber, asOptString, asRecord, asString, parseJsonObject } from './coerce.js';

/** One block device as lsblk reports it; fstype/uuid/label are null without udev (field-notes P1). */
export interface BlockDevice {
  readonly name: string;
  readonly majMin: string;
  readonly type: string;
  /** parent kernel name (loop0 for loop0p1) */
  readonly pkname?: string;
  readonly size: number;
  readonly ro: boolean;
  readonly fstype?: string;
}

/** Parses `lsblk --json --bytes --output <LSBLK_COLUMNS>` (tree or --list form, typed or string JSON). */
export function parseLsblk(text: string): BlockDevice[] {
  if (text.trim() === '') return [];
  const root = parseJsonObject(text, 'lsblk');
  const out: BlockDevice[] = [];
  const walk = (items: unknown[], parent?: string) => {
    for (const raw of items) {
      const d = asRecord(raw, 'lsblk device');
      const name = asString(d.name, 'lsblk name').replace(/^\/dev\//, '');
      const kname = asOptString(d.kname)?.replace(/^\/dev\//, '') ?? name;
      const majMin = asMajMin(d['maj:min']);
      if (!majMin) continue;
      const pk = asOptString(d.pkname)?.replace(/^\/dev\//, '') ?? parent;
      const fstype = asOptString(d.fstype);
      out.push({
        name: kname,
        majMin,
        type: asOptString(d.type) ?? 'unknown',
        ...(pk ? { pkname: pk } : {}),
        size: asNumber(d.size, 'lsblk size'),
        ro: asBool(d.ro),
        ...(fstype ? { fstype } : {}),
      });
      walk(asArray(d.children, 'lsblk children'), kname);
    }
  };
  walk(asArray(root.blockdevices, 'lsblk blockdevices'));
  return out;
}
