import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest, normalizeWhere } from '../../../src/manifest/load.js';
import { renderDiagnostics } from '../../../src/render/diagnostics.js';
import { PLAIN } from '../../../src/render/style.js';

const DIR = join(import.meta.dirname, '../../fixtures/manifests');

describe('manifest diagnostics (golden, one per fixture manifest)', () => {
  for (const f of readdirSync(DIR).filter((x) => x.endsWith('.yaml'))) {
    it(f, async () => {
      const text = readFileSync(join(DIR, f), 'utf8');
      // a fixed virtual path keeps goldens independent of the checkout's location
      const r = loadManifest({ path: `/runbooks/${f}`, text, allowWrites: false });
      const out = r.diagnostics.length ? renderDiagnostics(r.diagnostics, PLAIN, text) : 'no diagnostics\n';
      await expect(out).toMatchFileSnapshot(`../../fixtures/manifests/${f.replace(/\.yaml$/, '.diagnostics.txt')}`);
    });
  }
});

describe('manifest loading', () => {
  it('resolves relative image paths against the manifest folder and normalises mountpoints', () => {
    const text = readFileSync(join(DIR, 'valid.yaml'), 'utf8');
    const r = loadManifest({ path: '/runbooks/rescue.yaml', text, allowWrites: false });
    expect(r.diagnostics).toEqual([]);
    const m = r.manifest!;
    expect(m.images.map((i) => [i.name, i.file, i.access])).toEqual([
      ['web01', '/var/lib/libvirt/images/web01.img', 'read-only'],
      ['data', '/runbooks/images/data.img', 'read-only'],
    ]);
    expect(m.mounts.map((x) => [x.source, x.where, x.options])).toEqual([
      [{ kind: 'partition', image: 'web01', number: 1 }, '/mnt/web01/boot', []],
      [{ kind: 'partition', image: 'web01', number: 3 }, '/mnt/web01', ['nosuid', 'nodev']],
      [{ kind: 'whole', image: 'data' }, '/mnt/data', []],
    ]);
    expect(m.mounts[1]!.typeAt).toEqual({ file: '/runbooks/rescue.yaml', line: 15, col: 11 });
    expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('accepts read-write only with --allow-writes', () => {
    const text = 'version: 1\nimages:\n  a: { file: a.img, format: raw, access: read-write }\n';
    expect(loadManifest({ path: '/m.yaml', text, allowWrites: false }).diagnostics.map((d) => d.code)).toEqual(['writes-not-allowed']);
    expect(loadManifest({ path: '/m.yaml', text, allowWrites: true }).diagnostics).toEqual([]);
  });

  it('normalises mountpoints', () => {
    expect(normalizeWhere('/mnt/a/')).toBe('/mnt/a');
    expect(normalizeWhere('/mnt//a/./b/../c')).toBe('/mnt/a/c');
    expect(normalizeWhere('/')).toBe('/');
  });
});
