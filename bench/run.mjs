#!/usr/bin/env node
// imgplan benchmark: imgplan against the bare commands it stands in for, on a real image.
//
//   npm run bench                      (builds first)
//   node bench/run.mjs [--rounds N] [--warmup N] [--json] [--only SECTION[,SECTION]] [--vm-rounds N] [--vm-warmup N]
//
// Needs root (loop devices, mounts). Builds a throw-away 2-partition MBR image with two ext4
// filesystems under a temp dir, then times, interleaved round by round:
//   raw (sections/raw.mjs):
//   apply     `imgplan apply --auto-approve`   vs  2x losetup --read-only --offset, mkdir -p, 2x mount
//   destroy   `imgplan destroy --auto-approve` vs  2x umount, rmdir, 2x losetup -d
//   plan      `imgplan plan`                   vs  the probe commands plan runs, one after another
//   --version `node dist/imgplan.mjs --version` vs `node -e 0` (imgplan is the bundle, dist/imgplan.mjs, throughout)
//   startup (sections/startup.mjs): --version, validate, plan: the bundle vs tsc's dist/cli/main.js, on the same node
//   scale (sections/scale.mjs): apply, plan, destroy of 1, 16 and 64 images x 2 mounts; plan's processes; peak RSS
//             (--compare-cli FILE: another build side by side, interleaved)
//   qcow2-storage-daemon (sections/qcow2-storage-daemon.mjs; the image converted to qcow2; apply until both files are read):
//   apply     imgplan apply vs  qemu-storage-daemon FUSE view, 2x losetup on it, mkdir -p, 2x mount
//   destroy   imgplan destroy vs  2x umount, rmdir, 2x losetup -d, pkill --pidfile, wait, rm view
//   qcow2-nbd (sections/qcow2-nbd.mjs; the same with qemu-nbd; inside the VM lane where this kernel has no nbd):
//   apply     imgplan apply vs  qemu-nbd --connect, wait for nbdNp1/p2, mkdir -p, 2x mount
//   destroy   imgplan destroy vs  2x umount, rmdir, qemu-nbd --disconnect, wait
// and prints the medians against the targets (report.mjs). Missing a target is reported, never an
// error; a failing command is (exit 1). Everything it attaches, mounts, starts or connects is
// undone in a finally block, also on Ctrl-C, and the state is checked to be clean after every
// round (workspace.mjs, with the integration harness's leak check, test/support/leaks.mjs).
// Writes nothing into the repository; --json puts the results on stdout (the table then goes to stderr).

import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseOptions } from './args.mjs';
import { CommandFailed, Interrupted, log, onPath, trapSignals } from './proc.mjs';
import { environment, printReport } from './report.mjs';
import { nbdHostSection, nbdVmSection, kernelHasNbd, vmLaneStatus } from './sections/qcow2-nbd.mjs';
import { storageDaemonSection } from './sections/qcow2-storage-daemon.mjs';
import { rawSection } from './sections/raw.mjs';
import { scaleSection } from './sections/scale.mjs';
import { startupSection } from './sections/startup.mjs';
import { CLI, TSC_CLI, assertClean, buildImage, cleanupWorkspace, createWorkspace } from './workspace.mjs';

/** Why qcow2-storage-daemon cannot run here, or false. */
function whyNoStorageDaemon(noQemuImg) {
  return noQemuImg || (!onPath('qemu-storage-daemon') && 'qemu-storage-daemon is not installed (apt-get install qemu-system-common)')
    || (!existsSync('/dev/fuse') && 'this kernel has no FUSE (/dev/fuse; modprobe fuse)');
}

/** Where qcow2-nbd runs ({ where: 'host' | 'vm', accel }), or { skip: why }. */
function whereNbd(noQemuImg) {
  if (kernelHasNbd()) {
    const why = noQemuImg || (!onPath('qemu-nbd') && 'qemu-nbd is not installed (apt-get install qemu-utils)')
      || (!onPath('qemu-storage-daemon') && 'qemu-storage-daemon is not installed (imgplan plan reads QEMU images through it)');
    return why ? { skip: `nbd: skipped — ${why}` } : { where: 'host' };
  }
  if (process.env.VMLANE === '1') return { skip: `nbd: skipped — no nbd in the VM lane's kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}` };
  const lane = vmLaneStatus();
  return lane.ready ? { where: 'vm', accel: lane.accel } : { skip: 'nbd: skipped — no nbd on this kernel and no VM lane (bash test/vm/lane/prepare.sh)' };
}

