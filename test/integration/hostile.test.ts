import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ExecaRunner } from '../../src/runner/execa-runner.js';
import { isRoot, sh, sha256, useSandbox } from './harness.js';
import { expectNamed, expectRefusal, hostileLvm } from './hostile-lvm.js';

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

  // plan reads LVM metadata from the image bytes with imgplan's own reader: no device-mapper needed
  it.skipIf(!existsSync('/usr/sbin/pvcreate'))('LVM names and UUIDs crafted into real metadata are refused by plan, naming the image and the field; a crafted valid rename is read, and pvck finds LVM\'s checksums', async () => {
    const h = await hostileLvm(sb);
    // the crafting tool's checksums are LVM's: pvck checks the label, the mda header and the text
    for (const img of [h.base, h.images[4]!]) {
      const loop = (await sh(['losetup', '--find', '--show', '--read-only', img])).trim();
      try {
        const pvck = await execa('pvck', ['--dump', 'headers', loop], { reject: false, env: { LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' } });
        expect(pvck.exitCode, pvck.stdout + pvck.stderr).toBe(0);
        expect(pvck.stdout).not.toContain('CHECK');
        expect(pvck.stdout).toMatch(new RegExp(`metadata text at \\d+ crc 0x[0-9a-f]+ # vgname ${img === h.base ? 'VolGroup' : 'Crafted_vg'} seqno 3`));
      } finally {
        await sh(['losetup', '--detach', loop]);
      }
    }
    for (const extra of ['', ', vg_name_clash: map']) {
      const out: Record<string, string> = {};
      for (const [key, file] of Object.entries(h.manifests(extra))) {
        const r = await sb.imgplan(['plan', file]);
        expectRefusal(r, `imgplan plan ${file}`);
        out[key] = r.stderr;
      }
      expectNamed(h, out as Parameters<typeof expectNamed>[1]);
    }
    expect(existsSync(sb.path('mnt'))).toBe(false);
    expect(await Promise.all(h.images.map(sha256))).toEqual(h.before);
  });
});

describeRoot('hostile images: who on the host can reach a guest tree', () => {
  it('warns when every directory above the mountpoint is searchable by all host users, and not once one of them is fenced', async () => {
    await sb.wholeImage('g.img', 16, 'ext4', 'g', { 'etc/hostname': 'web01\n' });
    mkdirSync(sb.path('open'), { mode: 0o755 });
    const m = sb.writeManifest('g.yaml', `version: 1\nimages:\n  g: { file: g.img, format: raw }\nmounts:\n  - { what: g, where: ${sb.path('open/g')} }\n`);
    chmodSync(sb.root, 0o755);
    try {
      const open = await sb.imgplan(['plan', m]);
      expect(open.code, open.stdout + open.stderr).toBe(0);
      expect(open.stdout + open.stderr).toContain(`the guest's files at ${sb.path('open/g')} will be open to every host user`);
      expect(open.stdout + open.stderr).toContain(`fence it: chmod 0700 ${sb.path('open')}`);
    } finally {
      chmodSync(sb.root, 0o700);
    }
    const fenced = await sb.imgplan(['plan', m]);
    expect(fenced.code).toBe(0);
    expect(fenced.stdout + fenced.stderr).not.toContain('open to every host user');
  });
});

describeRoot('hostile images: a nested mount lands on the directory that was checked', () => {
  it('mounts on the directory opened without following links (fd 3)', async () => {
    await sb.wholeImage('root.img', 32, 'ext4', 'root', { 'boot/': '' });
    await sb.wholeImage('boot.img', 16, 'ext4', 'boot', { 'vmlinuz': 'kernel\n' });
    const m = sb.writeManifest('n.yaml', `version: 1
images:
  r: { file: root.img, format: raw, access: overlay }
  b: { file: boot.img, format: raw }
mounts:
  - { what: r, where: ${sb.path('mnt/r')}, options: [rw] }
  - { what: b, where: ${sb.path('mnt/r/boot')} }
`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.stdout).toContain(`/proc/self/fd/3`);
    expect(plan.stdout).toContain(`(fd 3: ${sb.path('mnt/r/boot')}, opened below ${sb.path('mnt/r')} one directory at a time, never through a symlink)`);
    const apply = await sb.imgplan(['apply', m, '--auto-approve']);
    try {
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      expect((await sh(['findmnt', '-n', '-o', 'TARGET', '--mountpoint', sb.path('mnt/r/boot')])).trim()).toBe(sb.path('mnt/r/boot'));
      expect(readFileSync(sb.path('mnt/r/boot/vmlinuz'), 'utf8')).toBe('kernel\n');
    } finally {
      expect((await sb.imgplan(['destroy', m, '--auto-approve'])).code).toBe(0);
    }
  });
});

describeRoot('hostile images: the directory a command gets as fd 3', () => {
  it('is the real directory, opened one component at a time; through a symlink anywhere on the way nothing runs', async () => {
    const runner = new ExecaRunner();
    mkdirSync(sb.path('g/real/deep'), { recursive: true });
    mkdirSync(sb.path('hostdir'));
    symlinkSync(sb.path('hostdir'), sb.path('g/link'));
    const ok = await runner.run({ argv: ['stat', '-L', '-c', '%i', '/proc/self/fd/3'], effect: 'reads', dirFd3: { base: sb.path('g'), path: sb.path('g/real/deep') } });
    expect(ok.failure).toBeUndefined();
    expect(Number(ok.stdout.trim())).toBe(statSync(sb.path('g/real/deep')).ino);
    for (const via of ['g/link', 'g/link/x']) {
      const marker = sb.path('ran');
      const r = await runner.run({ argv: ['touch', marker], effect: 'changes', dirFd3: { base: sb.path('g'), path: sb.path(via) } });
      expect(r.failure).toBe('exit-code');
      expect(r.stderr).toContain(`${sb.path('g/link')} is a symlink: imgplan never mounts through one; nothing was run`);
      expect(existsSync(marker)).toBe(false);
    }
    expect(readdirSync(sb.path('hostdir'))).toEqual([]);
  });
});

describeRoot('hostile images: backing files the manifest allows', () => {
  it('a qcow2 over a block device opens when allow_backing names that device, with a warning; the device and the image are unchanged', async () => {
    const base = await sb.wholeImage('base.img', 16, 'ext4', 'base', { 'etc/hostname': 'base\n' });
    const loop = (await sh(['losetup', '--find', '--show', '--read-only', base])).trim();
    try {
      const top = sb.path('top.qcow2');
      await sh(['qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b', loop, '-F', 'raw', top, '16M']);
      const before = [await sha256(top), await sha256(base)];
      const m = sb.writeManifest('a.yaml',
        `version: 1\nimages:\n  q: { file: top.qcow2, format: qcow2, allow_backing: [${loop}] }\nmounts:\n  - { what: q, where: ${sb.path('mnt/q')} }\n`);
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stdout + plan.stderr).toBe(0);
      expect(plan.stdout + plan.stderr).toContain(`the backing file ${loop} of image q is not a regular file (a device or a special file); ` +
        'QEMU opens it read-only because allow_backing names it');
      expect(plan.stdout).toContain(`backing ${loop} (raw)`);
      expect([await sha256(top), await sha256(base)]).toEqual(before);
    } finally {
      await sh(['losetup', '--detach', loop]);
    }
  });
});
