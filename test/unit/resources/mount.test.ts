import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import type { ObservedState } from '../../../src/probe/observed.js';
import { manifestFor, observed } from '../golden-support.js';

const G = '/tmp/imgplan-golden';

/** rescue/half: the guest root is mounted at mnt/web01, its /boot is not (unmounted behind imgplan's back). */
async function withGuestBoot(info: ObservedState['paths'][string]) {
  const { manifest } = manifestFor('rescue/half');
  const obs = await observed('rescue/half', manifest);
  return makePlan(manifest, { ...obs, paths: { ...obs.paths, [`${G}/mnt/web01/boot`]: info } }, { mode: 'apply' });
}

describe('a nested mountpoint is a path in the guest\'s tree', () => {
  it('is planned when it is a real directory there, and checked again right before the mount', async () => {
    const r = await withGuestBoot({ kind: 'directory', empty: true });
    const boot = r.plan!.actions.find((a) => a.address === `mount:${G}/mnt/web01/boot` && a.action === 'create')!;
    expect(boot.steps[0]!.noSymlinks).toEqual([`${G}/mnt/web01/boot`]);
  });

  it.each([['an absolute', '/etc'], ['a relative', '../../..']])('%s symlink in the mounted guest is refused at plan time, naming where it leads', async (_what, to) => {
    const r = await withGuestBoot({ kind: 'directory', empty: false, link: to });
    expect(r.plan).toBeUndefined();
    const d = r.diagnostics.find((x) => x.code === 'mountpoint-symlink')!;
    expect(d.message).toBe(`mountpoint ${G}/mnt/web01/boot leads through ${G}/mnt/web01/boot, a symlink (to ${to}) in the guest's filesystem at ${G}/mnt/web01`);
    expect(d.at?.line).toBeGreaterThan(0);
  });

  it('a top-level mountpoint that is a symlink on the host is refused too', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const obs = await observed('rescue/fresh', manifest);
    const r = makePlan(manifest, { ...obs, paths: { ...obs.paths, [`${G}/mnt/data`]: { kind: 'directory', empty: true, link: '/var/lib' } } }, { mode: 'apply' });
    expect(r.diagnostics.find((x) => x.code === 'mountpoint-symlink')?.message).toBe(`mountpoint ${G}/mnt/data is a symlink (to /var/lib)`);
  });
});
