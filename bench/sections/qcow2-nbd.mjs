// Section qcow2-nbd: "time to files" through qemu-nbd, on this host if its kernel has nbd,
// otherwise inside the VM lane (test/vm/lane), whose results join the table.

import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CommandFailed, Interrupted, NODE, checkpoint, interrupted, log, onPath, run, runStreaming, waitUntil } from '../proc.mjs';
import { REPO, readFiles } from '../workspace.mjs';
import { assertQemuApplied, lifecycleRounds, qemuPairs } from './common.mjs';

const VM_TIMEOUT_S = 900;

const BASELINES = {
  apply: ['qemu-nbd --read-only --format=qcow2 --pid-file=PID --connect=/dev/nbdN IMG', 'wait for /dev/nbdNp1 and p2 (poll 10 ms; blockdev --rereadpt /dev/nbdN if missing after 250 ms)',
    'mkdir -p P1 P2', 'mount -t ext4 -o ro,noload,nosuid,nodev,noexec /dev/nbdNpM P (x2)', 'read P1/hello.txt P2/hello.txt'],
  destroy: ['umount P (x2)', 'rmdir P1 P2 MNT', 'qemu-nbd --disconnect /dev/nbdN', 'wait until /sys/block/nbdN/pid is gone (poll 10 ms)'],
};

/** Whether this kernel has nbd (loaded, built in, or loadable). */
export function kernelHasNbd() {
  return existsSync('/sys/module/nbd') || run(['modprobe', '--dry-run', '--quiet', 'nbd'], { allowFail: true }).status === 0;
}