/** Which of the wanted sections run, and where (skipped ones are noted in res.skipped). */
function chooseSections(opts, res) {
  const noQemuImg = !onPath('qemu-img') && 'qemu-img is not installed (apt-get install qemu-utils)';
  const plan = { raw: opts.only.has('raw'), startup: opts.only.has('startup'), scale: opts.only.has('scale'), sd: false, nbd: null, accel: null };
  if (opts.only.has('qcow2-storage-daemon')) {
    const why = whyNoStorageDaemon(noQemuImg);
    if (why) res.skipped.push(`storage-daemon: skipped — ${why}`);
    else plan.sd = true;
  }
  if (opts.only.has('qcow2-nbd')) {
    const n = whereNbd(noQemuImg);
    if (n.skip) res.skipped.push(n.skip);
    plan.nbd = n.where ?? null;
    plan.accel = n.accel ?? null;
  }
  return plan;
}

/** Builds the image if a host section needs it, then runs the chosen sections; returns the QEMU version if QEMU ran. */
async function runSections(ws, opts, res, plan) {
  const qemu = plan.sd || plan.nbd === 'host';
  if (plan.raw || plan.startup || plan.scale || qemu) {
    buildImage(ws, { qemu });
    await assertClean(ws, 'after building the image (the writable loops must be gone)');
  }
  if (plan.raw) await rawSection(ws, opts, res);
  if (plan.startup) await startupSection(ws, opts, res);
  if (plan.scale) await scaleSection(ws, opts, res);
  const qemuVersion = qemu ? /version (\S+)/.exec(ws.bare(['qemu-img', '--version']).stdout)?.[1] ?? '?' : null;
  if (plan.sd) await storageDaemonSection(ws, opts, res);
  if (plan.nbd === 'host') await nbdHostSection(ws, opts, res);
  if (plan.nbd === 'vm') await nbdVmSection(opts, res, plan.accel);
  return qemuVersion;
}

/** The exit status for an error that stopped the run. */
function failureCode(e) {
  if (e instanceof Interrupted) {
    log(`bench: interrupted (${e.message})`);
    return 130;
  }
  log(e instanceof CommandFailed ? `bench: error: ${e.message}` : `bench: internal error: ${e?.stack ?? e}`);
  return 1;
}

async function main(opts) {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new CommandFailed('the benchmark needs root: it attaches loop devices and mounts filesystems (sudo node bench/run.mjs)');
  }
  for (const f of [CLI, TSC_CLI]) if (!existsSync(f)) throw new CommandFailed(`${f} is missing: run "npm run build" first (or use "npm run bench")`);
  if (Number(process.versions.node.split('.')[0]) < 22) {
    throw new CommandFailed(`the bundle needs Node.js 22+, this is ${process.version}: put .runtime/node/bin first on PATH (scripts/install-deps.sh fetches it)`);
  }
  const res = { pairs: [], notes: [], skipped: [], baselines: {}, probeMismatch: null, vmLane: null, scale: null, exitCode: 0 };
  const plan = chooseSections(opts, res);
  const ws = createWorkspace();
  const load0 = loadavg()[0];
  try {
    const qemuVersion = await runSections(ws, opts, res, plan);
    printReport(res, environment(ws, { load0, qemuVersion }), opts, ws.pkgVersion);
  } catch (e) {
    res.exitCode = failureCode(e);
  } finally {
    const left = await cleanupWorkspace(ws);
    if (left.length) {
      log(`bench: error: could not clean up:\n  ${left.join('\n  ')}`);
      res.exitCode ||= 1;
    }
  }
  return res.exitCode;
}

const opts = parseOptions(process.argv.slice(2));
trapSignals();
process.exitCode = await main(opts).catch(failureCode);
