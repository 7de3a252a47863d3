import type { ValidateFunction } from 'ajv/dist/2020.js';

/**
 * What the single-file bundle (dist/imgplan.mjs, scripts/build-bundle.mjs) carries inside itself:
 * the version and the precompiled schema validators, so that it reads no file beside it. The
 * bundle build puts a module that defines them in place of this one; from dist/cli/main.js and
 * from the sources it is undefined, and each reader falls back to the files (package.json, the
 * precompiled *-validator.cjs, the schemas).
 */
export interface Embedded {
  readonly version: string;
  readonly manifestValidator: ValidateFunction;
  readonly journalValidator: ValidateFunction;
}

export const EMBEDDED: Embedded | undefined = undefined;
