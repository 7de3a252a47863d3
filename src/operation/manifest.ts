import { hasErrors } from '../diagnostics.js';
import { loadManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import type { Input } from './context.js';
import type { Emit } from './events.js';

export interface Loaded {
  readonly manifest: Manifest;
  /** the manifest's text, for diagnostics that quote it */
  readonly source: string;
}

/**
 * Loads a manifest, emitting its diagnostics. Undefined when it has errors; `forDestroy`: a
 * manifest with errors is an empty one (its errors demoted to warnings), since destroy goes by
 * the journal of its path alone.
 */
export function load(emit: Emit, input: Input, allowWrites: boolean, forDestroy = false): Loaded | undefined {
  const { path, text } = input;
  const r = loadManifest({ path, text: input.bytes ?? text, allowWrites });
  if (hasErrors(r.diagnostics) || !r.manifest) {
    if (!forDestroy) {
      emit({ type: 'diagnostics', diagnostics: r.diagnostics, source: text });
      return undefined;
    }
    emit({ type: 'manifest_ignored', diagnostics: r.diagnostics.map((d) => ({ ...d, severity: 'warning' as const })), source: text });
    return { manifest: { path, sha256: '', images: [], mounts: [] }, source: text };
  }
  if (r.diagnostics.length) emit({ type: 'manifest_warnings', diagnostics: r.diagnostics, source: text });
  return { manifest: r.manifest, source: text };
}
