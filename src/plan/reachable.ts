import { posix } from 'node:path';
import type { PathInfo } from '../runner/runner.js';

/**
 * Whether every host user could walk into a guest tree mounted at `where`: true when each
 * directory above it exists and is searchable by others (mode o+x), so only the guest's own
 * modes and owners stand between host users and the guest's files. Returns those directories
 * (`/` first), or undefined when one of them fences the tree: it is not searchable by others,
 * or it is still to be made (imgplan makes directories 0700), or its mode is not known.
 */
export function openToEveryone(where: string, paths: Readonly<Record<string, PathInfo>>): string[] | undefined {
  const above: string[] = [];
  for (let p = posix.dirname(where); ; p = posix.dirname(p)) {
    above.unshift(p);
    if (p === '/') break;
  }
  for (const p of above) {
    const info = paths[p];
    if (info?.kind !== 'directory' || info.mode === undefined || (info.mode & 0o001) === 0) return undefined;
  }
  return above;
}

/** A mask option (vfat, exfat, ntfs: dmask= or umask=, octal) that takes others' search right off the tree's directories. */
export function masksOthers(options: readonly string[]): boolean {
  return options.some((o) => {
    const m = /^(?:dmask|umask)=([0-7]{1,4})$/.exec(o);
    return m !== null && (parseInt(m[1]!, 8) & 0o001) !== 0;
  });
}
