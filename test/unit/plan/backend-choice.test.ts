import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/manifest/load.js';
import { buildDesired } from '../../../src/plan/desired.js';
import type { ObservedState } from '../../../src/probe/observed.js';
import { manifestFor, observed } from '../golden-support.js';

/**
 * partitions: auto on the state recorded in the VM lane (stock kernel: partition scan and
 * device-mapper), then with the kernel's capabilities taken away one by one, as on hosts that
 * lack them (no partition parsers, like this project's CI host; no device-mapper, like a container).
 */
async function methodsFor(partitions: string, tweak: (o: ObservedState) => ObservedState) {
  const { manifest: base } = manifestFor('kpartx/fresh');
  const text = `version: 1\nimages:\n  vm01: { file: ${base.images[0]!.file}, format: raw, partitions: ${partitions} }\nmounts:\n  - { what: vm01/part2, where: /mnt/r }\n`;
  const m = loadManifest({ path: base.path, text, allowWrites: false }).manifest!;
  const r = buildDesired(m, tweak(await observed('kpartx/fresh', base)));
  return { kinds: r.desired.map((d) => (d.kind === 'attach' ? `${d.address} ${d.method}` : d.address)), errors: r.diagnostics.map((d) => d.message) };
}
const noPartscan = (o: ObservedState): ObservedState => ({ ...o, kernel: { ...o.kernel, partscan: { labels: [], evidence: 'test' } } });
const noDm = (o: ObservedState): ObservedState => ({ ...noPartscan(o), kernel: { ...noPartscan(o).kernel, deviceMapper: false } });

describe('attach backend choice', () => {
  it('auto: the kernel scans gpt here', async () => {
    expect((await methodsFor('auto', (o) => o)).kinds).toEqual(['attach:vm01 partscan-loop', 'mount:/mnt/r']);
  });
  it('auto without partition scan: kpartx, since device-mapper is there', async () => {
    expect((await methodsFor('auto', noPartscan)).kinds).toEqual(['attach:vm01 kpartx-loop', 'partmap:vm01', 'mount:/mnt/r']);
  });
  it('auto without device-mapper either: one offset loop per partition', async () => {
    expect((await methodsFor('auto', noDm)).kinds).toEqual(['attach:vm01/part2 offset-loop', 'mount:/mnt/r']);
  });
  it('asking for what the kernel cannot do is a plan-time error naming what is missing', async () => {
    expect((await methodsFor('partscan', noPartscan)).errors).toEqual(['image vm01 asks for partitions: partscan, but this kernel does not parse gpt partition tables (test)']);
    expect((await methodsFor('kpartx', noDm)).errors).toEqual(['image vm01 asks for partitions: kpartx, but the kernel has no device-mapper loaded']);
  });
});

describe('diagnostics while building the desired state', () => {
  it('a missing image file is one error, however many mounts use it', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const obs = await observed('rescue/fresh', manifest);
    const gone: ObservedState = { ...obs, images: { ...obs.images, web01: { ...obs.images.web01!, stat: { kind: 'missing' } } } };
    const r = buildDesired(manifest, gone);
    expect(r.diagnostics.map((d) => [d.code, d.at?.line])).toEqual([['image-missing', 5]]);
    expect(r.desired.filter((d) => d.kind !== 'dir').map((d) => d.address)).toEqual(['attach:data', 'mount:/tmp/imgplan-golden/mnt/data']);
  });
});
