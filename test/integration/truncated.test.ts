/**
 * Images cut short (a copy that stopped early): the partition table describes more disk than the
 * file holds. plan says so, names the partitions still wholly inside, and changes nothing; a
 * partition that is all there is still mounted. Real sfdisk, mkfs and truncate; host kernel.
 */
import { openSync, closeSync, writeSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRoot, sh, sha256, useSandbox } from './harness.js';
import { read, runProtocol } from './protocol.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();

async function cutImage(label: 'dos' | 'gpt', keepMiB: number) {
  const file = await sb.partitionedImage(`${label}.img`, 64, label, [
    { size: '16M', fs: 'ext4', label: 'boot', files: { 'grub/grub.cfg': 'set default=0\n' } },
    { fs: 'ext4', label: 'root', files: { 'etc/hostname': 'web01\n' } },
  ]);
  await sh(['truncate', '-s', `${keepMiB}M`, file]);
  return file;
}

const manifest = (label: string, parts: number[]) => sb.writeManifest(`${label}.yaml`, `version: 1
images:
  web01: { file: ${label}.img, format: raw }
mounts:
${parts.map((n) => `  - { what: web01/part${n}, where: ${sb.path(`mnt/p${n}`)} }`).join('\n')}
`);

describeRoot('truncated images (host kernel)', () => {
  it('MBR: a partition past the end of the file is refused, naming what is still whole; a whole one still mounts', async () => {
    const file = await cutImage('dos', 40);
    const before = await sha256(file);
    const both = manifest('dos', [1, 2]);
    const plan = await sb.imgplan(['plan', both]);
    expect(plan.code, plan.stderr).toBe(3);
    expect(plan.stderr).toContain('dos.yaml:6:13: error: partition 2');
    expect(plan.stderr).toContain('partition 2 of web01 ends at 64.0 MiB, past the end of the image (40.0 MiB): the image looks truncated');
    expect(plan.stderr).toContain('hint: partitions wholly inside the file: part1;');
    expect(plan.stderr).not.toContain('partition 1 of web01');
    const apply = await sb.imgplan(['apply', both, '--auto-approve']);
    expect(apply.code).toBe(3);
    expect(await sb.leaks()).toEqual([]);

    await runProtocol(sb, {
      manifest: manifest('dos', [1]), images: [file], createdDirs: [sb.path('mnt')],
      whileApplied: () => expect(read(sb.path('mnt/p1/grub/grub.cfg'))).toBe('set default=0\n'),
    });
    expect(await sha256(file)).toBe(before);
  });

  it('GPT: sfdisk rejects a GPT without its backup header; plan reads the primary one and says how much is missing', async () => {
    const file = await cutImage('gpt', 24);
    // what sfdisk alone makes of it: the protective MBR's one 0xEE entry
    expect(await sh(['sfdisk', '--json', file])).toMatch(/"label": "dos"[\s\S]*"type": "ee"/);
    const before = await sha256(file);
    const plan = await sb.imgplan(['plan', manifest('gpt', [1])]);
    expect(plan.code, plan.stderr).toBe(3);
    expect(plan.stderr).toContain(`image web01 is a GPT disk of 64.0 MiB, but ${file} holds only 24.0 MiB: it looks truncated`);
    expect(plan.stderr).toContain('hint: partitions wholly inside the file: part1;');
    expect(plan.stderr).not.toContain('no filesystem found');
    expect(await sb.leaks()).toEqual([]);
    expect(await sha256(file)).toBe(before);
  });

  it('GPT: a protective MBR with no GPT header that checks out is called damaged, not truncated', async () => {
    const file = await sb.partitionedImage('bad.img', 32, 'gpt', [{ size: '8M', fs: 'ext4' }]);
    // both headers gone: sector 1 and the disk's last sector
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, Buffer.alloc(512), 0, 512, 512);
      writeSync(fd, Buffer.alloc(512), 0, 512, statSync(file).size - 512);
    } finally {
      closeSync(fd);
    }
    const plan = await sb.imgplan(['plan', manifest('bad', [1])]);
    expect(plan.code, plan.stderr).toBe(3);
    expect(plan.stderr).toContain('image web01 has a GPT\'s protective MBR, but sfdisk reads no valid GPT (no GPT header checks out)');
    expect(plan.stderr).toContain('sgdisk --verify');
  });
});
