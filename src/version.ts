import { readFileSync } from 'node:fs';

/** imgplan's version, from package.json (one read per process). */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
