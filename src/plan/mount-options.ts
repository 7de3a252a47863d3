/**
 * Read-only mount options per filesystem (field-notes G5). A plain `ro` mount is not enough:
 * ext3/ext4 replay their journal even when mounted ro, and xfs replays its log, both writing to
 * the device; on a read-only loop the mount then fails instead.
 */
export interface OptionContext {
  readonly readOnly: boolean;
  /** the device takes writes that never reach the image (an overlay): a read-only mount may replay its journal */
  readonly replay?: boolean;
  /** kernel release, e.g. "6.1.0-26-amd64" */
  readonly kernel: string;
  /** another mounted xfs has the same UUID (cloned images) */
  readonly xfsUuidClash: boolean;
}

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return true;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/**
 * Windows filesystems have no Unix owners: the driver makes them up. Root-owned, files 0640 and
 * directories 0750, so nothing from a Windows guest is executable, writable or readable by
 * other users of the host.
 */
const WINDOWS_OWNERSHIP = ['uid=0', 'gid=0', 'fmask=0137', 'dmask=0027'];

/**
 * A guest's setuid binaries and device nodes are the guest's: on the host they would be a way
 * in (a setuid-root shell, a node of the host's disk). Read-only and overlay mounts are for
 * looking, so nothing in them runs either. Each can be given back per mount, visibly, with the
 * opposite mount option (suid, dev, exec) in the manifest.
 */
const FENCE = ['nosuid', 'nodev'] as const;
/** The manifest options that give back what FENCE and noexec take, and the default each undoes. */
export const TRUST: Readonly<Record<string, string>> = { suid: 'nosuid', dev: 'nodev', exec: 'noexec' };

function fenced(ctx: OptionContext): string[] {
  return [...FENCE, ...(ctx.readOnly || ctx.replay ? ['noexec'] : [])];
}
const WINDOWS_TYPES: ReadonlySet<string> = new Set(['vfat', 'exfat', 'ntfs-3g', 'ntfs3']);

/** Options imgplan sets for a `mount -t` type, before the manifest's own options. */
export function baseMountOptions(fstype: string, ctx: OptionContext): string[] {
  return [...fsOptions(fstype, ctx), ...fenced(ctx)];
}

/** The options a filesystem needs to be read without being written (field-notes G5), or to be owned on Linux. */
function fsOptions(fstype: string, ctx: OptionContext): string[] {
  if (WINDOWS_TYPES.has(fstype)) {
    // vfat: file names as UTF-8 whatever the kernel's default iocharset
    const extra = fstype === 'vfat' ? ['utf8'] : [];
    return [...(ctx.readOnly ? ['ro'] : []), ...WINDOWS_OWNERSHIP, ...extra];
  }
  if (!ctx.readOnly) return fstype === 'xfs' && ctx.xfsUuidClash ? ['nouuid'] : [];
  if (ctx.replay) return fstype === 'xfs' && ctx.xfsUuidClash ? ['ro', 'nouuid'] : ['ro'];
  switch (fstype) {
    case 'ext3':
    case 'ext4':
      return ['ro', 'noload'];
    case 'xfs':
      return ctx.xfsUuidClash ? ['ro', 'norecovery', 'nouuid'] : ['ro', 'norecovery'];
    case 'btrfs':
      // rescue=nologreplay replaced nologreplay in 5.9; both need ro
      return kernelAtLeast(ctx.kernel, 5, 9) ? ['ro', 'rescue=nologreplay'] : ['ro', 'nologreplay'];
    default:
      return ['ro'];
  }
}

const optionKey = (o: string) => o.split('=')[0]!;

/**
 * Base options, then the manifest's, without repeats; a manifest KEY=VALUE replaces imgplan's
 * KEY, and suid, dev or exec drop the default that forbids it.
 */
export function mountOptions(fstype: string, extra: readonly string[], ctx: OptionContext): string[] {
  const keyed = new Set(extra.filter((o) => o.includes('=')).map(optionKey));
  const given = new Set(extra.flatMap((o) => (TRUST[o] ? [TRUST[o]] : [])));
  const out = baseMountOptions(fstype, ctx).filter((o) => !(o.includes('=') && keyed.has(optionKey(o))) && !given.has(o));
  for (const o of extra) if (!out.includes(o)) out.push(o);
  return out;
}

/** Options whose presence findmnt shows back, so a live mount can be compared with the wanted one. */
export const VISIBLE_FLAGS: ReadonlySet<string> = new Set(['ro', 'nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime', 'relatime', 'sync', 'dirsync']);

