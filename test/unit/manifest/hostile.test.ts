import { describe, expect, it } from 'vitest';
import { firstInvalidUtf8, MAX_MANIFEST_BYTES } from '../../../src/manifest/limits.js';
import { loadManifest } from '../../../src/manifest/load.js';

const FILE = '/runbooks/m.yaml';

function load(text: string | Uint8Array) {
  return loadManifest({ path: FILE, text, allowWrites: false });
}

/** code, "line:col", message and hint of each diagnostic */
function diags(text: string | Uint8Array): [string, string, string, string | undefined][] {
  return load(text).diagnostics.map((d) => [d.code, `${d.at?.line}:${d.at?.col}`, d.message, d.hint]);
}

const withWhere = (where: string) => `version: 1\nimages:\n  web01: { file: /srv/web01.img, format: raw }\nmounts:\n  - what: web01\n    where: ${where}\n`;
const withFile = (file: string) => `version: 1\nimages:\n  web01:\n    file: ${file}\n    format: raw\n`;

describe('paths in the manifest must be normalised', () => {
  it('refuses ".." in a mountpoint, with the normalised path as hint', () => {
    expect(diags(withWhere('/mnt/web01/../web01/boot'))).toEqual([['path-not-normalised', '6:12',
      'mounts[0].where "/mnt/web01/../web01/boot" is not a normalised path: it has a ".." component', 'write it as /mnt/web01/boot']]);
  });

  it('refuses "." in a mountpoint', () => {
    expect(diags(withWhere('/mnt/./web01/boot'))).toEqual([['path-not-normalised', '6:12',
      'mounts[0].where "/mnt/./web01/boot" is not a normalised path: it has a "." component', 'write it as /mnt/web01/boot']]);
  });

  it('refuses "//" in a mountpoint', () => {
    expect(diags(withWhere('/mnt//web01/boot'))).toEqual([['path-not-normalised', '6:12',
      'mounts[0].where "/mnt//web01/boot" is not a normalised path: it has an empty component ("//")', 'write it as /mnt/web01/boot']]);
  });

  it('refuses a trailing slash', () => {
    expect(diags(withWhere('/mnt/web01/boot/'))).toEqual([['path-not-normalised', '6:12',
      'mounts[0].where "/mnt/web01/boot/" is not a normalised path: it has a trailing "/"', 'write it as /mnt/web01/boot']]);
  });

  it('names every reason at once', () => {
    expect(diags(withWhere('/mnt/./a//b/../c/'))[0]!.slice(0, 3)).toEqual(['path-not-normalised', '6:12',
      'mounts[0].where "/mnt/./a//b/../c/" is not a normalised path: it has a "." component, an empty component ("//"), a ".." component and a trailing "/"']);
  });

  it('gives no hint to a path that normalises to /, and still refuses mounting over /', () => {
    expect(diags(withWhere('/mnt/..'))).toEqual([
      ['path-not-normalised', '6:12', 'mounts[0].where "/mnt/.." is not a normalised path: it has a ".." component',
        'write the path without "." or ".." components, "//" or a trailing "/"'],
      ['bad-where', '6:12', 'mounting over / is not allowed', undefined],
    ]);
    expect(diags(withWhere('/')).map((d) => d[0])).toEqual(['bad-where']);
  });

  it('refuses a newline, a tab and an escape in a mountpoint', () => {
    const hint = 'paths must not contain control characters (U+0000-U+001F, U+007F-U+009F): look for a stray line break, tab or escape sequence in the quoted string';
    expect(diags(withWhere('"/mnt/web01\\nboot"'))).toEqual([['path-control-char', '6:12',
      'mounts[0].where "/mnt/web01\\nboot" contains a newline (U+000A) at character 11', hint]]);
    expect(diags(withWhere('"/mnt/web01\\tboot"'))).toEqual([['path-control-char', '6:12',
      'mounts[0].where "/mnt/web01\\tboot" contains a tab (U+0009) at character 11', hint]]);
    expect(diags(withWhere('"/mnt/\\e[31mred"'))).toEqual([['path-control-char', '6:12',
      'mounts[0].where "/mnt/\\e[31mred" contains an escape character (U+001B) at character 6', hint]]);
    // C1 controls and DEL too (a raw U+0085 in the text, and an escaped DEL)
    expect(diags(withWhere('/mnt/a\u0085b'))[0]!.slice(0, 3)).toEqual(['path-control-char', '6:12',
      'mounts[0].where "/mnt/a\\x85b" contains a control character (U+0085) at character 7']);
    expect(diags(withWhere('"/mnt/a\\x7fb"'))[0]!.slice(0, 3)).toEqual(['path-control-char', '6:12',
      'mounts[0].where "/mnt/a\\x7fb" contains a control character (U+007F) at character 7']);
  });

  it('checks image files too; a relative one may start with ".."', () => {
    expect(diags(withFile('/srv/images/../web01.img'))).toEqual([['path-not-normalised', '4:11',
      'images.web01.file "/srv/images/../web01.img" is not a normalised path: it has a ".." component', 'write it as /srv/web01.img']]);
    expect(diags(withFile('./images/web01.img'))).toEqual([['path-not-normalised', '4:11',
      'images.web01.file "./images/web01.img" is not a normalised path: it has a "." component', 'write it as images/web01.img']]);
    expect(diags(withFile('"images/web01.img\\n"'))[0]!.slice(0, 2)).toEqual(['path-control-char', '4:11']);
    expect(diags(withFile('../images/web01.img'))).toEqual([]);
    expect(load(withFile('../images/web01.img')).manifest!.images[0]!.file).toBe('/images/web01.img');
    expect(diags(withFile('../../x/web01.img'))).toEqual([]);
    expect(diags(withFile('../x/../web01.img'))[0]!.slice(0, 2)).toEqual(['path-not-normalised', '4:11']);
  });

  it('reports path errors together with the other semantic errors', () => {
    const text = 'version: 1\nimages:\n  a: { file: a.img, format: raw }\nmounts:\n  - { what: b, where: /mnt/b/ }\n';
    expect(diags(text).map((d) => [d[0], d[1]])).toEqual([['unknown-image', '5:13'], ['path-not-normalised', '5:23']]);
  });
});

