import { posix } from 'node:path';
import { ImageContentError, ProbeError, missingToolHint } from '../errors.js';
import { journalPath, parseJournal, type Journal } from '../journal/format.js';
import { exportPaths, probeExportPaths, type ExportPaths } from '../qemu/paths.js';
import { needsQemu, type ImageSpec, type Manifest } from '../manifest/types.js';
import type { Command, CommandResult, PathInfo, Runner } from '../runner/runner.js';
import { NOT_MOUNTABLE, parseBlkidExport, type BlkidInfo } from './blkid.js';
import { boundedReader, MalformedImageError, readBudget } from './bytes.js';
import { joinDm, parseDmInfo, parseDmTable, type DmMap } from './dmsetup.js';
import * as probes from './commands.js';
import { parseFindmnt } from './findmnt.js';
import { readGpt, type GptLayout } from './gpt.js';
import { parseLosetup, type LoopDevice } from './losetup.js';
import { parseLsblk, type BlockDevice } from './lsblk.js';
import { inspectLvmPv, linearLvRange, type LvmPv } from './lvm-metadata.js';
import { parseVgsReport, type HostVg } from './lvm-report.js';
import { inspectNtfs, ntfsMftOffset, type NtfsHealth } from './ntfs.js';
import type { ExportObservation, FilesystemDriver, ImageObservation, KernelFacts, NbdState, ObservedState } from './observed.js';
import { inspectQemuImage, observeExport, observeNbd, sweepDeadProbes, withProbeView, type ProbeView } from '../qemu/collect.js';
import { diskEnds, FILL_CHUNK, MAX_TABLE_ROUNDS, partitionRanges, rangeEnds } from '../qemu/probe-view.js';
import { kindOf } from '../resources/registry.js';
import { parseQemuImgInfo, qemuImgProbe } from '../qemu/img-info.js';
import { parseSfdisk, type PartitionTable } from './sfdisk.js';
import { PROBE_CONCURRENCY, settledAll, settledMap } from '../runner/concurrent.js';
import { guestComponents } from '../plan/graph.js';
import type { JournalEntry, JournalIntent } from '../plan/types.js';
import { deviceName } from '../plan/refs.js';

async function runProbe(runner: Runner, cmd: Command, okCodes: readonly number[] = [0]): Promise<CommandResult> {
  return checked(cmd, await runner.run(cmd), okCodes);
}

/** The result, or a ProbeError that says what failed and what to do. */
function checked(cmd: Command, r: CommandResult, okCodes: readonly number[] = [0]): CommandResult {
  const tool = cmd.argv[0];
  if (r.failure === 'not-found') throw new ProbeError(cmd.argv, `${tool} is not installed`, missingToolHint(tool));
  if (r.failure && !(r.failure === 'exit-code' && r.exitCode !== undefined && okCodes.includes(r.exitCode))) {
    throw new ProbeError(cmd.argv, `exit ${r.exitCode ?? r.failure}: ${r.stderr.trim() || '(no message)'}`,
      'imgplan must run as root to read block device state');
  }
  return r;
}

function parsed<T>(cmd: Command, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new ProbeError(cmd.argv, `could not read its output: ${(e as Error).message}`,
      'please report this with the output of the command above');
  }
}

/** Kernel partition-table parsers that matter for guest images, by sfdisk label. */
const PARSERS = [
  { label: 'dos', config: 'CONFIG_MSDOS_PARTITION', symbol: 'msdos_partition' },
  { label: 'gpt', config: 'CONFIG_EFI_PARTITION', symbol: 'efi_partition' },
] as const;

/**
 * Which partition tables the kernel parses when a loop device is attached with --partscan
 * (field-notes G11). The kernel config says so definitively; without it (no /boot/config, as in
 * containers and the VM lane), the parsers' symbols in /proc/kallsyms do; a kernel-made partition
 * of a disk ("vda1" under "vda") is weaker evidence. Otherwise none: offset loops work everywhere.
 */
