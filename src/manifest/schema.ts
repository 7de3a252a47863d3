import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

let compiled: ValidateFunction | undefined;

/** The published contract, schemas/manifest.schema.json, compiled once per process. */
export function manifestValidator(): ValidateFunction {
  if (!compiled) {
    const url = new URL('../../schemas/manifest.schema.json', import.meta.url);
    const schema = JSON.parse(readFileSync(url, 'utf8')) as object;
    compiled = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
  }
  return compiled;
}

export type SchemaError = ErrorObject;
