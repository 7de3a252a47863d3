import { error, warning, type Diagnostic } from '../diagnostics.js';
import type { ExportPaths } from './paths.js';
import type { ImageSpec } from '../manifest/types.js';
import type { ExportObservation, NbdState, ObservedState } from '../probe/observed.js';
import type { QemuImageInfo } from './img-info.js';
import { liveNbdDevice, parseQemuNbdCmdline } from './nbd.js';
import { missingToolHint } from '../errors.js';

/** What both QEMU backends share: the image, its chain, and how it is opened. */
interface QemuOpen {
  readonly address: string;
  readonly image: ImageSpec;
  readonly chain: readonly QemuImageInfo[];
  /** access: overlay: a throw-away qcow2 overlay takes every write */
  readonly overlay: boolean;
  /** writes reach what QEMU opens (the overlay, or the image with access: read-write) */
  readonly writable: boolean;
  /** allow_live and the image is locked by another process: opened with shared locking */
  readonly forceShare: boolean;
  /** why this backend */
  readonly backend: BackendChoice;
  /** serving now, as wanted (imgplan's, or for nbd an admin's connection): what reads through it may stay */
  readonly live: boolean;
}

/** Why a QEMU image is opened with the backend it is. */
export type BackendChoice =
  /** qemu_backend: nbd or storage-daemon */
  | { readonly by: 'manifest' }
  | { readonly by: 'kernel-has-nbd' }
  /** imgplan's export of it is serving as wanted */
  | { readonly by: 'already-serving' }
  | { readonly by: 'no-nbd'; readonly missing: NbdMissing };

/** What stands in the way of nbd. */
export type NbdMissing = 'no-module' | 'no-qemu-nbd';

/** How QEMU opens an image: the overlay that takes the writes, writable, shared locking (allow_live). */
export interface QemuAccess {
  readonly overlay?: string;
  readonly writable: boolean;
  readonly forceShare: boolean;
}

/** One image of a backing chain, top first. */
export interface ChainLink {
  readonly file: string;
  readonly format: string;
  readonly virtualSize: number;
}

export const chainLinks = (chain: readonly QemuImageInfo[]): ChainLink[] =>
  chain.map((c) => ({ file: c.filename, format: c.format, virtualSize: c.virtualSize }));

/** imgplan's qemu-storage-daemon export of one image: the raw view its loop devices attach. */
export interface DesiredExport extends QemuOpen {
  readonly kind: 'export';
  readonly paths: ExportObservation;
}

/** imgplan's qemu-nbd connection of one image to a kernel nbd device. */
export interface DesiredNbd extends QemuOpen {
  readonly kind: 'nbd';
  readonly paths: ExportPaths;
  /** /dev/nbdN: the connection's device, or the free one chosen for it */
  readonly device: string;
  /** the nbd module is not loaded yet: apply loads it first */
  readonly loadModule: boolean;
  /** the kernel makes nbdNpM partition nodes (max_part > 0) */
  readonly maxPart: number;
  /** kernel partitions of the device that mounts and PVs use (waited for after connecting) */
  readonly partitions: readonly number[];
  /** an admin's connection of the image, used as it is and left alone by destroy */
  readonly foreign: boolean;
}

export const exportAddress = (image: string) => `export:${image}`;
export const nbdAddress = (image: string) => `nbd:${image}`;

/** What max_part imgplan loads the nbd module with: the kernel's own default since 4.11, said out loud. */
export const NBD_MAX_PART = 16;

/** A QEMU image as a raw disk the rest of the plan can use: a file (storage-daemon view) or a block device (nbd). */
export type QemuDisk =
  | { readonly kind: 'view'; readonly export: DesiredExport; readonly file: string; readonly size: number; readonly backDev: string; readonly backIno: number }
  | { readonly kind: 'nbd'; readonly nbd: DesiredNbd; readonly size: number };

