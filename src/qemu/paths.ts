import { posix } from 'node:path';
import { manifestKey } from '../manifest/key.js';

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
  return pathsIn(posix.join(stateDir, 'exports', manifestKey(manifestPath)), image);
}

/** Plan reads a QEMU image through a probe view of its own in `probeDir` (a sparse file qemu-img fills), gone before plan returns. */
export function probeExportPaths(probeDir: string, image: string): ExportPaths {
  return pathsIn(probeDir, image);
}