export function partscanEvidence(release: string, config: string | undefined, kallsyms: string | undefined,
  devices: readonly BlockDevice[]): KernelFacts['partscan'] {
  if (config !== undefined) {
    const labels = PARSERS.filter((p) => new RegExp(`^${p.config}=y$`, 'm').test(config)).map((p) => p.label);
    return { labels, evidence: `kernel config ${probes.kernelConfigPath(release)}` };
  }
  if (kallsyms !== undefined) {
    const labels = PARSERS.filter((p) => new RegExp(`\\s${p.symbol}$`, 'm').test(kallsyms)).map((p) => p.label);
    return {
      labels,
      evidence: labels.length
        ? `kernel symbols ${PARSERS.filter((p) => labels.includes(p.label)).map((p) => p.symbol).join(', ')}`
        : 'no partition parser among the kernel symbols',
    };
  }
  const part = devices.find((d) => d.type === 'part' && d.pkname !== undefined && d.name.startsWith(d.pkname));
  if (part) return { labels: ['dos', 'gpt'], evidence: `the kernel made partition ${part.name} of ${part.pkname}` };
  return { labels: [], evidence: 'no kernel config, no kernel symbols, no kernel-made partition seen' };
}


interface QemuContext {
  /**
   * Where imgplan already serves an image's guest bytes (its live nbd device or export view, per
   * the journal), and whether that server holds QEMU's write lock on the image itself.
   */
  readonly served: (image: string) => { readonly path: string; readonly via: 'nbd' | 'export'; readonly writesImage: boolean } | undefined;
  readonly probePaths: (image: string) => ExportPaths;
  /** destroy needs no image contents (raw or QEMU): only the image file's identity */
  readonly contents: boolean;
}

/** LV names whose filesystem is read (every one, for inspect) */
interface Names {
  has(name: string): boolean;
}

async function collectImage(runner: Runner, img: ImageSpec, wanted: ReadonlySet<string>, lvNames: Names,
  q: QemuContext): Promise<ImageObservation> {
  const file = img.file;
  const stat = await runner.inspectPath(file);
  if (stat.kind !== 'file') return { file, stat, table: null, contents: {} };
  // destroy goes by the journal and the live objects: what an image holds changes none of its steps
  if (!q.contents) return { file, stat, table: null, contents: {} };
  if (!needsQemu(img)) {
    const o = await readContents(runner, img.name, file, stat.size ?? 0, wanted, lvNames);
    // nothing recognisable in a "raw" image: say so if QEMU sees another format (a qcow2 named raw)
    if (o.table || o.contents.whole?.TYPE) return { ...o, file, stat };
    // best effort, for a better error only: no qemu-img (or a recording made without it) is no hint
    const probe = await runner.run(qemuImgProbe(file, false)).then((r) => (r.failure ? undefined : parseQemuImgInfo(r.stdout)[0]), () => undefined);
    return { ...o, file, stat, ...(probe && probe.format !== 'raw' ? { qemu: { probe } } : {}) };
  }
  const served = q.served(img.name);
  const qemu = await inspectQemuImage(runner, img, served?.writesImage ?? false);
  if (!qemu.chain || qemu.problem || (qemu.inUse && !img.allowLive)) return { file, stat, table: null, contents: {}, qemu };
  const size = qemu.chain[0]!.virtualSize;
  // what imgplan already serves is read where it is: the guest's bytes as the mounts see them
  if (served) return { ...(await readContents(runner, img.name, served.path, size, wanted, lvNames)), file, stat, qemu: { ...qemu, readVia: served.via } };
  // nothing serves it: plan reads it in user space, through qemu-img, into a sparse view of its own
  const o = await withProbeView(runner, img, q.probePaths(img.name), qemu.inUse !== undefined, size,
    (view) => readContents(runner, img.name, view.path, size, wanted, lvNames, view));
  return { ...o, file, stat, qemu: { ...qemu, readVia: 'probe-view' } };
}

/**
 * The partition table of a raw view. A probe view is filled as the table is read: the disk's
 * first and last MiB, then around each partition sfdisk finds, then sfdisk again, until filling
 * reveals no more (a DOS extended partition's EBR chain shows one more logical partition a round).
 */
async function readTable(runner: Runner, image: string, file: string, size: number, view?: ProbeView): Promise<PartitionTable | null> {
  const sf = probes.sfdisk(file);
  const read = async () => {
    const r = await runProbe(runner, sf, [1]);
    // sfdisk exits 1 with "does not contain a recognized partition table" on a bare filesystem
    return r.exitCode === 0 ? parsed(sf, () => parseSfdisk(r.stdout)) : null;
  };
  if (!view) return read();
  for (const e of diskEnds(size)) await view.fill(e.offset, e.length);
  for (let round = 1; ; round++) {
    const table = await read();
    if (!table) return null;
    let ranges;
    try {
      ranges = partitionRanges(table.partitions.map((p) => ({ offset: p.start * table.sectorSize, length: p.size * table.sectorSize })));
    } catch (e) {
      throw new ImageContentError(image, 'whole', 'partition table', (e as Error).message);
    }
    let copied = 0;
    for (const g of ranges) copied += await view.fill(g.offset, g.length);
    if (copied === 0) return table;
    if (round >= MAX_TABLE_ROUNDS) {
      throw new ImageContentError(image, 'whole', 'partition table', `it still shows more partitions after ${MAX_TABLE_ROUNDS} rounds of reading`);
    }
  }
}