describe('YAML resource limits', () => {
  it('refuses an alias bomb at the alias that passes the limit', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const text = `version: 1\nx:\n${levels.map((l) => `  ${l}\n`).join('')}images:\n  web01: { file: a.img, format: raw }\n`;
    expect(diags(text)).toEqual([['yaml-alias-limit', '7:10',
      'YAML aliases expand the manifest by more than 10000 values here (at *d): refused as a possible alias bomb',
      'a manifest needs few aliases: write the values out, or repeat large anchors less']]);
  });

  it('accepts aliases a manifest uses in earnest, even many of them', () => {
    const mounts = Array.from({ length: 300 }, (_, i) => `  - { what: web01/part${(i % 999) + 1}, where: /mnt/p${i}, options: *opts }\n`).join('');
    const text = `version: 1\nimages:\n  web01: { file: a.img, format: raw }\nx-opts: &opts [nosuid, nodev]\nmounts:\n${mounts}`;
    // the unknown top-level field is the schema's to refuse; the aliases pass
    expect(diags(text).map((d) => d[0])).toEqual(['unknown-field']);
    const ok = `version: 1\nimages:\n  web01: { file: a.img, format: raw }\nmounts:\n  - { what: web01/part1, where: /mnt/a, options: &opts [nosuid, nodev] }\n${
      Array.from({ length: 200 }, (_, i) => `  - { what: web01/part${i + 2}, where: /mnt/p${i}, options: *opts }\n`).join('')}`;
    expect(diags(ok)).toEqual([]);
    expect(load(ok).manifest!.mounts[200]!.options).toEqual(['nosuid', 'nodev']);
  });

  it('refuses an alias that refers to its own anchor without looping', () => {
    expect(diags('version: 1\nimages: &i\n  web01: *i\n').map((d) => d[0])).toEqual(['missing-field', 'missing-field', 'unknown-field']);
  });

  it('refuses a manifest larger than 1 MiB, as text or as bytes', () => {
    const text = `version: 1\n# ${'x'.repeat(MAX_MANIFEST_BYTES)}\nimages:\n  web01: { file: a.img, format: raw }\n`;
    const want = [['manifest-too-large', '1:1', `the manifest is ${text.length} bytes; a manifest may be at most 1048576 bytes (1 MiB)`,
      'a manifest lists images and mounts, a few KiB: check that this is the right file']];
    expect(diags(text)).toEqual(want);
    expect(diags(Buffer.from(text))).toEqual(want);
    expect(diags(`version: 1\nimages:\n  web01: { file: a.img, format: raw }\n# ${'x'.repeat(MAX_MANIFEST_BYTES - 100)}\n`)).toEqual([]);
  });

  it('words a parser stack overflow (deep nesting) as a manifest error', () => {
    const d = diags(`version: 1\nimages: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`);
    expect(d[0]!.slice(0, 1)).toEqual(['yaml']);
    expect(d[0]![2]).toBe('the YAML nests too deeply to read (the parser ran out of stack)');
  });
});

