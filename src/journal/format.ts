import { createHash } from 'node:crypto';
import { posix } from 'node:path';

/**
 * The run journal: what imgplan created for one manifest, with the identity needed to
 * re-verify each object before destroy touches it. Lives under /run (tmpfs), so it dies with
 * the loop devices and mounts at reboot.
 */
export type JournalEntry =
  | {
      readonly kind: 'attach';
      readonly address: string;
      readonly dependsOn: readonly string[];
      readonly device: string;
      readonly file: string;
      readonly backDev: string;
      readonly backIno: number;
      readonly offset: number;
      readonly sizelimit: number;
      readonly readOnly: boolean;
      readonly partscan: boolean;
      /**
       * backed by a file or device imgplan made (a storage-daemon view, an nbd device): matched by
       * path, since the view's dev and inode change with each export and a device node's say nothing
       */
      readonly byPath?: boolean;
    }
  | {
      readonly kind: 'export';
      readonly address: string;
      readonly dependsOn: readonly string[];
      /** the guest image and its format */
      readonly image: string;
      readonly format: string;
      /** the raw view qemu-storage-daemon serves over FUSE, and its pid file */
      readonly view: string;
      readonly pidfile: string;
      /** access: overlay: the throw-away qcow2 overlay that takes the writes */
      readonly overlay?: string;
      readonly writable: boolean;
    }
  | {
      readonly kind: 'nbd';
      readonly address: string;
      readonly dependsOn: readonly string[];
      /** /dev/nbdN, and the qemu-nbd server's pid file (its pid is the device's /sys/block/nbdN/pid) */
      readonly device: string;
      readonly pidfile: string;
      /** the guest image and its format */
      readonly image: string;
      readonly format: string;
      /** what qemu-nbd opened: the image, or the overlay */
      readonly file: string;
      readonly overlay?: string;
      readonly writable: boolean;
    }
  | {
      readonly kind: 'partmap';
      readonly address: string;
      readonly dependsOn: readonly string[];
      /** the loop device kpartx mapped; its maps are /dev/mapper/<loopN>p<M> */
      readonly device: string;
      readonly partitions: readonly number[];
    }
  | {
      readonly kind: 'vg';
      readonly address: string;
      readonly dependsOn: readonly string[];
      readonly vgName: string;
      readonly vgUuid: string;
      /** the PV devices the VG was activated from (every LVM command imgplan runs is limited to them) */
      readonly devices: readonly string[];
      /** lvm: activated by LVM (dm maps LVM-<vg uuid><lv uuid>); map: imgplan's own dm maps, by name */
      readonly mode: 'lvm' | 'map';
      readonly maps: readonly string[];
    }
  | { readonly kind: 'dir'; readonly address: string; readonly dependsOn: readonly string[]; readonly path: string }
  | {
      readonly kind: 'mount';
      readonly address: string;
      readonly dependsOn: readonly string[];
      readonly target: string;
      readonly source: string;
      readonly fstype: string;
    };

export interface Journal {
  readonly formatVersion: 1;
  readonly manifest: string;
  readonly manifestSha256: string;
  readonly entries: readonly JournalEntry[];
}

export const DEFAULT_STATE_DIR = '/run/imgplan';

/** Keyed by the manifest's real path, not its content, so editing it does not orphan live objects. */
export function journalPath(stateDir: string, manifestPath: string): string {
  const key = createHash('sha256').update(manifestPath).digest('hex').slice(0, 16);
  return posix.join(stateDir, 'journal', `${key}.json`);
}

/** Files of a QEMU image imgplan opens: the storage daemon's view, the server's pid file, the overlay. */
export interface ExportPaths {
  readonly dir: string;
  readonly view: string;
  readonly pidfile: string;
  readonly overlay: string;
}

function pathsIn(dir: string, image: string): ExportPaths {
  return { dir, view: posix.join(dir, `${image}.raw`), pidfile: posix.join(dir, `${image}.pid`), overlay: posix.join(dir, `${image}.overlay.qcow2`) };
}

/** A directory per manifest (keyed like its journal), files named after the image. */
export function exportPaths(stateDir: string, manifestPath: string, image: string): ExportPaths {
  const key = createHash('sha256').update(manifestPath).digest('hex').slice(0, 16);
  return pathsIn(posix.join(stateDir, 'exports', key), image);
}

/** Plan reads a QEMU image through a short-lived export of its own in `probeDir`, gone before plan returns. */
export function probeExportPaths(probeDir: string, image: string): ExportPaths {
  return pathsIn(probeDir, image);
}

export class JournalFormatError extends Error {}

export function parseJournal(text: string, path: string): Journal {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new JournalFormatError(`journal ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const j = v as Partial<Journal>;
  if (j.formatVersion !== 1 || !Array.isArray(j.entries) || typeof j.manifest !== 'string') {
    throw new JournalFormatError(`journal ${path} has an unknown format`);
  }
  return j as Journal;
}

export function serializeJournal(j: Journal): string {
  return `${JSON.stringify(j, null, 2)}\n`;
}
