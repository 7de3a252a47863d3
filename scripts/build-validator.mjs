// Compiles schemas/manifest.schema.json into dist/manifest/manifest-validator.cjs with Ajv's
// standalone code generation, so the CLI does not compile the schema on every start (~45 ms).
// src/manifest/schema.ts falls back to compiling at run time when the file is absent (tests).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';

const root = new URL('..', import.meta.url);
const schema = JSON.parse(readFileSync(new URL('schemas/manifest.schema.json', root), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, verbose: true, code: { source: true } });
const code = standaloneCode.default(ajv, ajv.compile(schema));
mkdirSync(new URL('dist/manifest/', root), { recursive: true });
writeFileSync(new URL('dist/manifest/manifest-validator.cjs', root), code);
