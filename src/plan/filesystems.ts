import type { KernelFacts } from '../probe/observed.js';
import { ntfsNeedsWindows, type NtfsHealth } from '../probe/ntfs.js';
import { missingToolHint } from '../errors.js';

/** How a filesystem found by blkid gets mounted: the `mount -t` type. */
export interface Driver {
  /** what `mount -t` is given */
  readonly mountType: string;
  /** there was a choice of drivers (NTFS: ntfs-3g or ntfs3), so the plan names the one taken */
  readonly chosen?: boolean;
}

export type DriverChoice = { readonly driver: Driver } | { readonly problem: { readonly code: string; readonly message: string; readonly hint: string } };

/** `type:` values the manifest may give for each blkid type, besides the blkid type itself. */
const TYPE_ALIASES: Readonly<Record<string, readonly string[]>> = { ntfs: ['ntfs-3g', 'ntfs3'] };

export function typeAccepted(found: string, requested: string): boolean {
  return requested === found || (TYPE_ALIASES[found] ?? []).includes(requested);
}

const NTFS3G: Driver = { mountType: 'ntfs-3g', chosen: true };
const NTFS3: Driver = { mountType: 'ntfs3', chosen: true };

/**
 * Filesystems whose kernel drivers are widely used on guest disks and maintained: mounted as
 * blkid finds them. Any other type (an old or rare driver, whose parser of crafted bytes is
 * least tested) needs the manifest's `type:`.
 */
export const WELL_KNOWN: ReadonlySet<string> = new Set([
  'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'exfat', 'ntfs', 'iso9660', 'udf', 'squashfs', 'erofs', 'f2fs',
]);

function kernelHas(k: KernelFacts, fstype: string): boolean {
  // recordings made before drivers were checked: assume present, as imgplan did then
  return (k.filesystems?.[fstype] ?? 'registered') !== 'absent';
}

/**
 * The driver for a filesystem blkid found, given the manifest's `type:`. NTFS has two: ntfs-3g
 * is preferred where installed (mature, and its read-only mount never replays the journal);
 * the kernel's ntfs3 otherwise, or when asked for by `type: ntfs3`.
 */
export function chooseDriver(found: string, requested: string | undefined, k: KernelFacts): DriverChoice {
  if (found === 'ntfs') {
    const fuse = k.ntfs3g === true && kernelHas(k, 'fuseblk');
    const kernel = kernelHas(k, 'ntfs3');
    const why3g = k.ntfs3g !== true ? 'ntfs-3g is not installed' : 'the kernel has no FUSE (fuseblk)';
    if (requested === 'ntfs-3g' || (requested !== 'ntfs3' && (fuse || !kernel))) {
      if (fuse) return { driver: NTFS3G };
      return {
        problem: {
          code: 'no-fs-driver',
          message: `no driver for NTFS: ${why3g}${requested === 'ntfs-3g' ? '' : ', and the kernel has no ntfs3 driver'}`,
          hint: k.ntfs3g !== true ? missingToolHint('ntfs-3g') : 'load FUSE: modprobe fuse',
        },
      };
    }
    if (kernel) return { driver: NTFS3 };
    return {
      problem: {
        code: 'no-fs-driver',
        message: 'type: ntfs3 asks for the kernel\'s ntfs3 driver, which this kernel does not have (not in /proc/filesystems, no module fs-ntfs3)',
        hint: `use type: ntfs to let imgplan use ntfs-3g (${missingToolHint('ntfs-3g', 'install it with')})`,
      },
    };
  }
  if (requested === undefined && !WELL_KNOWN.has(found)) {
    return {
      problem: {
        code: 'fs-type-not-known',
        message: `${found} is not one of the filesystem types imgplan mounts without being asked (${[...WELL_KNOWN].join(', ')}):` +
          ` the host kernel's ${found} driver would parse bytes the guest wrote`,
        hint: `if you trust this kernel's ${found} driver with this image, say so in the mount: type: ${found}`,
      },
    };
  }
  if (!kernelHas(k, found)) {
    return {
      problem: {
        code: 'no-fs-driver',
        message: `this kernel (${k.release}) cannot mount ${found}: it is not in /proc/filesystems and modprobe finds no module fs-${found}`,
        hint: 'install the kernel\'s extra modules (on Ubuntu: apt-get install linux-modules-extra-$(uname -r)), or open the image on another host',
      },
    };
  }
  return { driver: { mountType: found } };
}

