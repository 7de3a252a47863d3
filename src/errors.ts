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

/** Debian package that ships each external tool imgplan runs (for "install X" hints). */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  lsblk: 'util-linux',
  findmnt: 'util-linux',
  blkid: 'util-linux',
  sfdisk: 'fdisk',
  fuser: 'psmisc',
  mkdir: 'coreutils',
  rmdir: 'coreutils',
  udevadm: 'udev',
  dmsetup: 'dmsetup',
  kpartx: 'kpartx',
  blockdev: 'util-linux',
  flock: 'util-linux',
  modprobe: 'kmod',
  pkill: 'procps',
  install: 'coreutils',
  rm: 'coreutils',
  'qemu-img': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  'qemu-storage-daemon': 'qemu-system-common',
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

export function missingToolHint(tool: string): string {
  const pkg = TOOL_PACKAGES[tool];
  return pkg ? `install it: apt-get install ${pkg}` : `install the package that provides ${tool}`;
}
