import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { EMBEDDED } from '../embedded.js';

/** Must match scripts/build-validator.mjs, which precompiles the same schema for the built CLI. */
export const AJV_OPTIONS = { allErrors: true, strict: true, verbose: true } as const;

let compiled: ValidateFunction | undefined;

/** The published contract, schemas/manifest.schema.json: precompiled by the build (embedded in the bundle), else compiled once here. */
export function manifestValidator(): ValidateFunction {
  compiled ??= EMBEDDED?.manifestValidator;
  if (!compiled) {
    const require = createRequire(import.meta.url);
    try {
      compiled = require('./manifest-validator.cjs') as ValidateFunction;
    } catch {
      // running from the sources (tests): load Ajv itself only here, it costs ~20 ms to import
      const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
      const url = new URL('../../schemas/manifest.schema.json', import.meta.url);
      const schema = JSON.parse(readFileSync(url, 'utf8')) as object;
      compiled = new Ajv2020(AJV_OPTIONS).compile(schema);
    }
  }
  return compiled;
}

export type SchemaError = ErrorObject;