/** The manifest's format is not what qemu-img's probe finds (a raw image included: it is never taken for more). */
export function formatMismatch(img: ImageSpec, found: string): Diagnostic {
  return error('format-mismatch', `images.${img.name}.format is ${img.format}, but qemu-img info finds a ${found} image in ${img.file}`, img.formatAt,
    img.format === 'raw'
      ? `if it is a ${found} image, set format: ${found}; a raw disk never gets its format from its own first bytes`
      : `the format is never guessed: set format: ${found} if that is what the image is`);
}

/** Checks what qemu-img found against the manifest (format, chain, locks): the chain, or undefined after an error. */
function checkImage(img: ImageSpec, obs: ObservedState, diags: Diagnostic[]): readonly QemuImageInfo[] | undefined {
  const q = obs.images[img.name]?.qemu;
  if (q?.probe && q.probe.format !== img.format) {
    diags.push(formatMismatch(img, q.probe.format));
    return undefined;
  }
  if (!q) return undefined; // the image file is missing: reported by the caller
  if (q.problem?.kind === 'in-use' || (q.inUse && !img.allowLive)) {
    const msg = q.problem?.kind === 'in-use' ? q.problem.message : q.inUse!;
    diags.push(error('image-in-use', `image ${img.name} (${img.file}) is in use by another process (QEMU: ${msg})`, img.fileAt,
      img.access === 'read-only'
        ? 'shut down the VM that uses it (virsh list --all), or read it while it runs: allow_live: true on the image (reads may be inconsistent)'
        : 'an image in use is never opened for writing (nor under an overlay): shut down the VM that uses it first'));
    return undefined;
  }
  if (q.problem?.kind === 'missing-file') {
    const backing = q.problem.file !== img.file;
    diags.push(error(backing ? 'backing-missing' : 'image-missing', backing
      ? `the backing file ${q.problem.file} of image ${img.name} does not exist (QEMU: ${q.problem.message})`
      : `image file ${img.file} cannot be opened (QEMU: ${q.problem.message})`, img.fileAt,
    backing ? `restore it; qemu-img info --backing-chain ${img.file} shows the chain the image expects` : undefined));
    return undefined;
  }
  if (q.problem?.kind === 'backing-not-file') {
    diags.push(error('backing-not-file', `the backing file ${q.problem.file} of image ${img.name} is ${q.problem.what} (${q.problem.message})`, img.fileAt,
      'imgplan opens only backing chains of regular files: check the chain with qemu-img info --backing-chain on a copy you trust; ' +
        `if you trust this backing file, name it in allow_backing on image ${img.name}`));
    return undefined;
  }
  if (q.problem) {
    diags.push(error('qemu-open', `QEMU cannot open image ${img.name}: ${q.problem.message}`, img.fileAt, `check it with: qemu-img info ${img.file}`));
    return undefined;
  }
  const chain = q.chain ?? [];
  if (chain.length === 0) return undefined;
  if (chain.some((c) => c.encrypted)) {
    diags.push(error('image-encrypted', `image ${img.name} is encrypted, which imgplan does not open`, img.fileAt, 'decrypt a copy with qemu-img convert'));
    return undefined;
  }
  for (const b of q.allowedBacking ?? []) {
    const message = `the backing file ${b.file} of image ${img.name} is ${b.what}; QEMU opens it read-only because allow_backing names it`;
    diags.push(warning('backing-allowed', message, img.allowBackingAt ?? img.fileAt));
  }
  for (const c of chain.slice(0, -1)) {
    if (c.backingFormat === undefined) {
      diags.push(warning('backing-format-guessed',
        `${c.filename} does not record its backing file's format, so QEMU guesses it for ${c.backingFilename}`, img.fileAt,
        `record it (changes the image header): qemu-img rebase -u -b ${c.backingFilename} -F FORMAT ${c.filename}`));
    }
  }
  if (q.inUse) {
    diags.push(warning('image-live',
      `image ${img.name} is in use by another process (QEMU: ${q.inUse}); opened read-only with shared locking because of allow_live: ` +
        `what it shows may be inconsistent while the VM writes`,
      img.allowLiveAt ?? img.fileAt));
  }
  return chain;
}