/**
 * Partition table and filesystems of a raw view: the image file itself, what imgplan serves of a
 * QEMU image, or plan's probe view of one (`view`: every range is filled before it is read).
 */
async function readContents(runner: Runner, image: string, file: string, size: number, wanted: ReadonlySet<string>,
  lvNames: Names, view?: ProbeView): Promise<Omit<ImageObservation, 'file' | 'stat'>> {
  let table = await readTable(runner, image, file, size, view);
  const fill = async (r: { offset: number; length: number }) => {
    for (const e of rangeEnds(r)) await view?.fill(e.offset, e.length);
  };
  const contents: Record<string, BlkidInfo> = {};
  const ntfs: Record<string, NtfsHealth> = {};
  const lvm: Record<string, LvmPv> = {};
  const lvContents: Record<string, BlkidInfo> = {};
  // the NTFS and LVM readers read at most this much of the image, over all its partitions
  const budget = readBudget();
  const probeRange = async (key: string, range?: { offset: number; size: number }) => {
    if (view && range) {
      await fill({ offset: range.offset, length: range.size });
      // blkid finds NTFS only where it reads the $Volume record, which lies where the boot sector says
      const mft = ntfsMftOffset((await runner.readBytes(file, range.offset, 512)) ?? new Uint8Array());
      if (mft !== undefined && mft < range.size) await view.fill(range.offset + mft, FILL_CHUNK);
    }
    const cmd = probes.blkid(file, range);
    const b = await runProbe(runner, cmd, [2]);
    contents[key] = b.exitCode === 0 ? parseBlkidExport(b.stdout) : {};
    const base = range?.offset ?? 0;
    const end = range ? base + range.size : size;
    const reader = boundedReader(async (offset: number, length: number) => {
      const len = Math.max(0, Math.min(length, end - base - offset));
      await view?.fill(base + offset, len);
      return (await runner.readBytes(file, base + offset, len)) ?? new Uint8Array();
    }, budget);
    // bytes of the image that are not the structure they claim to be (damaged or hostile): refuse, naming where
    const inspect = async <T>(what: string, f: () => Promise<T>): Promise<T> => f().catch((e: unknown) => {
      throw e instanceof MalformedImageError ? new ImageContentError(image, key, what, e.message) : e;
    });
    if (contents[key].TYPE === 'ntfs') ntfs[key] = await inspect('NTFS volume', () => inspectNtfs(reader));
    if (contents[key].TYPE === 'LVM2_member') {
      const pv = await inspect('LVM physical volume', () => inspectLvmPv(reader));
      lvm[key] = pv;
      // what filesystem each named LV holds: blkid of its first segment, where that lies on this PV
      for (const lv of pv.vg?.lvs ?? []) {
        if (!lvNames.has(lv.name)) continue;
        const onPv = linearLvRange(pv, lv);
        if (!onPv) continue;
        const lvRange = { offset: base + onPv.offset, size: onPv.size };
        await fill({ offset: lvRange.offset, length: lvRange.size });
        const r = await runProbe(runner, probes.blkid(file, lvRange), [2]);
        lvContents[lv.uuid] = r.exitCode === 0 ? parseBlkidExport(r.stdout) : {};
      }
    }
  };
  if (wanted.has('whole')) await probeRange('whole');
  // an NTFS or FAT boot sector ends in 55AA like an MBR, and sfdisk reads it as an empty dos
  // table; blkid knows better: a filesystem at offset 0 and no PTTYPE means no partition table
  if (table && contents.whole?.TYPE && !contents.whole.PTTYPE && table.partitions.length === 0) table = null;
  // sfdisk falls back to the protective MBR of a GPT it rejects (a copy cut short has no backup header): read the primary one
  let rejectedGpt: GptLayout | null | undefined;
  if (table?.label === 'dos' && table.partitions.length === 1 && table.partitions[0]!.type.toLowerCase() === 'ee') {
    const reader = boundedReader(async (offset: number, length: number) => {
      await view?.fill(offset, Math.max(0, Math.min(length, size - offset)));
      return (await runner.readBytes(file, offset, length)) ?? new Uint8Array();
    }, budget);
    rejectedGpt = await readGpt(reader).catch((e: unknown) => {
      throw e instanceof MalformedImageError ? new ImageContentError(image, 'whole', 'GPT partition table', e.message) : e;
    }) ?? null;
  }
  if (table) {
    for (const p of table.partitions) {
      const key = `part${p.number}`;
      if (wanted.has(key) || wanted.has('all')) await probeRange(key, { offset: p.start * table.sectorSize, size: p.size * table.sectorSize });
    }
  }
  // what the rejected GPT's partitions hold, where they lie wholly inside the image (inspect: every one)
  for (const p of rejectedGpt?.partitions ?? []) {
    const range = { offset: p.start * rejectedGpt!.sectorSize, size: p.size * rejectedGpt!.sectorSize };
    if (wanted.has('all') && range.offset + range.size <= size) await probeRange(`part${p.number}`, range);
  }
  return { table, contents, ...(rejectedGpt !== undefined ? { rejectedGpt } : {}), ...(Object.keys(ntfs).length ? { ntfs } : {}),
    ...(Object.keys(lvm).length ? { lvm } : {}), ...(Object.keys(lvContents).length ? { lvContents } : {}) };
}