describe('manifest encoding', () => {
  const good = 'version: 1\nimages:\n  web01: { file: a.img, format: raw }\n';

  it('refuses bytes that are not UTF-8, saying where', () => {
    const bytes = Buffer.concat([Buffer.from('version: 1\nimages:\n  web01: { file: caf'), Buffer.from([0xe9]), Buffer.from('.img, format: raw }\n')]);
    expect(diags(bytes)).toEqual([['not-utf8', '3:21', 'the manifest is not valid UTF-8: byte 0xe9 at byte offset 39',
      'save the manifest as UTF-8 (e.g. iconv -f latin1 -t utf-8)']]);
    // columns count characters: a valid "é" before the bad byte is one
    const after = Buffer.concat([Buffer.from('# é\n#  '), Buffer.from([0xc3, 0x28])]);
    expect(diags(after)).toEqual([['not-utf8', '2:4', 'the manifest is not valid UTF-8: byte 0xc3 at byte offset 8', expect.any(String)]]);
  });

  it('accepts UTF-8 bytes, with or without a byte order mark, as the same manifest as the text', () => {
    const fromText = load(good).manifest!;
    expect(diags(Buffer.from(good))).toEqual([]);
    expect(load(Buffer.from(good)).manifest!.sha256).toBe(fromText.sha256);
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(good)]);
    expect(diags(bom)).toEqual([]);
    // hashed as readFile(…, 'utf8') would give it, BOM included: a saved plan's manifest check stays the same
    expect(load(bom).manifest!.sha256).toBe(load(bom.toString('utf8')).manifest!.sha256);
  });

  it('finds the first invalid byte: overlong forms, surrogates, truncated and stray bytes', () => {
    const at = (...b: number[]) => firstInvalidUtf8(Uint8Array.from(b));
    expect(at(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)).toBe(-1);
    expect(at(0x61, 0xc0, 0xaf)).toBe(1); // overlong "/"
    expect(at(0xe0, 0x80, 0xaf)).toBe(0); // overlong, three bytes
    expect(at(0x61, 0xed, 0xa0, 0x80)).toBe(1); // a UTF-16 surrogate
    expect(at(0xf4, 0x90, 0x80, 0x80)).toBe(0); // past U+10FFFF
    expect(at(0x61, 0x62, 0xe2, 0x82)).toBe(2); // cut short
    expect(at(0x80)).toBe(0); // a continuation byte alone
    expect(at(0xff)).toBe(0);
  });
});

describe('other manifest text that reaches a message or a command', () => {
  it('refuses a mount option with a control character (an escape sequence, a DEL)', () => {
    const m = (opt: string) => `version: 1\nimages:\n  web01: { file: /srv/web01.img, format: raw }\nmounts:\n  - { what: web01, where: /mnt/w, options: [${opt}] }\n`;
    for (const opt of ['"noatime\\e[2J"', '"noatime\\x7f"']) {
      expect(diags(m(opt)).map((d) => d.slice(0, 3))).toEqual([['bad-option', '5:45',
        'mounts[0].options[0] must be one option without commas, spaces or control characters']]);
    }
    expect(diags(m('noatime'))).toEqual([]);
  });

  it('shows an unknown field name with its control characters escaped', () => {
    const text = 'version: 1\nimages:\n  web01: { file: /srv/web01.img, format: raw, "acc\\e]0;pwned\\aess": read-only }\n';
    const [d] = diags(text);
    expect(d!.slice(0, 2)).toEqual(['unknown-field', '3:47']);
    expect(d![2]).toBe('unknown field "acc\\e]0;pwned\\x07ess" in images.web01');
  });

  it('allow_backing takes a short list of distinct paths', () => {
    const m = (v: string) => `version: 1\nimages:\n  q: { file: /srv/q.qcow2, format: qcow2, allow_backing: ${v} }\n`;
    expect(load(m('[/dev/vg/base]')).manifest!.images[0]!.allowBacking).toEqual(['/dev/vg/base']);
    expect(diags(m('[/dev/a, /dev/a]'))[0]![0]).toBe('duplicate');
    expect(diags(m('/dev/a'))[0]![0]).toBe('bad-type');
  });
});
