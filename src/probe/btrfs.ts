/**
 * btrfs-progs' listings of a filesystem's subvolumes (`btrfs subvolume list MNT`, `btrfs subvolume
 * get-default MNT`), read by inspect's guest reader on the volume it mounted read-only. Subvolume
 * names are the guest's: cut, counted, kept raw (escaped where shown), never used as a path.
 */

/** The most subvolumes kept of one filesystem (snapper keeps one per snapshot: hundreds are normal). */
export const MAX_SUBVOLUMES = 256;
const MAX_NAME = 256;

export interface Subvolume {
  readonly id: number;
  /** its path from the top level (@, @home, @/.snapshots/1/snapshot) */
  readonly path: string;
}

export interface BtrfsSubvolumes {
  readonly subvolumes: readonly Subvolume[];
  /** more than MAX_SUBVOLUMES: the rest were left out */
  readonly truncated?: true;
  /** what a mount without subvol= shows: the top level (id 5) unless set-default chose another */
  readonly default?: { readonly id: number; readonly path?: string };
}

const LIST_LINE = /^ID (\d{1,19}) gen \d{1,20} top level \d{1,19} path (.+)$/;
// "ID 5 (FS_TREE)" for the top level; a subvolume as in the list
const DEFAULT_LINE = /^ID (\d{1,19}) (?:\(FS_TREE\)|gen \d{1,20} top level \d{1,19} path (.+))$/;

/** Parses both listings; lines that are not btrfs-progs' (a name with a newline splits one) are skipped. */
export function parseSubvolumes(list: string, getDefault: string): BtrfsSubvolumes {
  const subvolumes: Subvolume[] = [];
  let truncated = false;
  for (const line of list.split('\n')) {
    const m = LIST_LINE.exec(line);
    if (!m) continue;
    if (subvolumes.length === MAX_SUBVOLUMES) {
      truncated = true;
      break;
    }
    subvolumes.push({ id: Number(m[1]), path: m[2]!.slice(0, MAX_NAME) });
  }
  const d = DEFAULT_LINE.exec(getDefault.split('\n')[0] ?? '');
  return {
    subvolumes,
    ...(truncated ? { truncated: true as const } : {}),
    ...(d ? { default: { id: Number(d[1]), ...(d[2] !== undefined ? { path: d[2].slice(0, MAX_NAME) } : {}) } } : {}),
  };
}
