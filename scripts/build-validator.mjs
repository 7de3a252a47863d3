// Compiles the JSON Schemas the CLI checks its input against into Ajv standalone validators, so
// that the CLI does not compile a schema on every start (~45 ms):
//   schemas/manifest.schema.json → dist/manifest/manifest-validator.cjs (src/manifest/schema.ts)
//   schemas/journal.schema.json  → dist/journal/journal-validator.cjs   (src/journal/format.ts)
// Each module falls back to compiling at run time when its file is absent (tests, from the sources).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';

const root = new URL('..', import.meta.url);
const VALIDATORS = [
  // options as in src/manifest/schema.ts AJV_OPTIONS and src/journal/format.ts JOURNAL_AJV_OPTIONS
  { schema: 'schemas/manifest.schema.json', out: 'dist/manifest/manifest-validator.cjs', options: { allErrors: true, strict: true, verbose: true } },
  { schema: 'schemas/journal.schema.json', out: 'dist/journal/journal-validator.cjs', options: { allErrors: false, strict: true, discriminator: true } },
];
for (const v of VALIDATORS) {
  const schema = JSON.parse(readFileSync(new URL(v.schema, root), 'utf8'));
  const ajv = new Ajv2020({ ...v.options, code: { source: true } });
  const code = standaloneCode.default(ajv, ajv.compile(schema));
  const out = new URL(v.out, root);
  mkdirSync(new URL('.', out), { recursive: true });
  writeFileSync(out, code);
}
