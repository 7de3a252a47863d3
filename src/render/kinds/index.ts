import type { Kind, PlannedAction, Reason } from '../../plan/types.js';
import { printable } from '../../printable.js';
import { attachWords } from './attach.js';
import { dirWords } from './dir.js';
import { exportWords } from './export.js';
import { mountWords } from './mount.js';
import { nbdWords } from './nbd.js';
import { partmapWords } from './partmap.js';
import { vgWords } from './vg.js';
import type { KindWords, Row } from './words.js';

export type { Row } from './words.js';

/** Every kind's words; the compiler asks for a new kind's here. */
const WORDS: { readonly [K in Kind]: KindWords<K> } = {
  export: exportWords,
  nbd: nbdWords,
  attach: attachWords,
  partmap: partmapWords,
  vg: vgWords,
  dir: dirWords,
  mount: mountWords,
};

const REASONS: Readonly<Record<Reason, string>> = {
  'missing': 'does not exist yet',
  'not-in-manifest': 'made by imgplan, no longer in the manifest',
  'destroy': 'made by imgplan',
  'read-only-mismatch': 'attached with other access than the manifest wants',
  'options-differ': 'mounted with other options than the manifest wants',
  'source-changed': 'mounted by imgplan from a device the manifest no longer names',
  'dependency-replaced': 'the device under it is being replaced',
  'parent-replaced': 'the mount it sits in is being replaced',
  'managed': 'in place (made by imgplan)',
  'not-managed': 'already present, not made by imgplan: destroy leaves it alone',
  'other-manifest': 'made by imgplan for another manifest: used as it is; this manifest\'s destroy leaves it alone',
  'adopt': 'taken over by imgplan',
};

const wordsOf = (a: PlannedAction) => WORDS[a.kind] as KindWords<Kind>;

export const verbOf = (a: PlannedAction): string => (a.action === 'delete' ? wordsOf(a).delete : wordsOf(a).create);
export const rowsOf = (a: PlannedAction): readonly Row[] => wordsOf(a).rows(a.details as never);
export const reasonText = (a: PlannedAction): string => (a.reason === 'other-manifest' && a.owner !== undefined
  ? `made by imgplan for another manifest, ${printable(a.owner)}: used as it is; this manifest's destroy leaves it alone`
  : wordsOf(a).reasons?.[a.reason] ?? REASONS[a.reason]);
