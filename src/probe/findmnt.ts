import { asArray, asMajMin, asOptString, asRecord, asString, parseJsonObject } from './coerce.js';

export interface MountEntry {
  readonly target: string;
  readonly source: string;
  /** the folder of the filesystem mounted there, when not its root: a btrfs subvolume ("/@") or a bind mount's */
  readonly fsroot?: string;
  readonly majMin?: string;
  readonly fstype: string;
  readonly options: readonly string[];
}

/** Parses `findmnt --json --list --output <FINDMNT_COLUMNS>` (also the tree form of older callers). */
export function parseFindmnt(text: string): MountEntry[] {
  if (text.trim() === '') return [];
  const root = parseJsonObject(text, 'findmnt');
  const out: MountEntry[] = [];
  const walk = (items: unknown[]) => {
    for (const raw of items) {
      const f = asRecord(raw, 'findmnt filesystem');
      const majMin = asMajMin(f['maj:min']);
      const source = asOptString(f.source) ?? 'none';
      // findmnt writes a mount of a filesystem's folder (a btrfs subvolume, a bind mount) as DEVICE[/folder]
      const inner = /^(\/dev\/[^[\]]+)\[(\/[^\]]*)\]$/.exec(source);
      out.push({
        target: asString(f.target, 'findmnt target'),
        source: inner ? inner[1]! : source,
        ...(inner ? { fsroot: inner[2]! } : {}),
        ...(majMin ? { majMin } : {}),
        fstype: asOptString(f.fstype) ?? 'unknown',
        options: (asOptString(f.options) ?? '').split(',').filter(Boolean),
      });
      walk(asArray(f.children, 'findmnt children'));
    }
  };
  walk(asArray(root.filesystems, 'findmnt filesystems'));
  return out;
}
