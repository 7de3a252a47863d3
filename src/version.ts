import { readFileSync } from 'node:fs';
import { EMBEDDED } from './embedded.js';

/** imgplan's version: embedded in the bundle, else from package.json (one read per process). */
export const VERSION = EMBEDDED?.version
  ?? (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
