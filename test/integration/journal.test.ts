import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journalPath } from '../../src/journal/format.js';
import { isRoot, sh, useSandbox } from './harness.js';

const describeRoot = isRoot ? describe : describe.skip;

const sb = useSandbox();

async function loopsOf(file: string): Promise<string[]> {
  const t = await sh(['losetup', '--list', '--json', '--output', 'NAME,BACK-FILE']);
  const loops = t.trim() ? (JSON.parse(t) as { loopdevices: { name: string; 'back-file': string }[] }).loopdevices : [];
  return loops.filter((l) => l['back-file'] === file).map((l) => l.name);
}

describeRoot('the journal on a real system', () => {
  it('a damaged, truncated or foreign journal: plan, apply and destroy refuse with exit 3, naming the file and the entry, and touch nothing', async () => {
    const img = await sb.wholeImage('j.img', 16, 'ext4');
    const m = sb.writeManifest('j.yaml', `version: 1\nimages:\n  j: { file: j.img, format: raw }\nmounts:\n  - { what: j, where: ${sb.path('mnt/j')} }\n`);
    expect((await sb.imgplan(['apply', m, '--auto-approve'])).code).toBe(0);
    const path = journalPath(sb.stateDir, m);
    const good = readFileSync(path, 'utf8');
    const j = JSON.parse(good) as { entries: Record<string, unknown>[] };
    const attach = j.entries.findIndex((e) => e.kind === 'attach');
    const cases: [string, string, RegExp][] = [
      ['truncated', good.slice(0, 200), /is not valid JSON \(truncated\? it stops before its closing brace\)/],
      ['wrong type', JSON.stringify({ ...j, entries: j.entries.map((e, i) => (i === attach ? { ...e, offset: '0' } : e)) }),
        new RegExp(`is damaged: entries\\[${attach}\\] \\(attach:j\\): offset must be integer`)],
      ['unknown kind', JSON.stringify({ ...j, entries: [...j.entries, { kind: 'zvol', address: 'zvol:x', dependsOn: [] }] }),
        /is damaged: entries\[\d+\] \(zvol:x\): has kind "zvol", which is no kind of object imgplan makes/],
      ['foreign', '{"version": 1, "images": {}}\n', /is not an imgplan journal \(it has no formatVersion\)/],
    ];
    for (const [what, text, want] of cases) {
      writeFileSync(path, text);
      for (const argv of [['plan', m], ['apply', m, '--auto-approve'], ['destroy', m, '--auto-approve']]) {
        const r = await sb.imgplan(argv);
        expect(r.code, `${what}, ${argv[0]}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toContain(`imgplan: error: journal ${path} `);
        expect(r.stderr).toMatch(want);
        expect(r.stderr).toContain('hint: ');
        expect(r.stderr).not.toMatch(/internal error|TypeError/);
      }
      // nothing was detached or unmounted on the strength of a journal imgplan cannot read
      expect(await loopsOf(img)).toHaveLength(1);
      expect(readFileSync(path, 'utf8')).toBe(text);
    }
    writeFileSync(path, good);
    expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
  });

  it('a symbolic link at the journal\'s path, or for its folder, is refused (exit 3); nothing is read or written through it', async () => {
    await sb.wholeImage('s.img', 16, 'ext4');
    const m = sb.writeManifest('s.yaml', `version: 1\nimages:\n  s: { file: s.img, format: raw }\nmounts:\n  - { what: s, where: ${sb.path('mnt/s')} }\n`);
    const path = journalPath(sb.stateDir, m);
    mkdirSync(join(sb.stateDir, 'journal'), { recursive: true, mode: 0o700 });
    const victim = sb.path('victim.txt');
    writeFileSync(victim, 'not a journal\n');
    symlinkSync(victim, path);
    for (const argv of [['plan', m], ['apply', m, '--auto-approve'], ['destroy', m, '--auto-approve']]) {
      const r = await sb.imgplan(argv);
      expect(r.code, `${argv[0]}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain(`imgplan: error: journal ${path} is a symbolic link (to ${victim}); imgplan reads and writes its journal only as a regular file`);
    }
    expect(readFileSync(victim, 'utf8')).toBe('not a journal\n');
    expect(existsSync(sb.path('mnt'))).toBe(false);

    // the journal folder itself a link: apply refuses before it attaches anything, and writes nothing where it points
    await sh(['rm', '-r', join(sb.stateDir, 'journal')]);
    const elsewhere = sb.path('elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(sb.stateDir, 'journal'));
    const r = await sb.imgplan(['apply', m, '--auto-approve']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`imgplan: error: journal folder ${join(sb.stateDir, 'journal')} is a symbolic link (to ${elsewhere})`);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(await loopsOf(sb.path('s.img'))).toEqual([]);
    await sh(['rm', join(sb.stateDir, 'journal')]);
  });
});
