import { posix } from 'node:path';
import { ImageContentError, ProbeError, missingToolHint } from '../errors.js';
import { probeExportPaths, type ExportPaths } from './paths.js';
import type { ImageSpec } from '../manifest/types.js';
import { removeFolderArgv, removeViewArgv, servesView, stopDaemonArgv } from './storage-daemon.js';
import { badViewSize, chunksOf, fillCommand, MAX_FILL_BYTES, missingCopies } from './probe-view.js';
import type { CommandResult, Runner } from '../runner/runner.js';
import type { MountEntry } from '../probe/findmnt.js';
import * as probes from '../probe/commands.js';
import type { ExportObservation, NbdDevice, NbdState, QemuObservation } from '../probe/observed.js';
import { classifyQemuError, MAX_CHAIN, parseQemuImgInfo, protocolSyntax, qemuImgBacking, qemuImgProbe, type QemuImageInfo } from './img-info.js';

function infoOf(cmd: readonly string[], r: CommandResult): QemuImageInfo[] {
  try {
    return parseQemuImgInfo(r.stdout);
  } catch (e) {
    throw new ProbeError(cmd, `could not read its output: ${(e as Error).message}`, 'please report this with the output of the command above');
  }
}

/**
 * What QEMU says about an image: its format as QEMU's probe sees it, the backing chain, and
 * whether another process holds it locked. Read-only; opens no backing file before the format
 * is known to be the manifest's.
 */
export async function inspectQemuImage(runner: Runner, img: ImageSpec, heldByUs: boolean): Promise<QemuObservation> {
  // imgplan's own writable export or connection holds QEMU's write lock: read past it, it is no other process
  let cmd = qemuImgProbe(img.file, heldByUs);
  let r = await runner.run(cmd);
  if (r.failure === 'not-found') throw new ProbeError(cmd.argv, 'qemu-img is not installed', missingToolHint('qemu-img'));
  let inUse: string | undefined;
  if (r.failure) {
    const problem = classifyQemuError(r.stderr);
    if (problem.kind !== 'in-use' || !img.allowLive) return { problem };
    inUse = problem.message;
    cmd = qemuImgProbe(img.file, true);
    r = await runner.run(cmd);
    if (r.failure) return { inUse, problem: classifyQemuError(r.stderr) };
  }
  const probe = infoOf(cmd.argv, r)[0]!;
  const live = inUse ? { inUse } : {};
  if (probe.format !== img.format || probe.backingFilename === undefined) return { probe, ...live, ...(probe.format === img.format ? { chain: [probe] } : {}) };
  const chain = [probe];
  const allowed: { file: string; what: string }[] = [];
  const forceShare = inUse !== undefined || heldByUs;
  // a header names its backing file: each is checked to be a regular file before QEMU opens it
  for (let cur = probe; cur.backingFilename !== undefined; cur = chain[chain.length - 1]!) {
    const name = cur.backingFilename;
    const full = cur.fullBackingFilename ?? posix.resolve(posix.dirname(cur.filename), name);
    const notFile = (what: string): QemuObservation => ({
      probe, ...live, problem: { kind: 'backing-not-file', file: full, what, message: `${cur.filename} names ${JSON.stringify(name)} as its backing file` },
    });
    if (chain.length > MAX_CHAIN) {
      return { probe, ...live, problem: { kind: 'other', message: `the backing chain is longer than ${MAX_CHAIN} images` } };
    }
    const named = img.allowBacking.includes(name) || img.allowBacking.includes(full);
    const protocol = protocolSyntax(name) || protocolSyntax(full);
    if (protocol && !named) return notFile('QEMU protocol or json: syntax, not a file');
    if (!protocol) {
      const st = await runner.inspectPath(full);
      if (st.kind === 'missing') return { probe, ...live, problem: { kind: 'missing-file', file: full, message: 'No such file or directory' } };
      if (st.kind === 'directory') return notFile('a directory');
      if (st.kind !== 'file' && !named) return notFile('not a regular file (a device or a special file)');
      if (st.kind !== 'file') allowed.push({ file: full, what: 'not a regular file (a device or a special file)' });
    } else {
      allowed.push({ file: name, what: 'QEMU protocol or json: syntax' });
    }
    const cmd = qemuImgBacking(protocol ? name : full, cur.backingFormat, forceShare);
    const r = await runner.run(cmd);
    if (r.failure) return { probe, ...live, problem: classifyQemuError(r.stderr) };
    chain.push(infoOf(cmd.argv, r)[0]!);
  }
  return { probe, ...live, chain, ...(allowed.length ? { allowedBacking: allowed } : {}) };
}

