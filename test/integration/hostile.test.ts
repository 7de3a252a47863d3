import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRoot, sh, sha256, useSandbox } from './harness.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();

/** A guest root whose `boot` is a symlink, made the way an attacker would: on the filesystem itself. */
async function guestWithBootLink(to: string): Promise<string> {
  const img = await sb.wholeImage('root.img', 32, 'ext4', 'root', { 'etc/hostname': 'evil\n' });
  const loop = (await sh(['losetup', '--find', '--show', img])).trim();
  const m = sb.path('.craft');
  mkdirSync(m);
  try {
    await sh(['mount', loop, m]);
    await sh(['ln', '-s', to, `${m}/boot`]);
    await sh(['umount', m]);
  } finally {
    await sh(['losetup', '--detach', loop]);
  }
  return img;
}

describeRoot('hostile images: nothing inside a guest reaches the host', () => {
  it.each([
    ['an absolute symlink to a host directory', (host: string) => host],
    ['a relative symlink climbing out of the guest', () => '../../..'],
  ])('a guest /boot that is %s: the nested mount is refused, at apply and then at plan time; the host directory is untouched', async (_what, target) => {
    const host = sb.path('host-etc');
    mkdirSync(host);
    writeFileSync(`${host}/passwd`, 'root:x:0:0\n');
    const root = await guestWithBootLink(target(host));
    await sb.wholeImage('boot.img', 16, 'ext4', 'boot', { 'vmlinuz': 'kernel\n' });
    const before = [await sha256(root), await sha256(sb.path('boot.img'))];
    const both = sb.writeManifest('m.yaml', `version: 1
images:
  r: { file: root.img, format: raw }
  b: { file: boot.img, format: raw }
mounts:
  - { what: r, where: ${sb.path('mnt/r')} }
  - { what: b, where: ${sb.path('mnt/r/boot')} }
`);
    // the guest root is not mounted yet, so only apply can look: right before the nested mount
    const apply = await sb.imgplan(['apply', both, '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(1);
    expect(apply.stderr).toContain(`${sb.path('mnt/r/boot')} is a symlink in the guest's filesystem (to ${target(host)}): imgplan never mounts through one`);
    expect(apply.stderr).toContain('Everything this run did was undone.');
    expect(readdirSync(host)).toEqual(['passwd']);
    expect(existsSync(sb.path('mnt'))).toBe(false);

    // with the guest root mounted, plan sees the link and refuses before anything is attached
    const rootOnly = sb.writeManifest('root.yaml', `version: 1\nimages:\n  r: { file: root.img, format: raw }\nmounts:\n  - { what: r, where: ${sb.path('mnt/r')} }\n`);
    expect((await sb.imgplan(['apply', rootOnly, '--auto-approve'])).code).toBe(0);
    try {
      const plan = await sb.imgplan(['plan', both]);
      expect(plan.code).toBe(3);
      expect(plan.stderr).toContain(`error: mountpoint ${sb.path('mnt/r/boot')} leads through ${sb.path('mnt/r/boot')}, a symlink (to ${target(host)})`);
      expect(plan.stderr).toContain('imgplan never follows a guest\'s symlinks');
    } finally {
      expect((await sb.imgplan(['destroy', rootOnly, '--auto-approve'])).code).toBe(0);
    }
    expect(readdirSync(host)).toEqual(['passwd']);
    expect([await sha256(root), await sha256(sb.path('boot.img'))]).toEqual(before);
  });

  it.each([
    ['a host block device', '/dev/loop0', 'raw', 'not a regular file (a device or a special file)'],
    ['QEMU nbd protocol syntax', 'nbd://127.0.0.1:9/disk', 'raw', 'QEMU protocol or json: syntax, not a file'],
    ['json: syntax reaching a host file', 'json:{"file.driver":"file","file.filename":"/etc/shadow"}', 'raw', 'QEMU protocol or json: syntax, not a file'],
  ])('a qcow2 whose header names %s as its backing file is refused at plan time, before QEMU opens it', async (_what, backing, fmt, what) => {
    const top = sb.path('top.qcow2');
    // -u: the header is written without opening the backing file, as a crafted image would have it
    await sh(['qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b', backing, '-F', fmt, top, '16M']);
    const before = await sha256(top);
    const m = sb.writeManifest('q.yaml', `version: 1\nimages:\n  q: { file: top.qcow2, format: qcow2 }\nmounts:\n  - { what: q, where: ${sb.path('mnt/q')} }\n`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(3);
    expect(plan.stderr).toContain(`of image q is ${what} (${top} names ${JSON.stringify(backing)} as its backing file)`);
    expect(plan.stderr).toContain('imgplan opens only backing chains of regular files');
    expect(existsSync(sb.path('mnt'))).toBe(false);
    expect(await sha256(top)).toBe(before);
  });
});
