import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listGuestDir, MAX_DIR_ENTRIES, readGuestFile, resolveInGuest } from '../../../src/runner/guest-files.js';

// a guest tree in a temporary folder, beside a "host" file the guest's links aim at
const top = mkdtempSync('/tmp/imgplan-guest-files-');
const root = join(top, 'guest');
mkdirSync(join(root, 'etc/sub'), { recursive: true });
writeFileSync(join(top, 'host-secret'), 'host');
writeFileSync(join(root, 'etc/real'), 'guest file');
writeFileSync(join(root, 'host-secret'), 'the guest\'s own');
symlinkSync('/etc/real', join(root, 'etc/abs'));
symlinkSync('../../../../host-secret', join(root, 'etc/climb'));
symlinkSync('/../../host-secret', join(root, 'etc/abs-climb'));
symlinkSync('loop-b', join(root, 'etc/loop-a'));
symlinkSync('loop-a', join(root, 'etc/loop-b'));
symlinkSync('/etc', join(root, 'etc/sub/up'));
symlinkSync('/nowhere', join(root, 'etc/dangling'));
afterAll(() => rmSync(top, { recursive: true, force: true }));

const text = async (p: string) => {
  const f = await readGuestFile(root, p);
  return f?.data === undefined ? f : Buffer.from(f.data, 'base64').toString();
};

describe('a guest\'s files, resolved inside the guest', () => {
  it('follows absolute links from the guest\'s root and relative ones from their folder', async () => {
    expect(await text('/etc/abs')).toBe('guest file');
    expect(await text('/etc/sub/up/real')).toBe('guest file');
    expect(await resolveInGuest(root, '/etc/sub/up/real')).toBe(join(root, 'etc/real'));
  });

  it('never climbs out: .. stops at the guest\'s root', async () => {
    expect(await text('/etc/climb')).toBe('the guest\'s own');
    expect(await text('/etc/abs-climb')).toBe('the guest\'s own');
    expect(await text('/../../host-secret')).toBe('the guest\'s own');
  });

  it('stops a link loop, and a missing or dangling path is simply absent', async () => {
    expect(await readGuestFile(root, '/etc/loop-a')).toEqual({ error: 'more than 40 symbolic links' });
    expect(await readGuestFile(root, '/etc/dangling')).toBeUndefined();
    expect(await readGuestFile(root, '/etc/real/below')).toBeUndefined();
  });

  it('reads only regular files, at most the limit', async () => {
    expect(await readGuestFile(root, '/etc')).toEqual({ error: 'a directory' });
    expect(await readGuestFile(root, '/etc/real', 5)).toEqual({ data: Buffer.from('guest').toString('base64'), size: 10, truncated: true });
  });

  it('lists a folder sorted, bounded', async () => {
    const many = join(root, 'many');
    mkdirSync(many);
    for (let i = 0; i < MAX_DIR_ENTRIES + 3; i++) writeFileSync(join(many, `f${i}`), '');
    const listed = await listGuestDir(root, '/many');
    expect(listed?.entries).toHaveLength(MAX_DIR_ENTRIES);
    expect(listed?.truncated).toBe(true);
    expect((await listGuestDir(root, '/etc/sub'))?.entries).toEqual([{ name: 'up', kind: 'link' }]);
    expect(await listGuestDir(root, '/etc/real')).toBeUndefined();
  });
});