/** Why nbd cannot be used here, or undefined when it can. */
function nbdMissing(nbd: NbdState | undefined): { code: NbdMissing; what: string; hint: string } | undefined {
  if (!nbd || nbd.module === 'absent') {
    return {
      code: 'no-module', what: 'the kernel has no nbd module, and modprobe finds none',
      hint: 'use a kernel with CONFIG_BLK_DEV_NBD, or qemu_backend: storage-daemon',
    };
  }
  if (!nbd.qemuNbd) return { code: 'no-qemu-nbd', what: 'qemu-nbd is not installed', hint: missingToolHint('qemu-nbd') };
  return undefined;
}

function storageDaemonMissing(obs: ObservedState): { what: string; hint: string } | undefined {
  const b = obs.qemuBackends;
  if (!b?.storageDaemon) return { what: 'qemu-storage-daemon is not installed', hint: missingToolHint('qemu-storage-daemon') };
  if (!b.fuse) return { what: 'this kernel has no FUSE (/dev/fuse)', hint: 'load it: modprobe fuse' };
  return undefined;
}

/**
 * Opens QEMU images for the plan: checks each against qemu-img's findings, picks its backend
 * (nbd where the kernel has it, else qemu-storage-daemon; the manifest may insist; a live one
 * of imgplan's is kept) and, for nbd, its device. Memoised per image, so that every mount and
 * PV of an image shares one disk and two images never get the same free nbd device.
 */