/**
 * Which kernel drivers exist for the filesystems found: /proc/filesystems, else a dry-run of the
 * modprobe the kernel would do at mount time. NTFS can be mounted by the kernel's ntfs3 or by
 * ntfs-3g over FUSE (fuseblk), so both are looked up.
 */
async function collectFilesystems(runner: Runner, types: ReadonlySet<string>): Promise<Record<string, FilesystemDriver>> {
  const out: Record<string, FilesystemDriver> = {};
  if (types.size === 0) return out;
  const registered = new Set((await runner.readText(probes.PROC_FILESYSTEMS_PATH) ?? '').split('\n').map((l) => l.split('\t').pop()!.trim()).filter(Boolean));
  const needed = new Set([...types].flatMap((t) => (t === 'ntfs' ? ['ntfs3', 'fuseblk'] : [t])));
  for (const t of [...needed].sort()) {
    if (registered.has(t)) {
      out[t] = 'registered';
      continue;
    }
    const r = await runner.run(probes.modprobeFilesystem(t));
    out[t] = r.failure === undefined ? 'module' : 'absent';
  }
  return out;
}

/** Each loop's /sys/block/loopN/diskseq (kernel 5.15+; absent before, or when the loop went meanwhile). */
async function withDiskseq(runner: Runner, loops: readonly LoopDevice[]): Promise<LoopDevice[]> {
  const out: LoopDevice[] = [];
  for (const l of loops) {
    const text = (await runner.readText(`/sys/block/${deviceName(l.device)}/diskseq`))?.trim();
    out.push(text !== undefined && /^\d+$/.test(text) ? { ...l, diskseq: Number(text) } : l);
  }
  return out;
}

/** The running kernel's release, its config if /boot has it, else its partition parsers' symbols (if /proc/kallsyms is readable). */
async function readKernel(runner: Runner): Promise<{ release: string; config: string | undefined; kallsyms: string | undefined }> {
  const release = (await runner.readText(probes.KERNEL_RELEASE_PATH))?.trim() ?? 'unknown';
  const config = await runner.readText(probes.kernelConfigPath(release));
  let kallsyms: string | undefined;
  if (config === undefined) {
    // grep exits 1 when no parser symbol is there, 2 when /proc/kallsyms cannot be read
    const r = await runProbe(runner, probes.KALLSYMS_PARSERS, [1, 2]);
    if (r.exitCode !== 2) kallsyms = r.stdout;
  }
  return { release, config, kallsyms };
}

export interface CollectOptions {
  readonly stateDir: string;
  /** what the state is read for (default apply); destroy: the journal and live objects only, no image's contents are read */
  readonly mode?: 'apply' | 'destroy';
  /** where plan's probe views of QEMU images go (default: STATEDIR/probe/PID, so concurrent plans never meet) */
  readonly probeDir?: string;
  /**
   * This run's own earlier reading (apply's and destroy's check that the system converged): the
   * kernel's partition parsers, and what a raw image holds when the manifest keeps it read-only,
   * are taken from it. No step imgplan runs changes them; every live object is read again.
   */
  readonly known?: ObservedState;
  /** every partition's and every LV's contents, not only what the manifest mounts (inspect) */
  readonly readAll?: boolean;
}

