import { posix } from 'node:path';
import { needsQemu, type ImageSpec, type Manifest } from '../manifest/types.js';
import { exportAddress, nbdAddress } from '../qemu/backend.js';
import { attachAddress, dirAddress, mountAddress, partmapAddress } from './desired.js';
import { pathContains } from './graph.js';
import { vgAddress } from './lvm.js';

/**
 * The addresses a plan of this manifest can name, from the manifest alone (no probe): for shell
 * completion of --target. Mounts and VGs are exact; where the attach backend depends on the
 * kernel or on QEMU (`partitions: auto`, `qemu_backend: auto`) every address it may take is
 * given; `missing(path)` tells which mountpoint directories imgplan would create. Pure.
 */
export function manifestAddresses(manifest: Manifest, missing: (path: string) => boolean = () => false): string[] {
  const out = new Set<string>();
  const images = new Map(manifest.images.map((i) => [i.name, i]));
  const qemu = (img: ImageSpec) => {
    if (!needsQemu(img)) return;
    if (img.qemuBackend !== 'storage-daemon') out.add(nbdAddress(img.name));
    if (img.qemuBackend !== 'nbd') out.add(exportAddress(img.name));
  };
  for (const m of manifest.mounts) {
    const img = images.get(m.source.image);
    if (!img) continue;
    qemu(img);
    const src = m.source;
    if (src.kind === 'whole') out.add(attachAddress(img.name));
    else if (src.kind === 'lv') out.add(vgAddress(img.name, src.vg));
    else {
      const p = img.partitions;
      if (p === 'partscan' || p === 'kpartx' || p === 'auto') out.add(attachAddress(img.name));
      if (p === 'kpartx' || p === 'auto') out.add(partmapAddress(img.name));
      if (p === 'offset-loops' || p === 'auto') out.add(attachAddress(img.name, src.number));
    }
    out.add(mountAddress(m.where));
    if (manifest.mounts.some((o) => o !== m && pathContains(o.where, m.where))) continue;
    for (let d = m.where; d !== '/' && missing(d); d = posix.dirname(d)) out.add(dirAddress(d));
  }
  for (const img of manifest.images) {
    if (img.volumeGroups.length) qemu(img);
    for (const vg of img.volumeGroups) out.add(vgAddress(img.name, vg));
  }
  return [...out].sort();
}