export function qemuDisks(obs: ObservedState, diags: Diagnostic[]): (img: ImageSpec) => QemuDisk | undefined {
  const memo = new Map<string, QemuDisk | undefined>();
  const taken = new Set<string>();
  const journal = obs.journal?.entries ?? [];
  return (img) => {
    if (memo.has(img.name)) return memo.get(img.name);
    const disk = open(img);
    memo.set(img.name, disk);
    if (disk?.kind === 'nbd') taken.add(disk.nbd.device);
    return disk;
  };

  function open(img: ImageSpec): QemuDisk | undefined {
    const chain = checkImage(img, obs, diags);
    if (!chain) return undefined;
    const q = obs.images[img.name]!.qemu!;
    const base = {
      image: img, chain, overlay: img.access === 'overlay', writable: img.access !== 'read-only', forceShare: q.inUse !== undefined,
    };
    const size = chain[0]!.virtualSize;
    const exp = obs.exports?.[img.name];
    // imgplan's live export or connection counts only while it opens the image as the manifest now wants
    const opensAsWanted = (e: { overlay?: string; writable: boolean }) => (e.overlay !== undefined) === base.overlay && e.writable === base.writable;
    const mineNbd = journal.find((e) => e.kind === 'nbd' && e.address === nbdAddress(img.name));
    const liveNbd = mineNbd?.kind === 'nbd' && obs.nbd && liveNbdDevice(mineNbd, obs.nbd) && opensAsWanted(mineNbd) ? mineNbd.device : undefined;
    const mineExport = journal.find((e) => e.kind === 'export' && e.address === exportAddress(img.name));
    const liveExport = exp?.serving === true && mineExport?.kind === 'export' && opensAsWanted(mineExport);
    const noNbd = nbdMissing(obs.nbd);
    const noDaemon = storageDaemonMissing(obs);

    let kind: 'nbd' | 'export';
    let backend: BackendChoice;
    const pref = img.qemuBackend;
    if (pref === 'nbd' || (pref === 'auto' && !noNbd && !liveExport)) {
      if (noNbd) {
        diags.push(error('no-nbd', `image ${img.name} asks for qemu_backend: nbd, but ${noNbd.what}`, img.qemuBackendAt ?? img.at, noNbd.hint));
        return undefined;
      }
      kind = 'nbd';
      backend = { by: pref === 'nbd' ? 'manifest' : 'kernel-has-nbd' };
    } else if (pref === 'storage-daemon' || !noDaemon) {
      if (noDaemon) {
        diags.push(error('no-storage-daemon', `image ${img.name} asks for qemu_backend: storage-daemon, but ${noDaemon.what}`,
          img.qemuBackendAt ?? img.at, noDaemon.hint));
        return undefined;
      }
      kind = 'export';
      backend = pref === 'storage-daemon' ? { by: 'manifest' } : liveExport ? { by: 'already-serving' } : { by: 'no-nbd', missing: noNbd!.code };
    } else {
      diags.push(error('no-qemu-backend',
        `image ${img.name} is ${img.format === 'raw' ? 'raw under an overlay' : img.format}, which imgplan opens with QEMU, ` +
          `but neither backend works here: ${noNbd!.what}, and ${noDaemon.what}`,
        img.fileAt, `${noDaemon.hint}; or ${noNbd!.hint}`));
      return undefined;
    }
    // plan looks inside an image through what imgplan already serves, or else its own probe view (qemu-img, no backend needed)
    if (q.readVia === undefined) {
      diags.push(error('cannot-look-inside', `plan cannot read the partitions and filesystems of image ${img.name}`, img.fileAt,
        `check it with: qemu-img info ${img.file}`));
      return undefined;
    }

    if (kind === 'export') {
      const paths = obs.exports?.[img.name];
      if (!paths) return undefined;
      const desired: DesiredExport = { kind: 'export', address: exportAddress(img.name), ...base, paths, backend, live: liveExport };
      const live = paths.serving && paths.viewStat.kind === 'file';
      return {
        kind: 'view', export: desired, file: paths.view, size,
        backDev: live ? paths.viewStat.dev ?? '0:0' : '0:0', backIno: live ? paths.viewStat.ino ?? 0 : 0,
      };
    }

    const nbd = obs.nbd!;
    const foreign = base.overlay ? undefined : nbd.devices.find((d) => {
      const s = d.cmdline !== undefined ? parseQemuNbdCmdline(d.cmdline) : undefined;
      return d.pid !== undefined && d.device !== liveNbd && !journal.some((e) => e.kind === 'nbd' && e.device === d.device)
        && s?.device === d.device && s.file === img.file && s.format === img.format && s.readOnly === !base.writable;
    });
    let device = liveNbd ?? foreign?.device;
    if (!device) {
      device = nbd.module === 'loaded'
        ? nbd.devices.find((d) => !d.connected && !taken.has(d.device))?.device
        : Array.from({ length: 16 }, (_, n) => `/dev/nbd${n}`).find((d) => !taken.has(d));
      if (!device) {
        diags.push(error('no-free-nbd', `image ${img.name} needs an nbd device, but every /dev/nbdN is connected (${nbd.devices.length} devices)`, img.fileAt,
          'disconnect one you no longer need (qemu-nbd --disconnect /dev/nbdN), or use qemu_backend: storage-daemon'));
        return undefined;
      }
    }
    const loadModule = nbd.module !== 'loaded';
    const maxPart = loadModule ? NBD_MAX_PART : nbd.maxPart ?? 0;
    const desired: DesiredNbd = {
      kind: 'nbd', address: nbdAddress(img.name), ...base, paths: exportPathsOf(exp, img), device, loadModule, maxPart, partitions: [],
      foreign: foreign !== undefined,
      live: liveNbd !== undefined || foreign !== undefined,
      backend,
    };
    return { kind: 'nbd', nbd: desired, size };
  }
}

/** The export directory's files (collect observes them for every QEMU image, whichever backend). */
function exportPathsOf(exp: ExportObservation | undefined, img: ImageSpec): ExportPaths {
  if (!exp) throw new Error(`internal: no export paths observed for image ${img.name}`);
  return { dir: exp.dir, view: exp.view, pidfile: exp.pidfile, overlay: exp.overlay };
}
