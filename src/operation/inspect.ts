import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  guestReports, guestView, guestVolumes, MAX_GUEST_VOLUMES, subvolumeReports, windowsUnread,
  type GuestPlan, type GuestReadRequest, type GuestView, type GuestVolume, type VolumeRead,
} from '../core/guest.js';
import { imageReport, type ImageReport, type InspectReport } from '../core/inspect.js';
import { EXIT, ImgplanError } from '../errors.js';
import { QEMU_FORMATS, type ImageFormat, type ImageSpec, type Manifest } from '../manifest/types.js';
import { collectState } from '../probe/collect.js';
import type { KernelFacts, ObservedState } from '../probe/observed.js';
import type { Input, OperationContext } from './context.js';
import { load } from './manifest.js';

export const INSPECT_FORMATS: readonly ImageFormat[] = ['raw', ...QEMU_FORMATS];

export interface InspectOptions {
  /** the format every image is opened with: never QEMU's guess (a raw guest could write a qcow2 header naming a host file) */
  readonly format: string;
}

/** How long the guest reader may take for all volumes of one run. */
const READER_TIMEOUT_MS = 180_000;

/**
 * Each image's guests, from the files of its Linux volumes and the registry of its Windows ones
 * (NTFS): read by one short-lived process (`imgplan __read-guest`, src/cli/read-guest.ts) in its
 * own mount and PID namespaces, so that nothing it mounts or serves (a QEMU image's raw view) is
 * seen by the host or outlives it.
 */
async function withGuests(
  ctx: OperationContext, images: readonly ImageSpec[], observed: ObservedState, reports: ImageReport[],
): Promise<ImageReport[]> {
  // the reader's tmpfs goes over this folder in its namespace only; on the host it stays an empty folder of imgplan's
  const base = `${ctx.stateDir}/inspect`;
  const views: GuestView[] = [];
  const plans = images.map((img, i): GuestPlan => {
    const o = observed.images[img.name];
    if (o?.stat.kind !== 'file') return { volumes: [], unread: [] };
    if (img.format === 'raw') return guestVolumes(img, o, reports[i]!, observed.kernel);
    // a QEMU image: read through a raw view the reader serves itself, when QEMU opened it here and no VM holds it
    if (!o.qemu || o.qemu.problem || o.qemu.inUse) return { volumes: [], unread: [] };
    const view = guestView(img, `${base}/view-${i}`);
    const plan = guestVolumes(img, o, reports[i]!, observed.kernel, view.path);
    if (plan.volumes.length) views.push(view);
    return plan;
  });
  const volumes: GuestVolume[] = plans.flatMap((p) => p.volumes);
  let reads: VolumeRead[] = [];
  let why: string | undefined;
  if (volumes.length > MAX_GUEST_VOLUMES) {
    why = `inspect reads the files of at most ${MAX_GUEST_VOLUMES} volumes in one run, and these images have ${volumes.length}`;
  } else if (volumes.length && process.getuid?.() !== 0) {
    why = 'only root reads the guest\'s files (inspect mounts its filesystems, in a private namespace)';
  } else if (volumes.length) {
    ({ reads, why } = await readGuests(ctx, { base, views, volumes }));
  }
  return reports.map((r, i) => {
    const img = images[i]!;
    const failed = reads.filter((x) => x.key.startsWith(`${img.name}:`) && x.error)
      .map((x) => ({ volume: x.key.slice(img.name.length + 1), why: `it does not mount read-only: ${x.error!}` }));
    const notRead = why ? plans[i]!.volumes.map((v) => ({ volume: v.key.slice(img.name.length + 1), why: why! })) : [];
    const unread = [...plans[i]!.unread, ...failed, ...notRead, ...windowsUnread(img, reads)];
    const guests = guestReports(img, r, reads);
    const btrfs = subvolumeReports(img, reads);
    return { ...r, ...(guests.length ? { guests } : {}), ...(btrfs.length ? { btrfs } : {}), ...(unread.length ? { unread } : {}) };
  });
}

async function readGuests(ctx: OperationContext, request: GuestReadRequest): Promise<{ reads: VolumeRead[]; why?: string }> {
  await mkdir(request.base, { recursive: true, mode: 0o700 });
  if (!ctx.program) return { reads: [], why: 'imgplan cannot find its own program to start its guest reader' };
  const r = await ctx.runner.run({
    argv: ['unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--',
      ...ctx.program, '__read-guest', JSON.stringify(request)],
    effect: 'changes', timeoutMs: READER_TIMEOUT_MS, lifeline: true,
  });
  if (r.failure) return { reads: [], why: `the guest reader failed (${r.failure}): ${r.stderr.trim().slice(0, 500)}` };
  try {
    return { reads: JSON.parse(r.stdout) as VolumeRead[] };
  } catch {
    return { reads: [], why: 'the guest reader gave no answer imgplan understands' };
  }
}

/**
 * `imgplan inspect IMAGE…`: what each image holds (format, size, backing chain, partition table,
 * filesystems, LVM, Windows state), read the way plan reads it: partition tables and signatures
 * from the image file (or a short-lived read-only QEMU view), nothing attached, nothing mounted,
 * nothing written. Every partition and LV is read, not only those a manifest names.
 */
export async function inspect(ctx: OperationContext, files: readonly string[], options: InspectOptions): Promise<InspectReport> {
  return (await inspectImages(ctx, files, options)).report;
}

/** inspect, with what it learnt of this host's kernel (which filesystems it mounts: init needs it). */
export async function inspectImages(
  ctx: OperationContext, files: readonly string[], options: InspectOptions,
): Promise<{ report: InspectReport; kernel: KernelFacts }> {
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
  const reports = images.map((img) => imageReport(img, observed.images[img.name]!));
  return { report: { format_version: '1.2', images: await withGuests(ctx, images, observed, reports) }, kernel: observed.kernel };
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
  const reports = manifest.images.map((img) => ({ name: img.name, ...imageReport(img, observed.images[img.name]!) }));
  return { format_version: '1.2', images: await withGuests(ctx, manifest.images, observed, reports) };
}
