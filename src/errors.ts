import type { Diagnostic } from './diagnostics.js';

/** Documented exit codes (README "Exit codes"); the CLI is the only place that uses them. */
export const EXIT = {
  ok: 0,
  failedCleanly: 1,
  changesPending: 2,
  invalid: 3,
  leftBehind: 4,
  cancelled: 5,
  stale: 6,
  locked: 7,
  internal: 70,
  /** exec only: imgplan's own failure (the guest could not be opened, or not closed completely); the command's status is not passed on */
  execFailed: 125,
  /** exec only: the command was found but could not be run (as a shell's) */
  execCannotRun: 126,
  /** exec only: the command was not found (as a shell's) */
  execNotFound: 127,
  interrupted: 130,
  terminated: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class ImgplanError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly hint?: string,
    readonly diagnostics: readonly Diagnostic[] = [],
  ) {
    super(message);
  }
}

interface Packages { readonly apt: string; readonly dnf: string; readonly epel?: true }

/**
 * The package that ships each external tool imgplan runs, on Debian/Ubuntu (apt) and on
 * RHEL/Rocky/Alma/Fedora (dnf), for "install X" hints. RHEL keeps sfdisk and losetup in util-linux
 * and qemu-nbd and qemu-storage-daemon in qemu-img; ntfs-3g comes from EPEL there.
 */
export const TOOL_PACKAGES: Readonly<Record<string, Packages>> = {
  losetup: { apt: 'mount', dnf: 'util-linux' },
  mount: { apt: 'mount', dnf: 'util-linux' },
  umount: { apt: 'mount', dnf: 'util-linux' },
  lsblk: { apt: 'util-linux', dnf: 'util-linux' },
  unshare: { apt: 'util-linux', dnf: 'util-linux' },
  findmnt: { apt: 'util-linux', dnf: 'util-linux' },
  blkid: { apt: 'util-linux', dnf: 'util-linux' },
  sfdisk: { apt: 'fdisk', dnf: 'util-linux' },
  btrfs: { apt: 'btrfs-progs', dnf: 'btrfs-progs' },
  fuser: { apt: 'psmisc', dnf: 'psmisc' },
  mkdir: { apt: 'coreutils', dnf: 'coreutils' },
  rmdir: { apt: 'coreutils', dnf: 'coreutils' },
  udevadm: { apt: 'udev', dnf: 'systemd-udev' },
  dmsetup: { apt: 'dmsetup', dnf: 'device-mapper' },
  kpartx: { apt: 'kpartx', dnf: 'kpartx' },
  blockdev: { apt: 'util-linux', dnf: 'util-linux' },
  flock: { apt: 'util-linux', dnf: 'util-linux' },
  modprobe: { apt: 'kmod', dnf: 'kmod' },
  pkill: { apt: 'procps', dnf: 'procps-ng' },
  install: { apt: 'coreutils', dnf: 'coreutils' },
  rm: { apt: 'coreutils', dnf: 'coreutils' },
  'qemu-img': { apt: 'qemu-utils', dnf: 'qemu-img' },
  'qemu-nbd': { apt: 'qemu-utils', dnf: 'qemu-img' },
  'qemu-storage-daemon': { apt: 'qemu-system-common', dnf: 'qemu-img' },
  lvm: { apt: 'lvm2', dnf: 'lvm2' },
  vgs: { apt: 'lvm2', dnf: 'lvm2' },
  lvs: { apt: 'lvm2', dnf: 'lvm2' },
  vgchange: { apt: 'lvm2', dnf: 'lvm2' },
  lvchange: { apt: 'lvm2', dnf: 'lvm2' },
  find: { apt: 'findutils', dnf: 'findutils' },
  grep: { apt: 'grep', dnf: 'grep' },
  truncate: { apt: 'coreutils', dnf: 'coreutils' },
  kill: { apt: 'procps', dnf: 'util-linux' },
  'ntfs-3g': { apt: 'ntfs-3g', dnf: 'ntfs-3g', epel: true },
  hivexget: { apt: 'libhivex-bin', dnf: 'hivex' },
  hivexsh: { apt: 'libhivex-bin', dnf: 'hivex' },
};

/** A probe command failed: the tool, how, and what it said. */
export class ProbeError extends ImgplanError {
  constructor(argv: readonly string[], detail: string, hint?: string) {
    super(`probe failed: ${argv.join(' ')}: ${detail}`, EXIT.failedCleanly, hint);
  }
}

/**
 * Bytes of a guest image that are not the structure they claim to be (a damaged or hostile image):
 * which image, where in it ("whole", "part2"), what it should have been, and what is wrong.
 */
export class ImageContentError extends ImgplanError {
  constructor(image: string, where: string, what: string, detail: string) {
    const place = where === 'whole' ? 'the whole disk' : /^part\d+$/.test(where) ? `partition ${where.slice(4)}` : where;
    super(`image ${image}: ${place} holds a malformed ${what}: ${detail}`, EXIT.invalid,
      'the image is damaged, or was not written by the software it claims; imgplan will not guess at its contents. ' +
        'Check a copy of it (pvck, ntfsfix --no-action), or leave this image out of the manifest');
  }
}

/** "install it: apt-get install P (Debian, Ubuntu), dnf install Q (RHEL, Fedora)" for a known tool. */
export function missingToolHint(tool: string, verb = 'install it'): string {
  const pkg = TOOL_PACKAGES[tool];
  return pkg ? `${verb}: ${installCommands(pkg)}` : `install the package that provides ${tool}`;
}

function installCommands(pkg: Packages): string {
  return `apt-get install ${pkg.apt} (Debian, Ubuntu), dnf install ${pkg.dnf} (${pkg.epel ? 'Fedora; RHEL: from EPEL' : 'RHEL, Fedora'})`;
}