/** Whether imgplan's export of an image is serving: its daemon alive (pid file, command line) and the view mounted. */
export async function observeExport(runner: Runner, paths: ExportPaths, mounts: readonly MountEntry[]): Promise<ExportObservation> {
  const pidText = (await runner.readText(paths.pidfile))?.trim();
  const pid = pidText && /^\d+$/.test(pidText) ? Number(pidText) : undefined;
  const cmdline = pid !== undefined ? await runner.readText(`/proc/${pid}/cmdline`) : undefined;
  const mounted = mounts.some((m) => m.target === paths.view);
  const serving = cmdline !== undefined && servesView(cmdline, paths.view) && mounted;
  const view = await runner.inspectPath(paths.view);
  return { ...paths, ...(pid !== undefined ? { pid } : {}), serving, mounted, viewStat: view };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Stops what a plan left in its probe folder: the view file and the folder; and, from a plan of
 * an earlier imgplan (which read through a short-lived qemu-storage-daemon export), its daemon
 * (if it still serves the view) and a view left mounted.
 */
async function removeProbeFiles(runner: Runner, paths: ExportPaths): Promise<void> {
  if ((await runner.inspectPath(paths.pidfile)).kind !== 'missing') await stopOldProbeExport(runner, paths);
  await runner.run({ argv: removeViewArgv(paths.view) as [string, ...string[]], effect: 'scratch' });
  await runner.run({ argv: removeFolderArgv(paths.dir) as [string, ...string[]], effect: 'scratch' });
}

async function stopOldProbeExport(runner: Runner, paths: ExportPaths): Promise<void> {
  // nothing else uses the view
  const gone = async () => {
    for (let i = 0; i < 200; i++) {
      if ((await runner.inspectPath(paths.pidfile)).kind === 'missing') return true;
      await sleep(25);
    }
    return false;
  };
  const stopped = await runner.run({ argv: stopDaemonArgv(paths.pidfile) as [string, ...string[]], effect: 'scratch' });
  if (stopped.failure || !(await gone())) {
    // pkill missing or refusing: the pid from the pid file, if that process still serves this view
    const pid = (await runner.readText(paths.pidfile))?.trim();
    const cmdline = pid && /^\d+$/.test(pid) ? await runner.readText(`/proc/${pid}/cmdline`) : undefined;
    if (pid && cmdline !== undefined && servesView(cmdline, paths.view)) {
      await runner.run({ argv: ['kill', '-TERM', pid], effect: 'scratch' });
      await gone();
    }
  }
  // a daemon that failed half-way leaves its view mounted and dead: unmounting it is all that is left
  if ((await runner.run({ argv: ['findmnt', '--noheadings', '--output', 'TARGET', '--mountpoint', paths.view], effect: 'reads' })).exitCode === 0) {
    await runner.run({ argv: ['umount', paths.view], effect: 'scratch' });
  }
}

/**
 * Probe views of plans that died before removing them (kill -9): each plan's folder under `root`
 * is named by its pid, so a folder whose process is gone is swept before anything looks at a
 * QEMU image. A view is a plain sparse file: nothing else of a plan outlives it.
 */
export async function sweepDeadProbes(runner: Runner, root: string): Promise<void> {
  // the view is the first file plan makes in its folder
  const found = await runner.run({ argv: ['find', root, '-mindepth', '2', '-maxdepth', '2', '-name', '*.raw'], effect: 'reads' });
  for (const view of found.stdout.split('\n').filter((l) => l.startsWith(`${root}/`))) {
    const owner = posix.basename(posix.dirname(view));
    if (!/^\d+$/.test(owner) || Number(owner) === process.pid || (await runner.readText(`/proc/${owner}/cmdline`)) !== undefined) continue;
    await removeProbeFiles(runner, probeExportPaths(posix.dirname(view), posix.basename(view, '.raw')));
  }
}

/** A QEMU image's guest disk as plan reads it: a sparse raw file that `fill` fills, range by range, before each read. */
export interface ProbeView {
  readonly path: string;
  readonly size: number;
  /** copies these bytes of the guest disk into the view (cut to the disk, in whole chunks); how many bytes it copied */
  fill(offset: number, length: number): Promise<number>;
}

/**
 * Reads a QEMU image's guest-visible bytes during plan, in user space (probe-view.ts): the view
 * is made in imgplan's probe folder, filled by qemu-img as `use` reads, and removed before this
 * returns, whatever `use` does. These commands are scratch work: they change nothing outside that
 * folder and nothing lasts, so they are recorded and replayed like reads (plans of QEMU images in
 * unit tests).
 */
export async function withProbeView<T>(runner: Runner, img: ImageSpec, paths: ExportPaths, forceShare: boolean, size: number,
  use: (view: ProbeView) => Promise<T>): Promise<T> {
  const bad = badViewSize(size);
  if (bad) throw new ImageContentError(img.name, 'whole', 'QEMU image header', bad);
  const stop = () => removeProbeFiles(runner, paths);
  // Ctrl-C while plan reads: remove the view before going, so nothing outlives the plan; caught from before the
  // view exists, so that no signal between its making and the handler's leaves it (the default action would)
  // the view's files are removed once the command that runs (install, truncate, a copy) has ended, and no command starts after:
  // removed while `install` still ran, the file would come back
  let stopping: Promise<void> | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const onSignal = (sig: NodeJS.Signals) => {
    stopping ??= running.catch(() => undefined).then(stop).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  const run = (cmd: Parameters<Runner['run']>[0]) => {
    if (stopping) return new Promise<never>(() => undefined);
    const r = runner.run(cmd);
    running = r;
    return r;
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  try {
    const mk = await run({ argv: ['install', '-D', '-m', '0600', '/dev/null', paths.view], effect: 'scratch' });
    if (mk.failure) throw new ProbeError(mk.argv, mk.stderr.trim() || `exit ${mk.exitCode}`, 'imgplan must run as root');
    // sparse: only what is filled takes room
    const sized = await run({ argv: ['truncate', '--size', String(size), paths.view], effect: 'scratch' });
    if (sized.failure) {
      throw new ProbeError(sized.argv, sized.stderr.trim() || `exit ${sized.exitCode}`,
        `the probe folder's filesystem must hold a sparse file of the image's virtual size (${size} bytes)`);
    }
    const filled = new Set<number>();
    let copied = 0;
    const spec = { image: img.file, format: img.format, forceShare, view: paths.view };
    const fill = async (offset: number, length: number) => {
      let now = 0;
      for (const copy of missingCopies([{ offset, length }], size, filled)) {
        if (copied + copy.length > MAX_FILL_BYTES) {
          const most = `${MAX_FILL_BYTES / 1024 / 1024} MiB`;
          throw new ImageContentError(img.name, 'whole', 'disk layout', `plan would copy more than ${most} of it to read its structures`);
        }
        const cmd = fillCommand(spec, copy);
        const r = await run(cmd);
        if (r.failure) {
          throw new ProbeError(cmd.argv, r.failure === 'not-found' ? 'qemu-img is not installed' : r.stderr.trim() || `exit ${r.exitCode ?? r.failure}`,
            r.failure === 'not-found' ? missingToolHint('qemu-img') : `check it with: qemu-img info ${img.file}`);
        }
        for (const c of chunksOf(copy)) filled.add(c);
        copied += copy.length;
        now += copy.length;
      }
      return now;
    };
    return await use({ path: paths.view, size, fill });
  } finally {
    for (const sig of signals) process.off(sig, onSignal);
    await (stopping ?? stop());
  }
}

/**
 * The nbd driver and its devices, from sysfs: each /dev/nbdN is free or connected to the process
 * in /sys/block/nbdN/pid, whose command line says what it serves.
 */
export async function observeNbd(runner: Runner): Promise<NbdState> {
  let qemuNbd = false;
  for (const p of probes.QEMU_NBD_PATHS) if (!qemuNbd) qemuNbd = (await runner.inspectPath(p)).kind === 'file';
  if ((await runner.inspectPath(probes.NBD_MODULE_PATH)).kind === 'missing') {
    const r = await runner.run(probes.MODPROBE_NBD);
    return { module: r.failure === undefined ? 'loadable' : 'absent', devices: [], qemuNbd };
  }
  const num = async (path: string) => {
    const t = (await runner.readText(path))?.trim();
    return t && /^\d+$/.test(t) ? Number(t) : undefined;
  };
  const maxPart = await num(probes.NBD_MAX_PART_PATH);
  const count = (await num(probes.NBD_NBDS_MAX_PATH)) ?? 16;
  const devices: NbdDevice[] = [];
  for (let n = 0; n < count; n++) {
    if ((await runner.inspectPath(probes.nbdSysPath(n))).kind === 'missing') continue;
    // the kernel names qemu-nbd's client thread, not the process (whose pid its pid file holds)
    const tid = await num(probes.nbdPidPath(n));
    const status = tid !== undefined ? await runner.readText(`/proc/${tid}/status`) : undefined;
    const tgid = status !== undefined ? /^Tgid:\s*(\d+)$/m.exec(status)?.[1] : undefined;
    const cmdline = tgid !== undefined ? await runner.readText(`/proc/${tgid}/cmdline`) : undefined;
    devices.push({
      device: `/dev/nbd${n}`, connected: tid !== undefined,
      ...(tgid !== undefined ? { pid: Number(tgid) } : {}), ...(cmdline !== undefined ? { cmdline } : {}),
    });
  }
  return { module: 'loaded', ...(maxPart !== undefined ? { maxPart } : {}), devices, qemuNbd };
}