/** Whether the VM lane can run here: test/vm/lane/prepare.sh done (its stamp), and QEMU; with which accelerator. */
export function vmLaneStatus() {
  const lane = join(REPO, 'test', 'vm', 'lane');
  if (!existsSync(join(lane, 'run.sh')) || !existsSync(join(lane, 'prepare.sh')) || !existsSync(join(lane, 'guest-init'))) return { ready: false };
  if (!onPath('qemu-system-x86_64')) return { ready: false };
  const cache = process.env.IMGPLAN_VM_CACHE || '/var/cache/imgplan-vm';
  // prepare.sh marks a ready kernel folder with a stamp named after its own and guest-init's hash
  const stamp = `.ready-${createHash('sha256').update(readFileSync(join(lane, 'guest-init'))).update(readFileSync(join(lane, 'prepare.sh'))).digest('hex').slice(0, 12)}`;
  if (!existsSync(cache) || !readdirSync(cache).some((d) => existsSync(join(cache, d, stamp)))) return { ready: false };
  // the same choice as run.sh: KVM only with real VMX/SVM
  let kvm = false;
  try {
    accessSync('/dev/kvm', constants.W_OK);
    kvm = /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch { /* no usable /dev/kvm */ }
  return { ready: true, accel: kvm ? 'KVM' : 'TCG' };
}

/** The first nbd device that no server holds (no /sys/block/nbdN/pid). */
function freeNbd() {
  const n = readdirSync('/sys/block').filter((x) => /^nbd\d+$/.test(x)).map((x) => Number(x.slice(3))).sort((a, b) => a - b)
    .find((x) => !existsSync(`/sys/block/nbd${x}/pid`));
  if (n === undefined) throw new CommandFailed('every /dev/nbdN is connected: no free nbd device for the bare commands');
  return `/dev/nbd${n}`;
}

/** Loads nbd once, before any timing (neither side pays for it); it needs partition nodes. */
function loadNbd(ws) {
  if (!existsSync('/sys/module/nbd')) {
    ws.bare(['modprobe', 'nbd']);
    ws.nbdLoaded = true;
  }
  const maxPart = Number(readFileSync('/sys/module/nbd/parameters/max_part', 'utf8').trim());
  if (!(maxPart > 0)) throw new CommandFailed(`nbd is loaded with max_part=${maxPart}, so no partition nodes: reload it (modprobe -r nbd; modprobe nbd max_part=16)`);
}

/** Waits for dev's two partition nodes; without udev the kernel's scan at connect can lose a race, and then they never come: rereads once after 250 ms. */
function waitForPartitions(ws, dev, count) {
  const nodes = [`${dev}p1`, `${dev}p2`];
  const t0 = Date.now();
  let reread = false;
  count.applies++;
  waitUntil(() => {
    if (nodes.every((n) => existsSync(n))) return true;
    if (!reread && Date.now() - t0 > 250) {
      reread = true;
      count.rereads++;
      run(['blockdev', '--rereadpt', dev], { env: ws.baseEnv, cwd: ws.tmp, allowFail: true });
    }
    return false;
  }, nodes.join(' and '));
  return nodes;
}

/** The bare side: connect, wait for the partitions, mount, read; and back. */
function bareLifecycle(ws, count) {
  const { where, mnt, bare } = ws;
  return {
    apply: () => {
      bare(['qemu-nbd', '--read-only', '--format=qcow2', `--pid-file=${ws.bareNbdPid}`, `--connect=${ws.bareNbd}`, ws.qcow2]);
      const nodes = waitForPartitions(ws, ws.bareNbd, count);
      bare(['mkdir', '-p', ...where]);
      where.forEach((w, i) => bare(['mount', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', nodes[i], w]));
      readFiles(ws);
    },
    destroy: () => {
      for (const w of where) bare(['umount', w]);
      bare(['rmdir', ...where, mnt]);
      bare(['qemu-nbd', '--disconnect', ws.bareNbd]);
      waitUntil(() => !existsSync(`/sys/block/${ws.bareNbd.slice('/dev/'.length)}/pid`), `${ws.bareNbd} to be disconnected`);
    },
  };
}

/** Runs the qcow2-nbd section on this host; adds its two pairs, baselines and the rereadpt note to res. */
export async function nbdHostSection(ws, opts, res) {
  loadNbd(ws);
  const count = { rereads: 0, applies: 0 };
  const bareOps = bareLifecycle(ws, count);
  const samples = await lifecycleRounds(ws, opts, 'qcow2-nbd', {
    imgplanApply: () => { ws.imgplan('apply', '--auto-approve', ws.manifestNbd); readFiles(ws); },
    imgplanDestroy: () => ws.imgplan('destroy', '--auto-approve', ws.manifestNbd),
    beforeBare: () => { ws.bareNbd = freeNbd(); },
    bareApply: bareOps.apply,
    bareDestroy: bareOps.destroy,
    // qemu-nbd leaves its pid file behind; not part of what is timed
    afterBare: () => rmSync(ws.bareNbdPid, { force: true }),
    assertApplied: (who) => assertQemuApplied(ws, 'nbd', who),
  });
  const [applyPair, destroyPair] = qemuPairs('qcow2-nbd', 'nbd', samples);
  res.pairs.push({ ...applyPair, bareRereadpt: { needed: count.rereads, of: count.applies } }, destroyPair);
  if (count.rereads) res.notes.push(`bare nbd: the partition nodes needed blockdev --rereadpt in ${count.rereads} of ${count.applies} connects`);
  res.baselines.qcow2Nbd = BASELINES;
}

/** Adds the VM run's JSON (inner) to res: its pairs marked lane "vm", its notes and skips. */
function mergeVmResults(res, inner, accel, seconds) {
  res.vmLane = {
    kernel: inner.environment.kernel, accel, rounds: inner.rounds, warmup: inner.warmup, seconds,
    label: `in the VM lane: Debian kernel ${inner.environment.kernel} under ${accel}, both sides in the same VM`,
    environment: inner.environment,
  };
  res.pairs.push(...inner.pairs.map((p) => ({ ...p, lane: 'vm' })));
  res.skipped.push(...(inner.skipped ?? []));
  res.notes.push(...(inner.notes ?? []).map((n) => `${n} [VM lane]`));
  if (inner.baselines?.qcow2Nbd) res.baselines.qcow2Nbd = inner.baselines.qcow2Nbd;
}

/** Runs the qcow2-nbd section inside the VM lane (this bench, --only qcow2-nbd --json); a failure there sets res.exitCode 1. */
export async function nbdVmSection(opts, res, accel) {
  const argv = ['bash', join(REPO, 'test', 'vm', 'lane', 'run.sh'), '--timeout', String(VM_TIMEOUT_S), '--',
    NODE, join(REPO, 'bench', 'run.mjs'), '--only', 'qcow2-nbd', '--json', '--rounds', String(opts.vmRounds), '--warmup', String(opts.vmWarmup)];
  log(`bench: qcow2-nbd: this kernel has no nbd; running it in the VM lane (${accel}, ${opts.vmRounds} round(s) after ${opts.vmWarmup} warm-up): ${argv.slice(1).join(' ')}`);
  await checkpoint();
  const t0 = Date.now();
  const r = await runStreaming(argv, { cwd: REPO, prefix: '  vm| ' });
  const seconds = (Date.now() - t0) / 1000;
  if (interrupted()) throw new Interrupted(interrupted());
  let inner = null;
  try {
    inner = JSON.parse(r.stdout);
  } catch { /* reported below */ }
  if (r.status === 0 && inner) {
    mergeVmResults(res, inner, accel, seconds);
    return;
  }
  const why = r.error ? r.error.message : `run.sh exit ${r.status ?? r.signal}${r.status === 3 ? ' (the bench left something attached in the VM)' : ''}${!inner && r.status === 0 ? ', and no JSON on its stdout' : ''}`;
  res.skipped.push(`nbd: FAILED in the VM lane: ${why} (see the "vm|" lines above)`);
  res.exitCode = 1;
}
