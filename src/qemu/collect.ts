import { posix } from 'node:path';
import { ProbeError } from '../errors.js';
import { probeExportPaths, type ExportPaths } from './paths.js';
import type { ImageSpec } from '../manifest/types.js';
import { removeFolderArgv, removeViewArgv, servesView, stopDaemonArgv, storageDaemonArgv } from './storage-daemon.js';
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
  if (r.failure === 'not-found') throw new ProbeError(cmd.argv, 'qemu-img is not installed', 'install it: apt-get install qemu-utils');
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
 * Reads a QEMU image's guest-visible bytes during plan: a read-only export of its own, in
 * imgplan's probe directory, stopped and removed before this returns, whatever `use` does.
 * These commands are scratch work: they change nothing outside that directory and nothing
 * lasts, so they are recorded and replayed like reads (plans of QEMU images in unit tests).
 */
/** Stops a probe export's daemon (if it still serves the view), unmounts a view left mounted, removes its files and folder. */
async function stopProbeExport(runner: Runner, paths: ExportPaths): Promise<void> {
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
  await runner.run({ argv: removeViewArgv(paths.view) as [string, ...string[]], effect: 'scratch' });
  await runner.run({ argv: removeFolderArgv(paths.dir) as [string, ...string[]], effect: 'scratch' });
}

/**
 * Probe exports of plans that died without stopping them (kill -9): each plan's folder under
 * `root` is named by its pid, so a folder whose process is gone is swept, daemon, view and all,
 * before anything looks at a QEMU image (the dead plan's daemon still holds the image's lock).
 */
export async function sweepDeadProbes(runner: Runner, root: string): Promise<void> {
  // the view is the first file a probe export makes
  const found = await runner.run({ argv: ['find', root, '-mindepth', '2', '-maxdepth', '2', '-name', '*.raw'], effect: 'reads' });
  for (const view of found.stdout.split('\n').filter((l) => l.startsWith(`${root}/`))) {
    const owner = posix.basename(posix.dirname(view));
    if (!/^\d+$/.test(owner) || Number(owner) === process.pid || (await runner.readText(`/proc/${owner}/cmdline`)) !== undefined) continue;
    await stopProbeExport(runner, probeExportPaths(posix.dirname(view), posix.basename(view, '.raw')));
  }
}

export async function withProbeExport<T>(runner: Runner, img: ImageSpec, paths: ExportPaths, forceShare: boolean,
  use: (view: string) => Promise<T>): Promise<T> {
  const mk = await runner.run({ argv: ['install', '-D', '-m', '0600', '/dev/null', paths.view], effect: 'scratch' });
  if (mk.failure) throw new ProbeError(mk.argv, mk.stderr.trim() || `exit ${mk.exitCode}`, 'imgplan must run as root');
  const stop = () => stopProbeExport(runner, paths);
  // Ctrl-C while plan reads through the export: stop it before going, so nothing outlives the plan
  let stopping: Promise<void> | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    stopping ??= stop().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  try {
    const argv = storageDaemonArgv({
      file: img.file, format: img.format, view: paths.view, pidfile: paths.pidfile, writable: false, forceShare,
    }) as [string, ...string[]];
    const start = await runner.run({ argv, effect: 'scratch', timeoutMs: 60_000 });
    if (start.failure) {
      throw new ProbeError(argv, start.failure === 'not-found' ? 'qemu-storage-daemon is not installed' : start.stderr.trim() || `exit ${start.exitCode}`,
        start.failure === 'not-found' ? 'install it: apt-get install qemu-system-common' : 'see the message above');
    }
    return await use(paths.view);
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
