import type { NtfsHealth } from '../../probe/ntfs.js';
import { rows, type KindWords } from './words.js';

/** Words for an NTFS volume's Windows state. */
export function ntfsStateText(h: NtfsHealth): string {
  const parts: string[] = [];
  parts.push(h.hibernation === 'hibernated'
    ? `hibernated (\\hiberfil.sys, ${h.hiberfileSize ?? '?'} bytes, holds a hibernation image)`
    : h.hibernation === 'none' ? 'not hibernated' : 'hibernation unknown');
  const log: Readonly<Record<NtfsHealth['logFile'], string>> = {
    clean: 'journal clean',
    empty: 'journal empty',
    unclean: 'journal unclean (not shut down cleanly)',
    'windows-cached': 'journal version 2.0 (Windows kept metadata cached: Fast Startup)',
    unknown: 'journal state unknown',
  };
  parts.push(log[h.logFile]);
  if (h.dirty === true) parts.push('marked dirty');
  return `NTFS ${h.version ?? '?'}, ${parts.join(', ')}`;
}

const DRIVERS: Readonly<Record<string, string>> = {
  'ntfs-3g': 'ntfs-3g (FUSE; findmnt shows it as fuseblk)',
  ntfs3: 'the kernel\'s ntfs3 driver',
};

export const mountWords: KindWords<'mount'> = {
  create: 'mount',
  delete: 'umount',
  rows: (d) => (d.from === 'journal'
    ? rows({ label: 'device', value: d.source }, { label: 'mountpoint', value: d.target })
    : rows(
      { label: 'source', value: `${d.what}: ${d.fstype}${d.label ? ` "${d.label}"` : ''}${d.uuid ? `, uuid ${d.uuid}` : ''}` },
      d.windows && { label: 'windows', value: ntfsStateText(d.windows) },
      d.driver !== undefined && { label: 'driver', value: DRIVERS[d.driver] ?? d.driver },
      { label: 'device', value: d.device },
      { label: 'options', value: d.options.join(',') },
      d.parent !== undefined && { label: 'mountpoint', value: `${d.where} must exist inside the filesystem of ${d.parent}` },
    )),
};
