import { describe, expect, it } from 'vitest';
import { decodeSavedPlan, encodeSavedPlan, looksLikeSavedPlan, SavedPlanError } from '../../../src/plan/codec.js';
import { planFacts } from '../../../src/core/facts.js';
import { makePlan } from '../../../src/core/make-plan.js';
import { compareFacts } from '../../../src/plan/stale.js';
import { canonicalJson, comparePlans } from '../../../src/plan/compare.js';
import { targetPlan, UnknownTargetError } from '../../../src/plan/target.js';
import { renderDot } from '../../../src/render/plan-dot.js';
import { manifestFor, observed } from '../golden-support.js';

const G = '/tmp/imgplan-golden/mnt';

async function factsOf(state: string) {
  const { manifest } = manifestFor(state);
  return planFacts(manifest, await observed(state, manifest));
}

describe('stale saved plans say what changed (recorded states)', () => {
  it('the same state is not stale', async () => {
    expect(compareFacts(await factsOf('rescue/applied'), await factsOf('rescue/applied'))).toEqual({ stale: false, changes: [], diff: '' });
  });

  it('a loop detached and a mount gone behind imgplan\'s back', async () => {
    const s = compareFacts(await factsOf('rescue/applied'), await factsOf('rescue/half'));
    expect(s.stale).toBe(true);
    expect(s.changes).toEqual([`loop1 detached since the plan was made`, `${G}/web01/boot unmounted since the plan was made (was from /dev/loop1)`]);
    expect(s.diff).toContain('-loop /dev/loop1 image=web01 offset=1048576 sizelimit=16777216 ro=true partscan=false');
  });

  it('an image added to the manifest or taken out of it since the plan (the manifest edit is reported too)', async () => {
    const { manifest } = manifestFor('rescue/applied');
    const obs = await observed('rescue/applied', manifest);
    const full = planFacts(manifest, obs);
    const fewer = planFacts({ ...manifest, images: manifest.images.filter((i) => i.name !== 'data') }, obs);
    expect(compareFacts(fewer, full).changes).toContain('image data was not in the manifest when the plan was made');
    expect(compareFacts(full, fewer).changes).toContain('image data is no longer in the manifest');
  });

  it('QEMU images: the free nbd device the plan chose taken, the module loaded since, an image now in use', async () => {
    const { manifest } = manifestFor('nbd/fresh');
    const obs = await observed('nbd/fresh', manifest);
    const then = planFacts(manifest, obs);
    const now = planFacts(manifest, {
      ...obs,
      nbd: { module: 'loaded', maxPart: 31, qemuNbd: true, devices: [{ device: '/dev/nbd0', connected: true, pid: 77, cmdline: 'qemu-nbd\0-c\0/dev/nbd0\0/vm/other.qcow2\0' }, { device: '/dev/nbd1', connected: false }] },
      images: { ...obs.images, top: { ...obs.images.top!, qemu: { ...obs.images.top!.qemu!, inUse: 'Failed to get shared "write" lock' } } },
    });
    const s = compareFacts(then, now);
    expect(s.changes).toEqual([
      '/dev/nbd0 is now pid=77 qemu-nbd -c /dev/nbd0 /vm/other.qcow2 (was not there)',
      '/dev/nbd1 is now free (was not there)',
      'the nbd driver changed: nbd-module loaded max_part=31 qemu-nbd=true (was nbd-module loadable max_part=? qemu-nbd=true)',
      'what qemu-img says of image top changed: format=qcow2 chain=/tmp/imgplan-golden-nbd/top.qcow2,/tmp/imgplan-golden-nbd/base.qcow2 in-use=yes (was format=qcow2 chain=/tmp/imgplan-golden-nbd/top.qcow2,/tmp/imgplan-golden-nbd/base.qcow2 in-use=no)',
    ]);
  });

  it('a mount added on a manifest mountpoint', async () => {
    const s = compareFacts(await factsOf('rescue/fresh'), await factsOf('rescue/foreign'));
    expect(s.changes).toContain(`${G}/data now mounted from scratch`);
  });

  it('everything attached since a fresh plan', async () => {
    const s = compareFacts(await factsOf('rescue/fresh'), await factsOf('rescue/applied'));
    expect(s.changes).toEqual(expect.arrayContaining(['loop0 attached since the plan was made (image=data offset=0 sizelimit=0 ro=true partscan=false)', `${G}/web01 now mounted from /dev/loop2`]));
  });

  it('a host VG that appeared since the plan (a name clash the plan did not check), and drivers', () => {
    const s = compareFacts(['drivers ext4=yes ntfs3=no'], ['drivers ext4=yes ntfs3=yes', 'host-vg VolGroup Ab12Cd-0000-0000-0000-0000-0000-000000']);
    expect(s.changes).toEqual([
      'filesystem drivers changed: drivers ext4=yes ntfs3=yes (was drivers ext4=yes ntfs3=no)',
      'the host now has a volume group VolGroup (uuid Ab12Cd-0000-0000-0000-0000-0000-000000), which the plan did not check for a name clash',
    ]);
  });

  it('an image file replaced', () => {
    const then = ['image web01 /srv/web01.img dev=254:0 ino=12 size=100 mtime=1'];
    const now = ['image web01 /srv/web01.img dev=254:0 ino=13 size=100 mtime=2'];
    expect(compareFacts(then, now).changes).toEqual(["image web01's file was replaced or modified (dev=254:0 ino=12 size=100 mtime=1 → dev=254:0 ino=13 size=100 mtime=2)"]);
  });
});