/** Reads the live state the plan needs, once, through the runner. Changes nothing. */
export async function collectState(runner: Runner, manifest: Manifest, opts: CollectOptions): Promise<ObservedState> {
  // the host-wide reads do not depend on each other: all at once
  const [blockDevices, loopsNow, mounts, kernelRead, udev, deviceMapper, kpartx] = await settledAll([
    async () => { const r = await runProbe(runner, probes.LSBLK); return parsed(probes.LSBLK, () => parseLsblk(r.stdout)); },
    async () => { const r = await runProbe(runner, probes.LOSETUP); return parsed(probes.LOSETUP, () => parseLosetup(r.stdout)); },
    async () => { const r = await runProbe(runner, probes.FINDMNT); return parsed(probes.FINDMNT, () => parseFindmnt(r.stdout)); },
    async () => (opts.known ? undefined : readKernel(runner)),
    async () => (await runner.inspectPath(probes.UDEV_CONTROL_PATH)).kind !== 'missing',
    async () => (await runner.inspectPath(probes.DM_CONTROL_PATH)).kind !== 'missing',
    async () => {
      for (const p of probes.KPARTX_PATHS) if ((await runner.inspectPath(p)).kind === 'file') return true;
      return false;
    },
  ] as const);
  let loops = loopsNow;
  const parsers = kernelRead
    ? { release: kernelRead.release, partscan: partscanEvidence(kernelRead.release, kernelRead.config, kernelRead.kallsyms, blockDevices) }
    : { release: opts.known!.kernel.release, partscan: opts.known!.kernel.partscan };
  const kernelBase = { ...parsers, udev, deviceMapper, kpartx };
  let dmMaps: DmMap[] = [];
  if (deviceMapper) {
    // a host with device-mapper but without dmsetup has no kpartx either (it depends on it)
    const [info, table] = await settledAll([() => runner.run(probes.DMSETUP_INFO), () => runner.run(probes.DMSETUP_TABLE)] as const);
    if (info.failure !== 'not-found') {
      checked(probes.DMSETUP_INFO, info);
      checked(probes.DMSETUP_TABLE, table);
      dmMaps = parsed(probes.DMSETUP_INFO, () => joinDm(parseDmInfo(info.stdout), parseDmTable(table.stdout)));
    }
  }

  const jPath = journalPath(opts.stateDir, manifest.path);
  const jText = await runner.readText(jPath);
  // a journal that is not one imgplan wrote for this manifest is a JournalFormatError (exit 3), naming the entry
  const journal: Journal | null = jText === undefined ? null : parseJournal(jText, jPath, manifest.path);
  // what the journal knows, and what an interrupted run was about to make (its intents): both are looked at
  const entries: readonly (JournalEntry | JournalIntent)[] = [...journal?.entries ?? [], ...journal?.intents ?? []];
  // a loop's diskseq tells it from a later loop of the same number: read when an entry recorded one or an intent may need it
  if (journal?.entries.some((e) => e.kind === 'attach' && e.diskseq !== undefined) || journal?.intents.some((i) => i.kind === 'attach')) {
    loops = await withDiskseq(runner, loops);
  }

  // QEMU images: imgplan's exports and nbd connections (wanted, or journaled) and which backends exist
  const exports: Record<string, ExportObservation> = {};
  const qemuImages = manifest.images.filter(needsQemu);
  for (const name of new Set([...qemuImages.map((i) => i.name), ...entries.flatMap((e) => (e.kind === 'export' ? [e.address.slice('export:'.length)] : []))])) {
    exports[name] = await observeExport(runner, exportPaths(opts.stateDir, manifest.path, name), mounts);
  }
  let qemuBackends: ObservedState['qemuBackends'];
  if (qemuImages.length) {
    let storageDaemon = false;
    for (const p of probes.STORAGE_DAEMON_PATHS) if (!storageDaemon) storageDaemon = (await runner.inspectPath(p)).kind === 'file';
    qemuBackends = { storageDaemon, fuse: (await runner.inspectPath(probes.FUSE_DEVICE_PATH)).kind !== 'missing' };
  }
  if (qemuImages.length) await sweepDeadProbes(runner, posix.join(opts.stateDir, 'probe'));
  const nbd: NbdState | undefined = qemuImages.length || entries.some((e) => e.kind === 'nbd') ? await observeNbd(runner) : undefined;
  const qctx: QemuContext = {
    // an export's or nbd connection's intent is its whole entry: one an interrupted run started serves like a journaled one
    served: (image) => entries.map((e) => kindOf(e.kind).serves?.(e as never, { exports, ...(nbd ? { nbd } : {}) })).find((s) => s?.image === image),
    probePaths: (image) => probeExportPaths(opts.probeDir ?? posix.join(opts.stateDir, 'probe', String(process.pid)), image),
    contents: opts.mode !== 'destroy',
  };

  const images: Record<string, ImageObservation> = {};
  const usesLvm = manifest.mounts.some((m) => m.source.kind === 'lv') || manifest.images.some((i) => i.volumeGroups.length > 0);
  const lvNames: Names = opts.readAll ? { has: () => true } : new Set(manifest.mounts.flatMap((m) => (m.source.kind === 'lv' ? [m.source.lv] : [])));
  // each image is read on its own (its own file, its own probe view): several at once
  const observed = await settledMap(manifest.images, PROBE_CONCURRENCY, (img) => {
    const wanted = new Set(
      manifest.mounts
        .filter((m) => m.source.image === img.name)
        .map((m) => (m.source.kind === 'whole' ? 'whole' : m.source.kind === 'partition' ? `part${m.source.number}` : 'all')),
    );
    wanted.add('whole');
    // LVM: a VG's PVs can be on any partition of any image of the manifest
    if (usesLvm || opts.readAll) wanted.add('all');
    const known = opts.known?.images[img.name];
    if (known && !needsQemu(img) && img.access === 'read-only') return Promise.resolve(known);
    return collectImage(runner, img, wanted, lvNames, qctx);
  });
  for (const [i, img] of manifest.images.entries()) images[img.name] = observed[i]!;
  const found = new Set(Object.values(images).flatMap((i) => Object.values(i.contents).map((c) => c.TYPE))
    .filter((t): t is string => t !== undefined && !(t in NOT_MOUNTABLE)));
  const filesystems = await collectFilesystems(runner, found);
  let ntfs3g = false;
  if (found.has('ntfs')) for (const p of probes.NTFS3G_HELPER_PATHS) if (!ntfs3g) ntfs3g = (await runner.inspectPath(p)).kind !== 'missing';
  const kernel: KernelFacts = { ...kernelBase, filesystems, ...(found.has('ntfs') ? { ntfs3g } : {}) };

  const journaledDirs = new Set(entries.flatMap((e) => (e.kind === 'dir' ? [e.path] : [])));
  const paths: Record<string, PathInfo> = {};
  // every directory up to /: which ones imgplan must make or made (walking past the ones it made,
  // so destroy and re-plans still see them as ours), and whether host users can reach the mount
  for (const m of manifest.mounts) {
    for (let p = m.where; ; p = posix.dirname(p)) {
      if (!(p in paths)) paths[p] = await runner.inspectPath(p);
      if (p === '/') break;
    }
  }
  for (const d of journaledDirs) if (!(d in paths)) paths[d] = await runner.inspectPath(d);
  // a nested mountpoint is a path inside the guest's tree: each component below the parent mount, not just the last
  for (const m of manifest.mounts) {
    for (const p of guestComponents(manifest.mounts.map((x) => x.where), m.where)) if (!(p in paths)) paths[p] = await runner.inspectPath(p);
  }

  const mountedXfsUuids: Record<string, string> = {};
  const wantsXfs = Object.values(images).some((i) => Object.values(i.contents).some((c) => c.TYPE === 'xfs'));
  if (wantsXfs) {
    for (const m of mounts) {
      if (m.fstype !== 'xfs' || !m.source.startsWith('/dev/')) continue;
      const cmd = probes.blkid(m.source);
      const r = await runProbe(runner, cmd, [2]);
      const uuid = parseBlkidExport(r.stdout).UUID;
      if (uuid) mountedXfsUuids[m.target] = uuid;
    }
  }

  let hostVgs: HostVg[] | null | undefined;
  if (usesLvm) {
    const r = await runner.run(probes.HOST_VGS);
    hostVgs = r.failure === 'not-found' ? null : parsed(probes.HOST_VGS, () => parseVgsReport(checked(probes.HOST_VGS, r).stdout));
  }

  return { kernel, blockDevices, loops, mounts, dmMaps, images, paths, mountedXfsUuids, journal, journalPath: jPath,
    ...(Object.keys(exports).length ? { exports } : {}), ...(qemuBackends ? { qemuBackends } : {}), ...(nbd ? { nbd } : {}),
    ...(hostVgs !== undefined ? { hostVgs } : {}) };
}
