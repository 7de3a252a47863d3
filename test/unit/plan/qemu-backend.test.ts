import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/manifest/load.js';
import { buildDesired } from '../../../src/plan/desired.js';
import { makePlan } from '../../../src/core/make-plan.js';
import type { NbdState, ObservedState } from '../../../src/probe/observed.js';
import { argvText } from '../../../src/render/plan-text.js';
import { collectState } from '../../../src/probe/collect.js';
import { FixtureRunner } from '../../../src/runner/fixture-runner.js';
import { manifestFor, observed, recording } from '../golden-support.js';

/**
 * Which QEMU backend, and which nbd device, on the state recorded on this project's host (no
 * nbd: qemu-storage-daemon exports), and on that state with the kernel's nbd put back in as an
 * admin host has it.
 */
async function desiredFor(images: string, tweak: (o: ObservedState) => ObservedState = (o) => o) {
  const { manifest: base } = manifestFor('qemu/fresh');
  const dir = base.path.replace(/\/[^/]+$/, '');
  const text = `version: 1\nimages:\n${images}\nmounts:\n  - { what: top/part2, where: ${dir}/mnt/top }\n  - { what: data, where: ${dir}/mnt/data }\n`;
  const m = loadManifest({ path: base.path, text, allowWrites: false }).manifest!;
  const obs = tweak(await observed('qemu/fresh', base));
  const r = buildDesired(m, obs);
  return {
    objects: r.desired.filter((d) => d.kind !== 'mount' && d.kind !== 'dir').map((d) => (d.kind === 'nbd' ? `${d.address} ${d.device}${d.partitions.length ? ` p${d.partitions.join(',')}` : ''}` : d.kind === 'attach' ? `${d.address} ${d.method}` : d.address)),
    errors: r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code}: ${d.message}`),
    manifest: m, obs,
  };
}
const IMAGES = '  top: { file: top.qcow2, format: qcow2 }\n  data: { file: data.vdi, format: vdi }';
const devices = (n: number, busy: readonly number[] = []) =>
  Array.from({ length: n }, (_, i) => ({ device: `/dev/nbd${i}`, connected: busy.includes(i), ...(busy.includes(i) ? { pid: 4242, cmdline: 'qemu-nbd\0-c\0/dev/nbd0\0/other.img\0' } : {}) }));
const withNbd = (nbd: Partial<NbdState>, partscan = true) => (o: ObservedState): ObservedState => ({
  ...o,
  kernel: { ...o.kernel, ...(partscan ? { partscan: { labels: ['dos', 'gpt'], evidence: 'test' } } : {}) },
  nbd: { module: 'loaded', maxPart: 16, devices: devices(16), qemuNbd: true, ...nbd },
});

describe('QEMU backend choice', () => {
  it('no nbd here: qemu-storage-daemon exports, and loop devices of their views', async () => {
    expect((await desiredFor(IMAGES)).objects).toEqual(['export:top', 'export:data', 'attach:top/part2 offset-loop', 'attach:data whole-loop']);
  });

  it('where the kernel has nbd: qemu-nbd on the first free devices, one each, using the kernel\'s partitions', async () => {
    const r = await desiredFor(IMAGES, withNbd({ devices: devices(16, [0, 2]) }));
    expect(r.objects).toEqual(['nbd:top /dev/nbd1 p2', 'nbd:data /dev/nbd3']);
    const plan = makePlan(r.manifest, r.obs, { mode: 'apply' }).plan!;
    const steps = plan.actions.flatMap((a) => a.steps.map((s) => argvText(s.argv)));
    expect(steps).toContain(`qemu-nbd --read-only --format=qcow2 --pid-file=${r.obs.exports!.top!.pidfile} --connect=/dev/nbd1 ${r.manifest.images[0]!.file}`);
    expect(steps.filter((s) => s.startsWith('modprobe'))).toEqual([]);
    expect(steps.find((s) => s.startsWith('mount') && s.includes('/mnt/top'))).toMatch(/^mount -t ext4 -o ro,noload,nosuid,nodev,noexec \{nbd:top:p2\} /);
  });

  it('an administrator\'s read-only connection of the image, as the manifest wants it, is used as it is and left alone', async () => {
    const { manifest: base } = manifestFor('qemu/fresh');
    const file = base.images.find((i) => i.name === 'top')!.file;
    const foreign = { device: '/dev/nbd5', connected: true, pid: 4343, cmdline: `qemu-nbd\0-r\0-f\0qcow2\0-c\0/dev/nbd5\0${file}\0` };
    const disk = (name: string, majMin: string, pkname?: string) => ({ name, kname: name, majMin, type: pkname ? 'part' : 'disk', ...(pkname ? { pkname } : {}), size: 1, ro: true });
    const r = await desiredFor(IMAGES, (o) => {
      const n = withNbd({ devices: [...devices(5), foreign] })(o);
      return { ...n, blockDevices: [...n.blockDevices, disk('nbd5', '43:160'), disk('nbd5p1', '43:161', 'nbd5'), disk('nbd5p2', '43:162', 'nbd5')] };
    });
    expect(r.objects).toEqual(['nbd:top /dev/nbd5 p2', 'nbd:data /dev/nbd0']);
    const plan = makePlan(r.manifest, r.obs, { mode: 'apply' }).plan!;
    expect(plan.unchanged.map((a) => [a.address, a.reason])).toEqual([['nbd:top', 'not-managed']]);
    expect(plan.actions.map((a) => a.address)).not.toContain('nbd:top');
    expect(plan.actions.flatMap((a) => a.steps.map((st) => argvText(st.argv))).find((x) => x.startsWith('mount') && x.includes('/mnt/top'))).toMatch(/^mount -t ext4 -o ro,noload,nosuid,nodev,noexec \/dev\/nbd5p2 /);
    // destroy never touches it: it is not in the journal
    expect(makePlan(r.manifest, r.obs, { mode: 'destroy' }).plan!.actions).toEqual([]);
  });

  it('a loadable module is loaded first (with max_part said out loud), every device free', async () => {
    const r = await desiredFor(IMAGES, withNbd({ module: 'loadable', devices: [] }));
    expect(r.objects).toEqual(['nbd:top /dev/nbd0 p2', 'nbd:data /dev/nbd1']);
    const steps = makePlan(r.manifest, r.obs, { mode: 'apply' }).plan!.actions.flatMap((a) => a.steps.map((s) => argvText(s.argv)));
    expect(steps.filter((s) => s.startsWith('modprobe'))).toEqual(['modprobe nbd max_part=16', 'modprobe nbd max_part=16']);
  });

  it('max_part=0: kpartx maps of the nbd device where device-mapper exists, else offset loops of it', async () => {
    const dm = (o: ObservedState): ObservedState => ({ ...o, kernel: { ...o.kernel, deviceMapper: true, kpartx: true } });
    expect((await desiredFor(IMAGES, (o) => dm(withNbd({ maxPart: 0 })(o)))).objects).toEqual(['nbd:top /dev/nbd0', 'nbd:data /dev/nbd1', 'partmap:top']);
    expect((await desiredFor(IMAGES, withNbd({ maxPart: 0 }))).objects).toEqual(['nbd:top /dev/nbd0', 'nbd:data /dev/nbd1', 'attach:top/part2 offset-loop']);
  });

  it('qemu_backend insists, and says what is missing', async () => {
    expect((await desiredFor('  top: { file: top.qcow2, format: qcow2, qemu_backend: storage-daemon }\n  data: { file: data.vdi, format: vdi }', withNbd({}))).objects)
      .toEqual(['export:top', 'nbd:data /dev/nbd0', 'attach:top partscan-loop']);
    expect((await desiredFor('  top: { file: top.qcow2, format: qcow2, qemu_backend: nbd }\n  data: { file: data.vdi, format: vdi }')).errors)
      .toEqual(['no-nbd: image top asks for qemu_backend: nbd, but the kernel has no nbd module, and modprobe finds none']);
    expect((await desiredFor(IMAGES, withNbd({ qemuNbd: false }))).objects).toEqual(['export:top', 'export:data', 'attach:top partscan-loop', 'attach:data whole-loop']);
  });

  it('neither backend: one error per image, naming both and what to install', async () => {
    const none = (o: ObservedState): ObservedState => ({ ...o, qemuBackends: { storageDaemon: false, fuse: true } });
    expect((await desiredFor(IMAGES, none)).errors).toEqual([
      'no-qemu-backend: image top is qcow2, which imgplan opens with QEMU, but neither backend works here: the kernel has no nbd module, and modprobe finds none, and qemu-storage-daemon is not installed',
      'no-qemu-backend: image data is vdi, which imgplan opens with QEMU, but neither backend works here: the kernel has no nbd module, and modprobe finds none, and qemu-storage-daemon is not installed',
    ]);
  });

  it('every nbd device connected: an error with what to do', async () => {
    expect((await desiredFor(IMAGES, withNbd({ devices: devices(2, [0, 1]) }))).errors).toEqual([
      'no-free-nbd: image top needs an nbd device, but every /dev/nbdN is connected (2 devices)',
      'no-free-nbd: image data needs an nbd device, but every /dev/nbdN is connected (2 devices)',
    ]);
  });

  // plan reads a QEMU image in user space (qemu-img into a probe view): neither FUSE nor a storage daemon is needed to look inside
  it('no FUSE and no storage daemon: plan still reads the image; with nbd it picks nbd, without it says what apply needs', async () => {
    const { manifest: base } = manifestFor('qemu/fresh');
    const rec = recording('qemu/fresh');
    const bare = { ...rec, paths: { ...rec.paths, '/dev/fuse': { kind: 'missing' as const }, '/usr/bin/qemu-storage-daemon': { kind: 'missing' as const },
      '/usr/local/bin/qemu-storage-daemon': { kind: 'missing' as const } } };
    const obs = await collectState(new FixtureRunner(bare, 'no fuse'), base, { stateDir: String(rec.meta.state_dir), probeDir: String(rec.meta.probe_dir) });
    expect(obs.qemuBackends).toEqual({ storageDaemon: false, fuse: false });
    expect(obs.images.top!.qemu!.readVia).toBe('probe-view');
    expect(obs.images.top!.table!.partitions.map((p) => p.number)).toEqual([1, 2]);
    expect(obs.images.data!.contents.whole!.TYPE).toBe('ext4');
    const text = `version: 1\nimages:\n${IMAGES}\nmounts:\n  - { what: top/part2, where: /mnt/top }\n  - { what: data, where: /mnt/data }\n`;
    const m = loadManifest({ path: base.path, text, allowWrites: false }).manifest!;
    const nbd = buildDesired(m, withNbd({})(obs));
    expect(nbd.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(nbd.desired.filter((d) => d.kind === 'nbd').map((d) => d.address)).toEqual(['nbd:top', 'nbd:data']);
    const neither = buildDesired(m, obs).diagnostics.filter((d) => d.severity === 'error').map((d) => d.code);
    expect(neither).toEqual(['no-qemu-backend', 'no-qemu-backend']);
    expect(buildDesired(m, obs).diagnostics.find((d) => d.code === 'no-qemu-backend')!.message).toContain('the kernel has no nbd module, and modprobe finds none, and qemu-storage-daemon is not installed');
  });
});