export interface WindowsVerdict {
  /** read-only: why the view may be stale; read-write with consent: what will be lost */
  readonly warnings: readonly string[];
  /** read-write without consent, or a state no driver can mount read-write */
  readonly refusal?: { readonly message: string; readonly hint: string };
  /** options the destructive fix needs (remove_hiberfile, force) */
  readonly options: readonly string[];
}

/**
 * What a mount of an NTFS volume means given the state Windows left it in. Read-only is always
 * possible and writes nothing (the loop device is read-only too); the view shows the volume as
 * of its last consistent write. Read-write would throw Windows' state away, so it needs
 * `discard_windows_state: true` in the manifest, and the plan says what is lost.
 */
export function windowsVerdict(what: string, h: NtfsHealth, readOnly: boolean, discard: boolean, driver: Driver): WindowsVerdict {
  const state = ntfsNeedsWindows(h);
  const unknown = h.problems.length ? [`could not fully read the Windows state of ${what} (${h.problems.join('; ')}); treat it as possibly unclean`] : [];
  if (!state.reasons.length) return { warnings: unknown, options: [] };
  const summary = `${what}: ${state.reasons.join('; ')}`;
  if (readOnly) {
    return {
      warnings: [...unknown, `${summary}. It is mounted read-only without touching Windows' state: files show the volume as last written,` +
        ` not what the running or hibernated Windows had in memory.`],
      options: [],
    };
  }
  if (!discard) {
    return {
      warnings: unknown,
      options: [],
      refusal: {
        message: `${summary}; a read-write mount would discard that state`,
        hint: 'mount it read-only (access: read-only), or boot Windows and shut it down fully (shutdown /s /t 0, Fast Startup off); ' +
          'to throw the state away anyway set discard_windows_state: true on this mount',
      },
    };
  }
  if (driver.mountType === 'ntfs-3g' && h.logFile === 'windows-cached') {
    return {
      warnings: unknown,
      options: [],
      refusal: {
        message: `${what}: Windows kept its metadata cached (NTFS log version 2.0), and ntfs-3g never mounts such a volume read-write` +
          ` (it would fall back to read-only)`,
        hint: 'boot Windows and shut it down fully (shutdown /s /t 0), or mount it read-only',
      },
    };
  }
  const losses: string[] = [];
  const options: string[] = [];
  if (state.hibernated) {
    losses.push('\\hiberfil.sys is deleted: the hibernated Windows session (open programs, unsaved documents) is lost for good, and Windows boots fresh');
    if (driver.mountType === 'ntfs-3g') options.push('remove_hiberfile');
  }
  if (h.logFile === 'unclean' || h.logFile === 'windows-cached') {
    losses.push('the NTFS journal ($LogFile) is reset without being replayed: ' +
      'metadata changes Windows logged but had not yet written are lost, and files written last may be inconsistent');
  }
  if (h.dirty === true) losses.push('the volume stays marked for chkdsk, which Windows runs at its next boot');
  if (driver.mountType === 'ntfs3') options.push('force');
  return { warnings: [...unknown, `${what} is mounted read-write although ${state.reasons.join('; ')}. This destroys state: ${losses.join('; ')}.`], options };
}

/** GPT partition types that never hold a filesystem, with what to tell the user. */
export const NON_FILESYSTEM_PARTITIONS: Readonly<Record<string, string>> = {
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'a Microsoft reserved partition (MSR): Windows keeps it empty, there is no filesystem in it to mount',
  '21686148-6449-6E6F-744E-656564454649': 'a BIOS boot partition (GRUB\'s core image), which has no filesystem',
};
