import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/manifest/load.js';

const DIR = join(import.meta.dirname, '../../../examples');

describe('the README\'s examples', () => {
  for (const f of readdirSync(DIR).filter((n) => n.endsWith('.yaml'))) {
    it(`${f} is a valid manifest`, () => {
      const r = loadManifest({ path: join(DIR, f), text: readFileSync(join(DIR, f), 'utf8'), allowWrites: false });
      expect(r.diagnostics).toEqual([]);
      expect(r.manifest?.mounts.length).toBeGreaterThan(0);
    });
  }
});
