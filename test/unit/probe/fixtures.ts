import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fixtures/probe/ */
export const FIXTURES = fileURLToPath(new URL('../../fixtures/probe/', import.meta.url));

/** Outputs recorded by test/fixtures/probe/record.sh on Debian 12 (util-linux 2.38.1). */
export function recorded(name: string): string {
  return readFileSync(`${FIXTURES}2.38.1/${name}`, 'utf8');
}

/** Old, string-typed util-linux JSON from public sources (see old/SOURCES.md). */
export function old(name: string): string {
  return readFileSync(`${FIXTURES}old/${name}`, 'utf8');
}

/** The temp dir record.sh worked in; every path inside the recorded outputs is under it. */
export const WORK: string = (() => {
  const m = /^workdir: (\S+)$/m.exec(recorded('RECORDED.txt'));
  if (!m) throw new Error('RECORDED.txt has no workdir line');
  return m[1]!;
})();

/** The JS type of each property, to compare the shape of old and new parses. */
export function shape(o: object): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? 'array' : typeof v]));
}
