import type { Manifest } from '../manifest/types.js';
import type { ObservedState } from '../probe/observed.js';

/**
 * The live facts a plan relies on, one line each, sorted: the manifest's image files, the loop
 * devices and dm maps over them, what is mounted at (or above) its mountpoints, those paths,
 * the journal, and the kernel's capabilities. A saved plan keeps them; apply compares them
 * with a fresh probe. Unrelated host changes (another mount elsewhere) are not facts.
 */
export function planFacts(manifest: Manifest, obs: ObservedState): string[] {
  const lines: string[] = [];
  const k = obs.kernel;
  lines.push(`kernel ${k.release} partscan=${k.partscan.labels.join('+') || 'none'} device-mapper=${k.deviceMapper} kpartx=${k.kpartx} udev=${k.udev}`);
  // available or not: a module that a mount has loaded since the plan does not make it stale
  const drivers = Object.entries(k.filesystems ?? {}).map(([t, d]) => `${t}=${d === 'absent' ? 'no' : 'yes'}`);
  if (k.ntfs3g !== undefined) drivers.push(`ntfs-3g=${k.ntfs3g ? 'yes' : 'no'}`);
  if (drivers.length) lines.push(`drivers ${drivers.join(' ')}`);
  const images = new Map<string, string>();
  for (const img of manifest.images) {
    const st = obs.images[img.name]?.stat;
    if (!st || st.kind === 'missing') {
      lines.push(`image ${img.name} ${img.file} missing`);
      continue;
    }
    images.set(`${st.dev}/${st.ino}`, img.name);
    lines.push(`image ${img.name} ${img.file} dev=${st.dev} ino=${st.ino} size=${st.size}${st.mtimeMs !== undefined ? ` mtime=${st.mtimeMs}` : ''}`);
  }
  // QEMU images: what qemu-img found, imgplan's exports, the nbd driver and every nbd device
  const views = new Map<string, string>();
  for (const img of manifest.images) {
    const q = obs.images[img.name]?.qemu;
    if (q) lines.push(`qemu ${img.name} format=${q.probe?.format ?? '?'} chain=${(q.chain ?? []).map((c) => c.filename).join(',') || '?'} in-use=${q.inUse || q.problem?.kind === 'in-use' ? 'yes' : 'no'}`);
    const x = obs.exports?.[img.name];
    if (x) {
      lines.push(`export ${img.name} serving=${x.serving}${x.serving ? ` pid=${x.pid}` : ''}`);
      views.set(x.view, img.name);
    }
  }
  if (obs.nbd) {
    lines.push(`nbd-module ${obs.nbd.module} max_part=${obs.nbd.maxPart ?? '?'} qemu-nbd=${obs.nbd.qemuNbd}`);
    for (const d of obs.nbd.devices) {
      lines.push(`nbd ${d.device} ${!d.connected ? 'free' : d.pid === undefined ? 'half-disconnected' : `pid=${d.pid} ${(d.cmdline ?? '').split('\0').join(' ').trim()}`}`);
      views.set(d.device, d.device);
    }
  }
  const loops = obs.loops.filter((l) => images.has(`${l.backDev}/${l.backIno}`) || (l.backFile !== undefined && views.has(l.backFile)));
  for (const l of loops) {
    const of = images.get(`${l.backDev}/${l.backIno}`) ?? views.get(l.backFile!)!;
    lines.push(`loop ${l.device} image=${of} offset=${l.offset} sizelimit=${l.sizelimit} ro=${l.ro} partscan=${l.partscan}`);
  }
  const loopMajMin = new Map(loops.filter((l) => l.majMin).map((l) => [l.majMin!, l.device]));
  // their kernel partitions, and dm maps over them (kpartx), hold PVs too
  // nbd devices are disks of their own: with their kernel partitions, they hold PVs too
  for (const d of obs.nbd?.devices ?? []) {
    const b = obs.blockDevices.find((x) => `/dev/${x.name}` === d.device);
    if (d.connected && b?.majMin) loopMajMin.set(b.majMin, d.device);
  }
  for (const b of obs.blockDevices) if (b.majMin && b.pkname && [...loopMajMin.values()].includes(`/dev/${b.pkname}`)) loopMajMin.set(b.majMin, `/dev/${b.name}`);
  for (let grew = true; grew;) {
    grew = false;
    for (const m of obs.dmMaps) {
      if (m.majMin && !loopMajMin.has(m.majMin) && m.devices.some((d) => loopMajMin.has(d))) {
        loopMajMin.set(m.majMin, `/dev/mapper/${m.name}`);
        grew = true;
      }
    }
  }
  for (const m of obs.dmMaps) {
    const on = m.devices.map((d) => loopMajMin.get(d)).filter(Boolean);
    if (on.length) lines.push(`dm ${m.name} on ${on.join(',')} ro=${m.readOnly}`);
  }
  for (const v of obs.hostVgs ?? []) lines.push(`host-vg ${v.name} ${v.uuid}`);
  const wheres = manifest.mounts.map((m) => m.where);
  const watched = (target: string) => wheres.some((w) => w === target || w.startsWith(`${target}/`) || target.startsWith(`${w}/`));
  for (const m of obs.mounts) {
    if (watched(m.target) && m.target !== '/') lines.push(`mount ${m.target} from ${m.source} (${m.fstype}) ${m.options.filter((o) => ['ro', 'rw', 'nosuid', 'nodev', 'noexec'].includes(o)).join(',')}`);
  }
  for (const [p, info] of Object.entries(obs.paths)) {
    lines.push(`path ${p} ${info.kind}${info.kind === 'directory' ? (info.empty ? ' empty' : ' not-empty') : ''}`);
  }
  for (const e of obs.journal?.entries ?? []) lines.push(`journal ${e.address}`);
  return lines.sort();
}
