import { resolve } from 'node:path';
import { imageReport, type InspectReport } from '../core/inspect.js';
import { EXIT, ImgplanError } from '../errors.js';
import { QEMU_FORMATS, type ImageFormat, type ImageSpec, type Manifest } from '../manifest/types.js';
import { collectState } from '../probe/collect.js';
import type { Input, OperationContext } from './context.js';
import { load } from './manifest.js';

export const INSPECT_FORMATS: readonly ImageFormat[] = ['raw', ...QEMU_FORMATS];

export interface InspectOptions {
  /** the format every image is opened with: never QEMU's guess (a raw guest could write a qcow2 header naming a host file) */
  readonly format: string;
}

/**
 * `imgplan inspect IMAGE…`: what each image holds (format, size, backing chain, partition table,
 * filesystems, LVM, Windows state), read the way plan reads it: partition tables and signatures
 * from the image file (or a short-lived read-only QEMU view), nothing attached, nothing mounted,
 * nothing written. Every partition and LV is read, not only those a manifest names.
 */
export async function inspect(ctx: OperationContext, files: readonly string[], options: InspectOptions): Promise<InspectReport> {
  if (!INSPECT_FORMATS.includes(options.format as ImageFormat)) {
    throw new ImgplanError(`--format must be one of ${INSPECT_FORMATS.join(', ')}, not "${options.format}"`, EXIT.invalid);
  }
  if (!files.length) throw new ImgplanError('inspect needs at least one image file', EXIT.invalid, 'imgplan inspect IMAGE…');
  const at = { file: '(command line)', line: 1, col: 1 };
  const images: ImageSpec[] = files.map((f, i) => ({
    name: `image${i + 1}`, file: resolve(f), format: options.format as ImageFormat, access: 'read-only', partitions: 'auto',
    volumeGroups: [], volumeGroupsAt: [], vgNameClash: 'refuse', allowLive: false, allowBacking: [], qemuBackend: 'auto',
    at, formatAt: at, fileAt: at, accessAt: at, partitionsAt: at,
  }));
  // a manifest of the images and no mounts: its journal (none) is looked up under a name no manifest file has
  const manifest: Manifest = { path: `${ctx.stateDir}/inspect`, sha256: '', images, mounts: [] };
  const observed = await collectState(ctx.runner, manifest, { stateDir: ctx.stateDir, readAll: true });
  return { format_version: '1.0', images: images.map((img) => imageReport(img, observed.images[img.name]!)) };
}

/**
 * `imgplan inspect MANIFEST`: the manifest's images, each with its own format, read as above
 * (every partition and LV, not only the mounted ones); undefined when the manifest does not load
 * (its diagnostics were emitted). It may be applied: what imgplan serves of a QEMU image is read there.
 */
export async function inspectManifest(ctx: OperationContext, input: Input): Promise<InspectReport | undefined> {
  // inspect writes nothing, so a manifest with read-write images loads as it is
  const loaded = load(ctx.emit, input, true);
  if (!loaded) return undefined;
  const { manifest } = loaded;
  const observed = await collectState(ctx.runner, manifest, { stateDir: ctx.stateDir, readAll: true });
  return { format_version: '1.0', images: manifest.images.map((img) => ({ name: img.name, ...imageReport(img, observed.images[img.name]!) })) };
}
