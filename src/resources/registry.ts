import type { Kind } from '../plan/types.js';
import { attachKind } from './attach.js';
import { dirKind } from './dir.js';
import { exportKind } from './export.js';
import type { ResourceKind } from './kind.js';
import { mountKind } from './mount.js';
import { nbdKind } from './nbd.js';
import { partmapKind } from './partmap.js';
import { vgKind } from './vg.js';

/**
 * Every kind of object, in the order they plan: each kind's wanted objects are planned after
 * those of the kinds listed before it, so what an object sits on is planned first.
 */
export const KINDS: { readonly [K in Kind]: ResourceKind<K> } = {
  export: exportKind,
  nbd: nbdKind,
  attach: attachKind,
  partmap: partmapKind,
  vg: vgKind,
  dir: dirKind,
  mount: mountKind,
};

export const KIND_LIST = Object.values(KINDS) as readonly ResourceKind<Kind>[];

export function kindOf<K extends Kind>(kind: K): ResourceKind<K> {
  return KINDS[kind];
}
