import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/manifest/load.js';
import { manifestAddresses } from '../../../src/plan/addresses.js';

const manifest = (text: string) => {
  const r = loadManifest({ path: '/srv/m.yaml', text, allowWrites: true });
  if (!r.manifest) throw new Error(JSON.stringify(r.diagnostics));
  return r.manifest;
};

describe('manifestAddresses (completion of --target)', () => {
  it('gives every address a backend may take where the manifest leaves the choice to the kernel', () => {
    const m = manifest(`version: 1
images:
  web01: { file: web01.img, format: raw }
  vm: { file: vm.qcow2, format: qcow2, volume_groups: [vg0] }
mounts:
  - { what: web01/part2, where: /mnt/web01 }
  - { what: web01/part1, where: /mnt/web01/boot }
  - { what: vm/VolGroup/root, where: /mnt/vm }
`);
    expect(manifestAddresses(m)).toEqual(['attach:web01', 'attach:web01/part1', 'attach:web01/part2', 'export:vm', 'mount:/mnt/vm', 'mount:/mnt/web01',
      'mount:/mnt/web01/boot', 'nbd:vm', 'partmap:web01', 'vg:vm/VolGroup', 'vg:vm/vg0']);
  });

  it('follows the manifest\'s partitions: and qemu_backend:, and names the directories imgplan would make', () => {
    const m = manifest(`version: 1
images:
  a: { file: a.img, format: raw, partitions: kpartx }
  b: { file: b.vmdk, format: vmdk, qemu_backend: storage-daemon }
mounts:
  - { what: a/part1, where: /mnt/new/a }
  - { what: b, where: /mnt/new/b/inner }
`);
    const missing = (p: string) => p.startsWith('/mnt/new');
    expect(manifestAddresses(m, missing)).toEqual(['attach:a', 'attach:b', 'dir:/mnt/new', 'dir:/mnt/new/a', 'dir:/mnt/new/b', 'dir:/mnt/new/b/inner',
      'export:b', 'mount:/mnt/new/a', 'mount:/mnt/new/b/inner', 'partmap:a']);
  });
});