describe('saved plan file', () => {
  it('round-trips, and refuses damaged or foreign files', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const obs = await observed('rescue/fresh', manifest);
    const plan = makePlan(manifest, obs, { mode: 'apply' }).plan!;
    const text = encodeSavedPlan(plan, planFacts(manifest, obs), '0.1.0');
    expect(looksLikeSavedPlan(text)).toBe(true);
    expect(looksLikeSavedPlan('version: 1\nimages: {}\n')).toBe(false);
    expect(decodeSavedPlan(text, 'p.json').plan).toEqual(plan);
    expect(() => decodeSavedPlan(text.replace('"facts": [', '"facts": [\n  "x",'), 'p.json')).toThrow(new SavedPlanError('p.json is damaged (its facts do not match their digest)'));
    expect(() => decodeSavedPlan(text.replace('"format_version": "2.0"', '"format_version": "9.0"'), 'p.json')).toThrow(/plan format 9.0/);
    // plans saved before the typed details (format 1.0) are refused, not misread
    expect(() => decodeSavedPlan(text.replace('"format_version": "2.0"', '"format_version": "1.0"'), 'p.json')).toThrow(/plan format 1.0, which this imgplan cannot read/);
    expect(() => decodeSavedPlan('{"kind":"other"}', 'p.json')).toThrow(new SavedPlanError('p.json is not a saved plan'));
  });
});

describe('--target', () => {
  it('apply: the target and what it depends on', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const plan = targetPlan(makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!, `mount:${G}/web01`);
    expect(plan.actions.map((a) => a.address)).toEqual(['attach:web01/part3', `dir:${G}`, `dir:${G}/web01`, `mount:${G}/web01`]);
  });
  it('destroy: the target and what depends on it, dependents first', async () => {
    const { manifest } = manifestFor('rescue/applied');
    const plan = targetPlan(makePlan(manifest, await observed('rescue/applied', manifest), { mode: 'destroy' }).plan!, 'attach:web01/part3');
    expect(plan.actions.map((a) => a.address)).toEqual([`mount:${G}/web01/boot`, `mount:${G}/web01`, 'attach:web01/part3']);
  });
  it('an unknown address lists the known ones', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const plan = makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!;
    expect(() => targetPlan(plan, 'mount:/nope')).toThrow(UnknownTargetError);
  });
});

describe('graph', () => {
  it('DOT of the fresh rescue plan (golden)', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const plan = makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!;
    await expect(renderDot(plan)).toMatchFileSnapshot('../../golden/rescue/fresh/graph.dot');
  });
});

describe('a saved plan, read back, is the plan made again on the same state (no refusal for nothing)', () => {
  const states = ['kpartx/applied', 'kpartx/fresh', 'nbd/applied', 'nbd/fresh', 'partscan/applied', 'partscan/fresh', 'qemu/applied', 'qemu/fresh',
    'rescue/applied', 'rescue/foreign', 'rescue/fresh', 'rescue/half', 'windows/applied', 'windows/fresh'];
  it.each(states.flatMap((s) => [[s, 'apply'], [s, 'destroy']] as const))('%s, %s', async (state, mode) => {
    const { manifest } = manifestFor(state);
    const obs = await observed(state, manifest);
    const made = makePlan(manifest, obs, { mode }).plan;
    // a foreign mount on a mountpoint is a refusal: no plan to save
    if (!made) return void expect([state, mode]).toEqual(['rescue/foreign', 'apply']);
    const saved = decodeSavedPlan(encodeSavedPlan(made, planFacts(manifest, obs), '0.1.0'), 'p');
    expect(comparePlans(saved.plan, makePlan(manifest, obs, { mode }).plan!)).toBeUndefined();
  });

  it('canonical JSON: key order and undefined members do not matter; everything else does', () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: undefined, z: 'q' }] })).toBe(canonicalJson({ a: [{ z: 'q', y: 2 }], b: 1 }));
    expect(canonicalJson({ a: ['x', 'y'] })).not.toBe(canonicalJson({ a: ['y', 'x'] }));
    expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: '1' }));
  });

  it('a saved plan edited into a shape imgplan never makes is told apart, not a crash', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const made = makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!;
    const broken = { ...made, actions: made.actions.map((a, i) => (i === 0 ? { ...a, steps: [{ argv: 42 }] } : a)) } as never;
    expect(comparePlans(broken, made)).toBe('the saved plan is not in the shape of a plan imgplan makes');
  });
});
