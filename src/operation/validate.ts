import type { Manifest } from '../manifest/types.js';
import type { Input } from './context.js';
import type { Emit } from './events.js';
import { load } from './manifest.js';

export type ValidateResult = { readonly outcome: 'valid'; readonly manifest: Manifest } | { readonly outcome: 'invalid' };

/** Checks the manifest against the schema and its rules; reads nothing else. */
export function validate(emit: Emit, input: Input, options: { readonly allowWrites?: boolean } = {}): ValidateResult {
  const loaded = load(emit, input, options.allowWrites === true);
  return loaded ? { outcome: 'valid', manifest: loaded.manifest } : { outcome: 'invalid' };
}
