/** The device name without "/dev/": "loop0" for "/dev/loop0". */
export const deviceName = (device: string) => device.replace(/^\/dev\//, '');

/**
 * What a ref names, once its device is known: the device itself ("device"), its kernel
 * partition ("p3" → /dev/loop0p3), or kpartx's map of that partition ("mapper:p3" →
 * /dev/mapper/loop0p3), or its name ("name" → loop0, for its /sys/block folder). The planner and the
 * executor both go through here.
 */
export function resolveRef(device: string, attr: string): string {
  if (attr === 'device') return device;
  if (attr === 'name') return deviceName(device);
  if (attr.startsWith('mapper:')) return `/dev/mapper/${deviceName(device)}${attr.slice('mapper:'.length)}`;
  return `${device}${attr}`;
}
