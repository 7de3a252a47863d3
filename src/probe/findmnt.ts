import { asArray, asMajMin, asOptString, asRecord, asString, parseJsonObject } from './coerce.js';

export interface MountEntry {
  readonly target: string;
  readonly source: string;
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
      out.push({
        target: asString(f.target, 'findmnt target'),
        source: asOptString(f.source) ?? 'none',
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
