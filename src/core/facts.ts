import type { Manifest } from '../manifest/types.js';
import type { ObservedState } from '../probe/observed.js';
import { KIND_LIST } from '../resources/registry.js';

/** The block devices over the manifest's images (loops, nbd devices, their partitions), by major:minor. */
function imageDevices(manifest: Manifest, obs: ObservedState): Map<string, string> {
  const images = new Set<string>();
  const views = new Set<string>();
  for (const img of manifest.images) {
    const st = obs.images[img.name]?.stat;
    if (st && st.kind !== 'missing') images.add(`${st.dev}/${st.ino}`);
    const x = obs.exports?.[img.name];
    if (x) views.add(x.view);
  }
  for (const d of obs.nbd?.devices ?? []) views.add(d.device);
  const devices = new Map<string, string>();
  for (const l of obs.loops) {
    if (l.majMin && (images.has(`${l.backDev}/${l.backIno}`) || (l.backFile !== undefined && views.has(l.backFile)))) devices.set(l.majMin, l.device);
  }
  // nbd devices are disks of their own: with their kernel partitions, they hold PVs too
  for (const d of obs.nbd?.devices ?? []) {
    const b = obs.blockDevices.find((x) => `/dev/${x.name}` === d.device);
    if (d.connected && b?.majMin) devices.set(b.majMin, d.device);
  }
  for (const b of obs.blockDevices) if (b.majMin && b.pkname && [...devices.values()].includes(`/dev/${b.pkname}`)) devices.set(b.majMin, `/dev/${b.name}`);
  return devices;
}

/** Device-mapper maps over the images' devices, however deep (kpartx maps, LVs on them). */
function dmFacts(manifest: Manifest, obs: ObservedState): string[] {
  const devices = imageDevices(manifest, obs);
  for (let grew = true; grew;) {
    grew = false;
    for (const m of obs.dmMaps) {
      if (m.majMin && !devices.has(m.majMin) && m.devices.some((d) => devices.has(d))) {
        devices.set(m.majMin, `/dev/mapper/${m.name}`);
        grew = true;
      }
    }
  }
  return obs.dmMaps.flatMap((m) => {
    const on = m.devices.map((d) => devices.get(d)).filter(Boolean);
    return on.length ? [`dm ${m.name} on ${on.join(',')} ro=${m.readOnly}`] : [];
  });
}

/**
 * The live facts a plan relies on, one line each, sorted: the kernel's capabilities, the
 * manifest's image files and what QEMU says of them, the journal (its entries and intents),
 * device-mapper maps over the images, and each kind's own (loops, exports, nbd devices, mounts
 * and paths). A saved plan keeps them; apply compares them with a fresh probe. Unrelated host
 * changes (another mount elsewhere) are not facts.
 */
export function planFacts(manifest: Manifest, obs: ObservedState): string[] {
  const lines: string[] = [];
  const k = obs.kernel;
  lines.push(`kernel ${k.release} partscan=${k.partscan.labels.join('+') || 'none'} device-mapper=${k.deviceMapper} kpartx=${k.kpartx} udev=${k.udev}`);
  // available or not: a module that a mount has loaded since the plan does not make it stale
  const drivers = Object.entries(k.filesystems ?? {}).map(([t, d]) => `${t}=${d === 'absent' ? 'no' : 'yes'}`);
  if (k.ntfs3g !== undefined) drivers.push(`ntfs-3g=${k.ntfs3g ? 'yes' : 'no'}`);
  if (drivers.length) lines.push(`drivers ${drivers.join(' ')}`);
  for (const img of manifest.images) {
    const o = obs.images[img.name];
    const st = o?.stat;
    lines.push(!st || st.kind === 'missing'
      ? `image ${img.name} ${img.file} missing`
      : `image ${img.name} ${img.file} dev=${st.dev} ino=${st.ino} size=${st.size}${st.mtimeMs !== undefined ? ` mtime=${st.mtimeMs}` : ''}`);
    const q = o?.qemu;
    if (q) lines.push(`qemu ${img.name} format=${q.probe?.format ?? '?'} chain=${(q.chain ?? []).map((c) => c.filename).join(',') || '?'}` +
      ` in-use=${q.inUse || q.problem?.kind === 'in-use' ? 'yes' : 'no'}`);
  }
  lines.push(...dmFacts(manifest, obs));
  for (const kind of KIND_LIST) lines.push(...(kind.facts?.(manifest, obs) ?? []));
  for (const e of obs.journal?.entries ?? []) lines.push(`journal ${e.address}`);
  for (const i of obs.journal?.intents ?? []) lines.push(`journal intent ${i.address}`);
  return lines.sort();
}
