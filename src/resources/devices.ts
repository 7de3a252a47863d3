import { deviceName } from '../plan/refs.js';
import type { ObservedState } from '../probe/observed.js';

/** The devices an object provides as it is now, by ref attr: "device", "pN", "mapper:pN", "lv:NAME". */
export interface Live {
  readonly devices: Readonly<Record<string, { readonly path: string; readonly majMin?: string }>>;
  /** made by imgplan (journaled), or an admin's that the plan uses as it is */
  readonly managed: boolean;
}

/** `path` is the block device or one of its kernel partitions (loop0p1, nbd0p2). */
export const isDeviceOrPartition = (path: string, device: string) =>
  path === device || (path.startsWith(`${device}p`) && /^\d+$/.test(path.slice(device.length + 1)));

/** `path` is `dir` or lies under it. */
export const isUnder = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

/** The major:minor of a block device imgplan attached (a loop device, or an nbd device). */
export function majMinOf(obs: ObservedState, device: string): string | undefined {
  return obs.loops.find((l) => l.device === device)?.majMin ?? obs.blockDevices.find((b) => `/dev/${b.name}` === device)?.majMin;
}

/** kpartx's map of partition n of a loop device: named loopNpM, reading from that loop. */
export function mapperOf(obs: ObservedState, device: string, majMin: string, n: number) {
  return obs.dmMaps.find((m) => m.name === `${deviceName(device)}p${n}` && m.devices[0] === majMin);
}

/** What a block device provides: itself, its kernel partitions (pN) and kpartx's maps of them (mapper:pN). */
export function liveDevices(obs: ObservedState, device: string, majMin: string | undefined, managed: boolean): Live {
  const devices: Record<string, { path: string; majMin?: string }> = { device: { path: device, ...(majMin ? { majMin } : {}) } };
  const base = deviceName(device);
  for (const b of obs.blockDevices) {
    if (b.pkname === base && b.name.startsWith(base)) {
      const n = /p(\d+)$/.exec(b.name)?.[1];
      if (n) devices[`p${n}`] = { path: `/dev/${b.name}`, majMin: b.majMin };
    }
  }
  for (const m of obs.dmMaps) {
    const n = m.name.startsWith(`${base}p`) && majMin !== undefined && m.devices[0] === majMin ? /^p(\d+)$/.exec(m.name.slice(base.length))?.[1] : undefined;
    if (n) devices[`mapper:p${n}`] = { path: `/dev/mapper/${m.name}`, majMin: m.majMin };
  }
  return { devices, managed };
}
