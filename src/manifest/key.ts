import { createHash } from 'node:crypto';

/** A manifest's key for its journal and its QEMU folder: from its real path, not its content. */
export function manifestKey(manifestPath: string): string {
  return createHash('sha256').update(manifestPath).digest('hex').slice(0, 16);
}
