#!/usr/bin/env node
// imgplan benchmark: imgplan against the bare commands it stands in for, on a real image.
//
//   npm run bench                      (builds first)
//   node bench/run.mjs [--rounds N] [--warmup N] [--json] [--only SECTION[,SECTION]] [--vm-rounds N] [--vm-warmup N]
//
// Needs root (loop devices, mounts). Builds a throw-away 2-partition MBR image with two ext4
// filesystems under a temp dir, then times, interleaved round by round:
//   raw:
//   apply     `imgplan apply --auto-approve`   vs  2x losetup --read-only --offset, mkdir -p, 2x mount
//   destroy   `imgplan destroy --auto-approve` vs  2x umount, rmdir, 2x losetup -d
//   plan      `imgplan plan`                   vs  the probe commands plan runs, one after another
//   --version `node dist/cli/main.js --version` vs `node -e 0`
//   qcow2-storage-daemon (the image converted to qcow2; apply until both files are read):
//   apply     imgplan apply vs  qemu-storage-daemon FUSE view, 2x losetup on it, mkdir -p, 2x mount
//   destroy   imgplan destroy vs  2x umount, rmdir, 2x losetup -d, pkill --pidfile, wait, rm view
//   qcow2-nbd (the same with qemu-nbd; inside the VM lane where this kernel has no nbd):
//   apply     imgplan apply vs  qemu-nbd --connect, wait for nbdNp1/p2, mkdir -p, 2x mount
//   destroy   imgplan destroy vs  2x umount, rmdir, qemu-nbd --disconnect, wait
// and prints the medians against the targets. Missing a target is reported, never an error;
// a failing command is (exit 1). Everything it attaches, mounts, starts or connects is undone in
// a finally block, also on Ctrl-C, and the state is checked to be clean after every round.
// Writes nothing into the repository; --json puts the results on stdout (the table then goes to stderr).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(REPO, 'dist', 'cli', 'main.js');
const NODE = process.execPath;
const TARGETS = { applyRatio: 1.3, destroyRatio: 1.3, planExtraMs: 300, versionExtraMs: 120, qcow2ApplyRatio: 1.3, qcow2DestroyRatio: 1.3 };
const CMD_TIMEOUT_MS = 120_000;
const SECTIONS = ['raw', 'qcow2-storage-daemon', 'qcow2-nbd'];
const VM_TIMEOUT_S = 900;

// ---------------------------------------------------------------- arguments

function usage(code) {
  (code ? process.stderr : process.stdout).write('usage: node bench/run.mjs [--rounds N] [--warmup N] [--json] [--only SECTION[,SECTION…]] [--vm-rounds N] [--vm-warmup N]\n' +
    '  --rounds N     timed rounds (default 7)\n  --warmup N     untimed rounds first (default 1)\n' +
    '  --json         print the results as JSON on stdout (the table goes to stderr)\n' +
    `  --only S       run only these sections: ${SECTIONS.join(', ')} or all (default all)\n` +
    '  --vm-rounds N  timed rounds of qcow2-nbd when it runs in the VM lane (default 3: TCG is slow)\n' +
    '  --vm-warmup N  untimed rounds first there (default 1)\n');
  process.exit(code);
}

function parseArgs(argv) {
  const o = { rounds: 7, warmup: 1, json: false, only: new Set(SECTIONS), vmRounds: 3, vmWarmup: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
    const num = (name) => {
      const v = value();
      const n = Number(v);
      const min = name === 'rounds' || name === 'vm-rounds' ? 1 : 0;
      if (!Number.isInteger(n) || n < min) {
        process.stderr.write(`bench: --${name} needs a whole number ≥ ${min}, got ${v}\n`);
        usage(2);
      }
      return n;
    };
    if (a === '--rounds' || a.startsWith('--rounds=')) o.rounds = num('rounds');
    else if (a === '--warmup' || a.startsWith('--warmup=')) o.warmup = num('warmup');
    else if (a === '--vm-rounds' || a.startsWith('--vm-rounds=')) o.vmRounds = num('vm-rounds');
    else if (a === '--vm-warmup' || a.startsWith('--vm-warmup=')) o.vmWarmup = num('vm-warmup');
    else if (a === '--only' || a.startsWith('--only=')) {
      const list = String(value() ?? '').split(',');
      const bad = list.filter((x) => x !== 'all' && !SECTIONS.includes(x));
      if (bad.length || !list.length) {
        process.stderr.write(`bench: --only takes ${SECTIONS.join(', ')} or all (comma-separated), got ${list.join(',')}\n`);
        usage(2);
      }
      o.only = new Set(list.includes('all') ? SECTIONS : list);
    } else if (a === '--json') o.json = true;
    else if (a === '-h' || a === '--help') usage(0);
    else {
      process.stderr.write(`bench: unknown argument ${a}\n`);
      usage(2);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (s) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------- signals

class Interrupted extends Error {}
let interrupted = null;
/** The VM lane's run.sh while it runs (asynchronously): stopped on a signal, its trap then stops the VM. */
let vmChild = null;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  // record only: the main loop notices at its next check and unwinds through the finally
  process.on(sig, () => {
    if (!interrupted) log(`\nbench: ${sig} received; cleaning up…`);
    interrupted = sig;
    if (vmChild && vmChild.exitCode === null) vmChild.kill('SIGTERM');
  });
}
/** Lets queued signal handlers run (spawnSync blocks the event loop), then stops if one did. */
async function checkpoint() {
  await new Promise((r) => setImmediate(r));
  if (interrupted) throw new Interrupted(interrupted);
}

// ---------------------------------------------------------------- processes

class CommandFailed extends Error {}

/** Runs argv (no shell), returns its output; throws unless it exits 0 (or allowFail). */
function run(argv, { env, input, cwd, allowFail = false } = {}) {
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd, env, input, encoding: 'utf8', timeout: CMD_TIMEOUT_MS, maxBuffer: 64 << 20,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  // imgplan catches a Ctrl-C itself (it undoes what it did) and exits 128 + the signal's number
  const signal = r.signal ?? { 129: 'SIGHUP', 130: 'SIGINT', 143: 'SIGTERM' }[r.status];
  if (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP') {
    if (!interrupted) log(`\nbench: ${argv[0] === NODE ? 'imgplan' : argv[0]} was ${r.signal ? 'killed by' : 'stopped by'} ${signal}; cleaning up…`);
    interrupted ??= signal;
    if (!allowFail) throw new Interrupted(signal);
  }
  if (r.error) {
    if (allowFail) return { ...r, stdout: r.stdout ?? '', stderr: String(r.error.message) };
    throw new CommandFailed(`${argv.join(' ')}: ${r.error.code === 'ENOENT' ? `${argv[0]} is not installed` : r.error.message}`);
  }
  if (r.status !== 0 && !allowFail) {
    const detail = (r.stderr || r.stdout || '').trim().split('\n').slice(-15).join('\n    ');
    throw new CommandFailed(`${argv.join(' ')}: exit ${r.status ?? r.signal}\n    ${detail || '(no output)'}`);
  }
  return r;
}

/** Wall time of fn() in ms, from process.hrtime.bigint. */
function timed(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Polls cond() every 10 ms (an admin's `while …; do sleep 0.01; done`); throws after timeoutMs. */
function waitUntil(cond, what, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new CommandFailed(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    sleepMs(10);
  }
}

/** Whether a program is on PATH. */
function onPath(prog) {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && existsSync(join(d, prog)));
}

// ---------------------------------------------------------------- state inspection

function unescapeMountinfo(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount targets at or under dir, deepest first. */
function mountsUnder(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-', 6);
      return { target: unescapeMountinfo(f[4]), options: f[5], fstype: f[sep + 1], source: unescapeMountinfo(f[sep + 2] ?? '') };
    })
    .filter((m) => m.target === dir || m.target.startsWith(`${dir}/`))
    .sort((a, b) => b.target.length - a.target.length);
}

/** Loop devices backed by the image file, per `losetup -j IMG`. */
function loopsOf(img) {
  if (!existsSync(img)) return [];
  const r = run(['losetup', '-j', img], { allowFail: true });
  if (r.error?.code === 'ENOENT') return []; // without losetup, this run cannot have attached anything
  if (r.status !== 0) throw new CommandFailed(`losetup -j ${img}: ${(r.stderr || '').trim()}`);
  return r.stdout.split('\n').map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1]).filter(Boolean);
}

/** Loop devices whose backing file is under dir (images, FUSE views), with offset, size limit and read-only flag. */
function loopsUnder(dir) {
  const r = run(['losetup', '--list', '--json', '--output', 'NAME,BACK-FILE,OFFSET,SIZELIMIT,RO'], { allowFail: true });
  if (r.error?.code === 'ENOENT') return [];
  if (r.status !== 0) throw new CommandFailed(`losetup --list: ${(r.stderr || '').trim()}`);
  return (JSON.parse(r.stdout || '{"loopdevices":[]}').loopdevices ?? [])
    .filter((d) => (d['back-file'] ?? '').startsWith(`${dir}/`))
    .map((d) => ({ name: d.name, file: d['back-file'], offset: Number(d.offset), sizelimit: Number(d.sizelimit), ro: d.ro === true || d.ro === '1' || d.ro === 1 }));
}

/** Whether a process exists and is not a zombie. */
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** qemu-storage-daemon and qemu-nbd processes whose command line names a path under dir. */
function qemuProcsUnder(dir) {
  const out = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let args;
    try {
      args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const prog = (args[0] ?? '').split('/').pop();
    if ((prog === 'qemu-storage-daemon' || prog === 'qemu-nbd') && args.some((a) => a.includes(`${dir}/`)) && alive(Number(p))) {
      out.push({ pid: Number(p), prog, args: args.filter(Boolean) });
    }
  }
  return out;
}

/** Connected nbd devices and their server process (the kernel names its client thread: its Tgid is the process). */
function nbdConnections() {
  if (!existsSync('/sys/block')) return [];
  const read = (f) => { try { return readFileSync(f, 'utf8'); } catch { return undefined; } };
  return readdirSync('/sys/block').filter((n) => /^nbd\d+$/.test(n)).flatMap((n) => {
    const tid = read(`/sys/block/${n}/pid`)?.trim();
    if (!tid) return [];
    const tgid = /^Tgid:\s*(\d+)$/m.exec(read(`/proc/${tid}/status`) ?? '')?.[1];
    return [{ dev: `/dev/${n}`, name: n, pid: tgid && Number(tgid), cmdline: (tgid && read(`/proc/${tgid}/cmdline`)) || '' }];
  });
}

/** The first nbd device that no server holds (no /sys/block/nbdN/pid). */
function freeNbd() {
  const n = readdirSync('/sys/block').filter((x) => /^nbd\d+$/.test(x)).map((x) => Number(x.slice(3))).sort((a, b) => a - b)
    .find((x) => !existsSync(`/sys/block/nbd${x}/pid`));
  if (n === undefined) throw new CommandFailed('every /dev/nbdN is connected: no free nbd device for the bare commands');
  return `/dev/nbd${n}`;
}

/** Whether this kernel has nbd (loaded, built in, or loadable). */
function kernelHasNbd() {
  return existsSync('/sys/module/nbd') || run(['modprobe', '--dry-run', '--quiet', 'nbd'], { allowFail: true }).status === 0;
}

/** Whether the VM lane can run here: test/vm/lane/prepare.sh done (its stamp), and QEMU. */
function vmLaneStatus() {
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

/** Runs argv (no shell) asynchronously: stdout collected, stderr passed on line by line with a prefix. */
function runStreaming(argv, { cwd, prefix }) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    vmChild = child;
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      const lines = err.split('\n');
      err = lines.pop();
      for (const l of lines) process.stderr.write(`${prefix}${l}\n`);
    });
    child.on('error', (e) => { vmChild = null; resolve({ status: null, error: e, stdout: out }); });
    child.on('close', (status, signal) => {
      vmChild = null;
      if (err) process.stderr.write(`${prefix}${err}\n`);
      resolve({ status, signal, stdout: out });
    });
  });
}

/** Loop devices backed by a file or device, per `losetup -j`, with the same details as loopsUnder. */
function loopDetailsOf(file) {
  const names = new Set(loopsOf(file));
  return names.size ? loopsUnder(dirname(file)).filter((l) => names.has(l.name)) : [];
}

function loopDetails(img) {
  const names = new Set(loopsOf(img));
  const j = JSON.parse(run(['losetup', '--list', '--json', '--output', 'NAME,OFFSET,SIZELIMIT,RO']).stdout || '{"loopdevices":[]}');
  return (j.loopdevices ?? []).filter((d) => names.has(d.name))
    .map((d) => ({ name: d.name, offset: Number(d.offset), sizelimit: Number(d.sizelimit), ro: d.ro === true || d.ro === '1' || d.ro === 1 }));
}

// ---------------------------------------------------------------- stats

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs.map((x) => Math.round(x * 100) / 100) });

// ---------------------------------------------------------------- main

let nbdLoadedByBench = false;

async function main() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new CommandFailed('the benchmark needs root: it attaches loop devices and mounts filesystems (sudo node bench/run.mjs)');
  }
  if (!existsSync(CLI)) throw new CommandFailed(`${CLI} is missing: run "npm run build" first (or use "npm run bench")`);
  const osRelease = () => readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const probes = await import(pathToFileURL(join(REPO, 'dist', 'probe', 'commands.js')).href);

  // ------------------------------------------------ 0. which sections run, and where
  const want = opts.only;
  const skipped = [];
  const runRaw = want.has('raw');
  let runSd = want.has('qcow2-storage-daemon');
  let nbdWhere = null; // 'host' or 'vm'
  let vmAccel = null;
  const noQemuImg = !onPath('qemu-img') && 'qemu-img is not installed (apt-get install qemu-utils)';
  if (runSd) {
    const why = noQemuImg || (!onPath('qemu-storage-daemon') && 'qemu-storage-daemon is not installed (apt-get install qemu-system-common)')
      || (!existsSync('/dev/fuse') && 'this kernel has no FUSE (/dev/fuse; modprobe fuse)');
    if (why) {
      skipped.push(`storage-daemon: skipped — ${why}`);
      runSd = false;
    }
  }
  if (want.has('qcow2-nbd')) {
    if (kernelHasNbd()) {
      const why = noQemuImg || (!onPath('qemu-nbd') && 'qemu-nbd is not installed (apt-get install qemu-utils)')
        || (!onPath('qemu-storage-daemon') && 'qemu-storage-daemon is not installed (imgplan plan reads QEMU images through it)');
      if (why) skipped.push(`nbd: skipped — ${why}`);
      else nbdWhere = 'host';
    } else if (process.env.VMLANE === '1') {
      skipped.push(`nbd: skipped — no nbd in the VM lane's kernel ${osRelease()}`);
    } else {
      const lane = vmLaneStatus();
      if (lane.ready) {
        nbdWhere = 'vm';
        vmAccel = lane.accel;
      } else skipped.push('nbd: skipped — no nbd on this kernel and no VM lane (bash test/vm/lane/prepare.sh)');
    }
  }
  const needImage = runRaw || runSd || nbdWhere === 'host';

  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'imgplan-bench-')));
  const img = join(tmp, 'disk.img');
  const qcow2 = join(tmp, 'disk.qcow2');
  const manifest = join(tmp, 'imgplan.yaml');
  const manifestSd = join(tmp, 'qcow2-storage-daemon.yaml');
  const manifestNbd = join(tmp, 'qcow2-nbd.yaml');
  const stateDir = join(tmp, 'state'); // imgplan's journal lives here, so the temp dir takes it along
  const mnt = join(tmp, 'mnt');
  const where = [join(mnt, 'p1'), join(mnt, 'p2')];
  const content = ['bench file in partition 1\n', 'bench file in partition 2\n'];
  // the bare commands' own view, pid files and nbd device
  const bareDir = join(tmp, 'bare');
  const bareView = join(bareDir, 'disk.raw');
  const barePid = join(bareDir, 'disk.pid');
  const bareNbdPid = join(bareDir, 'nbd.pid');
  let bareNbd = null;
  const usedNbd = new Set(); // every nbd device either side connected
  const baseEnv = { ...process.env, LC_ALL: 'C' }; // what imgplan's runner gives its children
  const imgplanEnv = { ...process.env, IMGPLAN_STATE_DIR: stateDir };
  delete imgplanEnv.IMGPLAN_DEBUG;
  const imgplan = (...args) => run([NODE, CLI, ...args], { env: imgplanEnv, cwd: tmp });
  const bare = (argv) => run(argv, { env: baseEnv, cwd: tmp });
  const pkgVersion = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version;
  const pairs = [];
  const notes = [];
  const baselines = {};
  const load0 = loadavg()[0];
  let probeMismatch = null;
  let vmLane = null;
  let exitCode = 0;

  try {
    // ------------------------------------------------ 1. the image and the manifests
    let parts = [];
    const manifestText = (file, format, extra) => [
      '# written by bench/run.mjs',
      'version: 1',
      'images:',
      '  disk:',
      `    file: ${JSON.stringify(file)}`,
      `    format: ${format}`,
      ...extra,
      'mounts:',
      ...where.flatMap((w, i) => [`  - what: disk/part${i + 1}`, `    where: ${JSON.stringify(w)}`, '    type: ext4']),
      '',
    ].join('\n');
    if (needImage) {
      log(`bench: building a 2-partition image in ${tmp}`);
      writeFileSync(img, '');
      truncateSync(img, 64 << 20);
      run(['sfdisk', '--quiet', img], { env: baseEnv, input: 'label: dos\n,24MiB,83\n,24MiB,83\n' });
      const table = JSON.parse(bare(['sfdisk', '--json', img]).stdout).partitiontable;
      const sector = table.sectorsize ?? 512;
      parts = table.partitions.map((p) => ({ offset: p.start * sector, size: p.size * sector }));
      if (parts.length !== 2) throw new CommandFailed(`sfdisk made ${parts.length} partitions, expected 2`);
      for (const [i, p] of parts.entries()) {
        const seed = join(tmp, `seed${i + 1}`);
        mkdirSync(seed);
        writeFileSync(join(seed, 'hello.txt'), content[i]);
        // a temporary writable offset loop, detached right after mkfs has filled it
        const dev = bare(['losetup', '--find', '--show', '--offset', String(p.offset), '--sizelimit', String(p.size), img]).stdout.trim();
        try {
          bare(['mkfs.ext4', '-q', '-F', '-L', `bench${i + 1}`, '-d', seed, dev]);
        } finally {
          run(['losetup', '--detach', dev], { env: baseEnv, allowFail: true });
        }
        rmSync(seed, { recursive: true });
      }
      writeFileSync(manifest, manifestText(img, 'raw', []));
      if (runSd || nbdWhere === 'host') {
        bare(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', img, qcow2]);
        writeFileSync(manifestSd, manifestText(qcow2, 'qcow2', ['    qemu_backend: storage-daemon']));
        writeFileSync(manifestNbd, manifestText(qcow2, 'qcow2', ['    qemu_backend: nbd']));
        mkdirSync(bareDir);
      }
    }

    const journalDir = join(stateDir, 'journal');
    const filesIn = (dir) => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))) : []);
    const benchNbd = () => nbdConnections().filter((c) => c.cmdline.includes(`${tmp}/`) || c.dev === bareNbd);
    const assertClean = (when) => {
      const problems = [];
      const loops = loopsOf(img);
      if (loops.length) problems.push(`loops still attached: ${loops.join(', ')}`);
      const viewLoops = [...loopsUnder(tmp), ...[...usedNbd].flatMap((d) => loopDetailsOf(d))].filter((l) => !loops.includes(l.name));
      if (viewLoops.length) problems.push(`loops still attached: ${viewLoops.map((l) => `${l.name} (${l.file})`).join(', ')}`);
      const m = mountsUnder(tmp);
      if (m.length) problems.push(`still mounted: ${m.map((x) => x.target).join(', ')}`);
      if (existsSync(mnt)) problems.push(`${mnt} still exists`);
      for (const f of filesIn(journalDir).filter((x) => x.endsWith('.json'))) {
        const j = JSON.parse(readFileSync(f, 'utf8'));
        if (j.entries?.length) problems.push(`journal ${f} still lists ${j.entries.length} object(s)`);
      }
      // a server exits a moment after it let go of its device or view
      let procs = qemuProcsUnder(tmp);
      for (let i = 0; i < 300 && procs.length; i++) {
        sleepMs(10);
        procs = qemuProcsUnder(tmp);
      }
      if (procs.length) problems.push(`still running: ${procs.map((p) => `${p.prog} (pid ${p.pid})`).join(', ')}`);
      const conns = benchNbd();
      if (conns.length) problems.push(`nbd still connected: ${conns.map((c) => c.dev).join(', ')}`);
      // imgplan's views and pid files (its exports and plan's probe exports), and the bare ones
      const files = [...filesIn(join(stateDir, 'exports')), ...filesIn(join(stateDir, 'probe')), bareView, barePid].filter((f) => existsSync(f) && !readdirSafe(f));
      if (files.length) problems.push(`left behind: ${files.join(', ')}`);
      if (problems.length) throw new CommandFailed(`state not clean ${when}:\n    ${problems.join('\n    ')}`);
    };
    const readFiles = () => where.forEach((w, i) => {
      if (readFileSync(join(w, 'hello.txt'), 'utf8') !== content[i]) throw new CommandFailed(`${w}/hello.txt has the wrong content`);
    });
    if (needImage) assertClean('after building the image (the writable loops must be gone)');

    // ------------------------------------------------ 2. raw: apply, destroy, plan, --version
    if (runRaw) {
      const assertApplied = (who) => {
        const loops = loopDetails(img);
        const bad = [];
        for (const p of parts) {
          if (!loops.some((l) => l.offset === p.offset && l.sizelimit === p.size && l.ro)) bad.push(`no read-only loop at offset ${p.offset}`);
        }
        if (loops.length !== 2) bad.push(`${loops.length} loops instead of 2`);
        const m = mountsUnder(tmp);
        for (const [i, w] of where.entries()) {
          const mm = m.find((x) => x.target === w);
          if (!mm) bad.push(`${w} not mounted`);
          else if (!mm.options.split(',').includes('ro')) bad.push(`${w} not mounted read-only`);
          else if (readFileSync(join(w, 'hello.txt'), 'utf8') !== content[i]) bad.push(`${w}/hello.txt has the wrong content`);
        }
        if (bad.length) throw new CommandFailed(`after ${who} apply:\n    ${bad.join('\n    ')}`);
      };

      // the probe baseline: what `imgplan plan` runs
      const expected = [
        probes.LSBLK.argv, probes.LOSETUP.argv, probes.FINDMNT.argv,
        ...(existsSync(`/boot/config-${osRelease()}`) ? [] : [probes.KALLSYMS_PARSERS.argv]),
        probes.sfdisk(img).argv,
        probes.blkid(img).argv,
        ...parts.map((p) => probes.blkid(img, p).argv),
      ];
      // check it against the commands plan really runs, from its debug trace
      const traced = run([NODE, CLI, 'plan', manifest], { env: { ...imgplanEnv, IMGPLAN_DEBUG: '1' }, cwd: tmp }).stderr
        .split('\n').map((l) => /^debug: \$ (.*?) {2}→/.exec(l)?.[1]).filter(Boolean);
      probeMismatch = JSON.stringify(traced) !== JSON.stringify(expected.map((a) => a.join(' ')));
      const probeArgvs = expected;
      if (probeMismatch) {
        log('bench: warning: the probe baseline differs from what `imgplan plan` ran:');
        log(`  baseline: ${probeArgvs.map((a) => a.join(' ')).join('\n            ')}`);
        log(`  plan ran: ${traced.join('\n            ')}`);
      }

      // the measured operations
      let bareDevs = [];
      const ops = {
        imgplanApply: () => imgplan('apply', '--auto-approve', manifest),
        imgplanDestroy: () => imgplan('destroy', '--auto-approve', manifest),
        bareApply: () => {
          bareDevs = parts.map((p) => bare(['losetup', '--find', '--show', '--read-only', '--offset', String(p.offset), '--sizelimit', String(p.size), img]).stdout.trim());
          bare(['mkdir', '-p', ...where]);
          where.forEach((w, i) => bare(['mount', '-t', 'ext4', '-o', 'ro,noload', bareDevs[i], w]));
        },
        bareDestroy: () => {
          for (const w of where) bare(['umount', w]);
          bare(['rmdir', ...where, mnt]);
          for (const d of bareDevs) bare(['losetup', '--detach', d]);
          bareDevs = [];
        },
        imgplanPlan: () => imgplan('plan', manifest),
        // probes exit non-zero by design (grep: no parser symbol; blkid: no signature), as in imgplan
        probes: () => { for (const a of probeArgvs) run(a, { env: baseEnv, cwd: tmp, allowFail: true }); },
        imgplanVersion: () => {
          const v = imgplan('--version').stdout.trim();
          if (v !== pkgVersion) throw new CommandFailed(`imgplan --version printed ${JSON.stringify(v)}, expected ${pkgVersion}`);
        },
        nodeBare: () => run([NODE, '-e', '0'], { env: imgplanEnv, cwd: tmp }),
      };
      const samples = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
      const total = opts.warmup + opts.rounds;
      for (let r = 0; r < total; r++) {
        const warm = r < opts.warmup;
        const keep = (k, ms) => { if (!warm) samples[k].push(ms); };
        // ABBA: even rounds imgplan first, odd rounds the baseline first
        const flip = r % 2 === 1;
        const lifecycle = [
          () => { keep('imgplanApply', timed(ops.imgplanApply)); assertApplied('imgplan'); },
          () => { keep('imgplanDestroy', timed(ops.imgplanDestroy)); assertClean('after imgplan destroy'); },
          () => { keep('bareApply', timed(ops.bareApply)); assertApplied('bare'); },
          () => { keep('bareDestroy', timed(ops.bareDestroy)); assertClean('after the bare destroy'); },
        ];
        const steps = [
          ...(flip ? [...lifecycle.slice(2), ...lifecycle.slice(0, 2)] : lifecycle),
          ...(flip ? [() => keep('probes', timed(ops.probes)), () => keep('imgplanPlan', timed(ops.imgplanPlan))]
            : [() => keep('imgplanPlan', timed(ops.imgplanPlan)), () => keep('probes', timed(ops.probes))]),
          ...(flip ? [() => keep('nodeBare', timed(ops.nodeBare)), () => keep('imgplanVersion', timed(ops.imgplanVersion))]
            : [() => keep('imgplanVersion', timed(ops.imgplanVersion)), () => keep('nodeBare', timed(ops.nodeBare))]),
        ];
        for (const step of steps) {
          await checkpoint();
          step();
        }
        assertClean(`after round ${r + 1}`);
        log(`bench: ${warm ? `warm-up ${r + 1}/${opts.warmup}` : `round ${r + 1 - opts.warmup}/${opts.rounds}`} done, state clean`);
      }
      pairs.push(
        ratioPair('raw', 'apply --auto-approve', samples.imgplanApply, samples.bareApply, TARGETS.applyRatio, 'bare'),
        ratioPair('raw', 'destroy --auto-approve', samples.imgplanDestroy, samples.bareDestroy, TARGETS.destroyRatio, 'bare'),
        diffPair('raw', 'plan', samples.imgplanPlan, samples.probes, TARGETS.planExtraMs, 'probes'),
        diffPair('raw', '--version', samples.imgplanVersion, samples.nodeBare, TARGETS.versionExtraMs, 'node -e 0'),
      );
      baselines.apply = ['losetup --find --show --read-only --offset O --sizelimit S IMG (x2)', 'mkdir -p P1 P2', 'mount -t ext4 -o ro,noload DEV P (x2)'];
      baselines.destroy = ['umount P (x2)', 'rmdir P1 P2 MNT', 'losetup --detach DEV (x2)'];
      baselines.probes = probeArgvs.map((a) => a.join(' '));
      baselines.version = ['node -e 0'];
    }

    // ------------------------------------------------ 3. qcow2: time to files, through either QEMU backend
    /** ABBA rounds of imgplan apply/destroy against the bare commands, each checked; returns the samples. */
    const lifecycleRounds = async (section, o) => {
      const samples = { imgplanApply: [], imgplanDestroy: [], bareApply: [], bareDestroy: [] };
      const total = opts.warmup + opts.rounds;
      for (let r = 0; r < total; r++) {
        const warm = r < opts.warmup;
        const keep = (k, ms) => { if (!warm) samples[k].push(ms); };
        const lifecycle = [
          () => { keep('imgplanApply', timed(o.imgplanApply)); o.assertApplied('imgplan'); },
          () => { keep('imgplanDestroy', timed(o.imgplanDestroy)); assertClean(`after imgplan destroy (${section})`); },
          () => { o.beforeBare?.(); keep('bareApply', timed(o.bareApply)); o.assertApplied('bare'); },
          () => { keep('bareDestroy', timed(o.bareDestroy)); o.afterBare?.(); assertClean(`after the bare destroy (${section})`); },
        ];
        for (const step of r % 2 === 1 ? [...lifecycle.slice(2), ...lifecycle.slice(0, 2)] : lifecycle) {
          await checkpoint();
          step();
        }
        assertClean(`after ${section} round ${r + 1}`);
        log(`bench: ${section} ${warm ? `warm-up ${r + 1}/${opts.warmup}` : `round ${r + 1 - opts.warmup}/${opts.rounds}`} done, state clean`);
      }
      return samples;
    };
    const assertQemuApplied = (backend, who) => {
      const bad = [];
      const server = backend === 'nbd' ? 'qemu-nbd' : 'qemu-storage-daemon';
      const procs = qemuProcsUnder(tmp);
      if (procs.length !== 1 || procs[0].prog !== server) bad.push(`expected one ${server} of the bench, found ${procs.map((p) => `${p.prog} (pid ${p.pid})`).join(', ') || 'none'}`);
      const loops = loopsUnder(tmp);
      const conns = benchNbd();
      if (backend === 'storage-daemon') {
        for (const p of parts) {
          if (!loops.some((l) => l.offset === p.offset && l.sizelimit === p.size && l.ro && l.file !== img)) bad.push(`no read-only loop on the view at offset ${p.offset}`);
        }
        if (loops.length !== 2) bad.push(`${loops.length} loops instead of 2`);
        if (conns.length) bad.push(`nbd connected: ${conns.map((c) => c.dev).join(', ')}`);
      } else {
        if (loops.length) bad.push(`loops attached: ${loops.map((l) => l.name).join(', ')}`);
        for (const c of conns) usedNbd.add(c.dev);
        if (conns.length !== 1) bad.push(`${conns.length} nbd connections instead of 1`);
        else if (readFileSync(`/sys/block/${conns[0].name}/ro`, 'utf8').trim() !== '1') bad.push(`${conns[0].dev} is not read-only`);
      }
      const m = mountsUnder(tmp);
      const source = backend === 'nbd' ? /^\/dev\/nbd\d+p[12]$/ : /^\/dev\/loop\d+$/;
      for (const w of where) {
        const mm = m.find((x) => x.target === w);
        if (!mm) bad.push(`${w} not mounted`);
        else if (!mm.options.split(',').includes('ro')) bad.push(`${w} not mounted read-only`);
        else if (!source.test(mm.source)) bad.push(`${w} is mounted from ${mm.source}`);
      }
      if (bad.length) throw new CommandFailed(`after ${who} apply (qcow2 ${backend}):\n    ${bad.join('\n    ')}`);
    };
    const qemuPairs = (section, backend, samples) => [
      ratioPair(section, `qcow2 ${backend} apply → files`, samples.imgplanApply, samples.bareApply, TARGETS.qcow2ApplyRatio, 'bare'),
      ratioPair(section, `qcow2 ${backend} destroy`, samples.imgplanDestroy, samples.bareDestroy, TARGETS.qcow2DestroyRatio, 'bare'),
    ];
    let qemuVersion = null;
    if (runSd || nbdWhere === 'host') qemuVersion = /version (\S+)/.exec(bare(['qemu-img', '--version']).stdout)?.[1] ?? '?';

    if (runSd) {
      let devs = [];
      const samples = await lifecycleRounds('qcow2-storage-daemon', {
        imgplanApply: () => { imgplan('apply', '--auto-approve', manifestSd); readFiles(); },
        imgplanDestroy: () => imgplan('destroy', '--auto-approve', manifestSd),
        bareApply: () => {
          bare(['install', '-D', '-m', '0600', '/dev/null', bareView]);
          bare(['qemu-storage-daemon',
            '--blockdev', `driver=file,node-name=file0,filename=${qcow2},read-only=on`,
            '--blockdev', 'driver=qcow2,node-name=disk0,file=file0,read-only=on',
            '--export', `type=fuse,id=view0,node-name=disk0,mountpoint=${bareView},writable=off`,
            '--pidfile', barePid, '--daemonize']);
          devs = parts.map((p) => bare(['losetup', '--find', '--show', '--read-only', '--offset', String(p.offset), '--sizelimit', String(p.size), bareView]).stdout.trim());
          bare(['mkdir', '-p', ...where]);
          where.forEach((w, i) => bare(['mount', '-t', 'ext4', '-o', 'ro,noload', devs[i], w]));
          readFiles();
        },
        bareDestroy: () => {
          for (const w of where) bare(['umount', w]);
          bare(['rmdir', ...where, mnt]);
          for (const d of devs) bare(['losetup', '--detach', d]);
          bare(['pkill', '--pidfile', barePid, '--logpidfile']);
          // the daemon removes its pid file and unmounts its view itself
          waitUntil(() => !existsSync(barePid), `qemu-storage-daemon to remove ${barePid}`);
          bare(['rm', bareView]);
          devs = [];
        },
        assertApplied: (who) => assertQemuApplied('storage-daemon', who),
      });
      pairs.push(...qemuPairs('qcow2-storage-daemon', 'storage-daemon', samples));
      baselines.qcow2StorageDaemon = {
        apply: ['install -D -m 0600 /dev/null VIEW',
          'qemu-storage-daemon --blockdev driver=file,node-name=file0,filename=IMG,read-only=on --blockdev driver=qcow2,node-name=disk0,file=file0,read-only=on --export type=fuse,id=view0,node-name=disk0,mountpoint=VIEW,writable=off --pidfile PID --daemonize',
          'losetup --find --show --read-only --offset O --sizelimit S VIEW (x2)', 'mkdir -p P1 P2', 'mount -t ext4 -o ro,noload DEV P (x2)', 'read P1/hello.txt P2/hello.txt'],
        destroy: ['umount P (x2)', 'rmdir P1 P2 MNT', 'losetup --detach DEV (x2)', 'pkill --pidfile PID --logpidfile', 'wait until PID is gone (poll 10 ms)', 'rm VIEW'],
      };
    }

    if (nbdWhere === 'host') {
      // loaded once, before any timing: neither side pays for it
      if (!existsSync('/sys/module/nbd')) {
        bare(['modprobe', 'nbd']);
        nbdLoadedByBench = true;
      }
      const maxPart = Number(readFileSync('/sys/module/nbd/parameters/max_part', 'utf8').trim());
      if (!(maxPart > 0)) throw new CommandFailed(`nbd is loaded with max_part=${maxPart}, so no partition nodes: reload it (modprobe -r nbd; modprobe nbd max_part=16)`);
      let rereads = 0;
      let bareApplies = 0;
      const samples = await lifecycleRounds('qcow2-nbd', {
        imgplanApply: () => { imgplan('apply', '--auto-approve', manifestNbd); readFiles(); },
        imgplanDestroy: () => imgplan('destroy', '--auto-approve', manifestNbd),
        beforeBare: () => { bareNbd = freeNbd(); },
        bareApply: () => {
          bare(['qemu-nbd', '--read-only', '--format=qcow2', `--pid-file=${bareNbdPid}`, `--connect=${bareNbd}`, qcow2]);
          const nodes = [`${bareNbd}p1`, `${bareNbd}p2`];
          const t0 = Date.now();
          let reread = false;
          bareApplies++;
          waitUntil(() => {
            if (nodes.every((n) => existsSync(n))) return true;
            // without udev the kernel's scan at connect can lose a race, and then the nodes never come
            if (!reread && Date.now() - t0 > 250) {
              reread = true;
              rereads++;
              run(['blockdev', '--rereadpt', bareNbd], { env: baseEnv, cwd: tmp, allowFail: true });
            }
            return false;
          }, nodes.join(' and '));
          bare(['mkdir', '-p', ...where]);
          where.forEach((w, i) => bare(['mount', '-t', 'ext4', '-o', 'ro,noload', nodes[i], w]));
          readFiles();
        },
        bareDestroy: () => {
          for (const w of where) bare(['umount', w]);
          bare(['rmdir', ...where, mnt]);
          bare(['qemu-nbd', '--disconnect', bareNbd]);
          waitUntil(() => !existsSync(`/sys/block/${bareNbd.slice('/dev/'.length)}/pid`), `${bareNbd} to be disconnected`);
        },
        // qemu-nbd leaves its pid file behind; not part of what is timed
        afterBare: () => rmSync(bareNbdPid, { force: true }),
        assertApplied: (who) => assertQemuApplied('nbd', who),
      });
      const [applyPair, destroyPair] = qemuPairs('qcow2-nbd', 'nbd', samples);
      pairs.push({ ...applyPair, bareRereadpt: { needed: rereads, of: bareApplies } }, destroyPair);
      if (rereads) notes.push(`bare nbd: the partition nodes needed blockdev --rereadpt in ${rereads} of ${bareApplies} connects`);
      baselines.qcow2Nbd = nbdBaselines;
    }

    if (nbdWhere === 'vm') {
      const argv = ['bash', join(REPO, 'test', 'vm', 'lane', 'run.sh'), '--timeout', String(VM_TIMEOUT_S), '--',
        NODE, join(REPO, 'bench', 'run.mjs'), '--only', 'qcow2-nbd', '--json', '--rounds', String(opts.vmRounds), '--warmup', String(opts.vmWarmup)];
      log(`bench: qcow2-nbd: this kernel has no nbd; running it in the VM lane (${vmAccel}, ${opts.vmRounds} round(s) after ${opts.vmWarmup} warm-up): ${argv.slice(1).join(' ')}`);
      await checkpoint();
      const t0 = Date.now();
      const r = await runStreaming(argv, { cwd: REPO, prefix: '  vm| ' });
      const seconds = (Date.now() - t0) / 1000;
      if (interrupted) throw new Interrupted(interrupted);
      let inner = null;
      try {
        inner = JSON.parse(r.stdout);
      } catch { /* reported below */ }
      if (r.status !== 0 || !inner) {
        const why = r.error ? r.error.message : `run.sh exit ${r.status ?? r.signal}${r.status === 3 ? ' (the bench left something attached in the VM)' : ''}${!inner && r.status === 0 ? ', and no JSON on its stdout' : ''}`;
        skipped.push(`nbd: FAILED in the VM lane: ${why} (see the "vm|" lines above)`);
        exitCode = 1;
      } else {
        vmLane = {
          kernel: inner.environment.kernel, accel: vmAccel, rounds: inner.rounds, warmup: inner.warmup, seconds,
          label: `in the VM lane: Debian kernel ${inner.environment.kernel} under ${vmAccel}, both sides in the same VM`,
          environment: inner.environment,
        };
        pairs.push(...inner.pairs.map((p) => ({ ...p, lane: 'vm' })));
        skipped.push(...(inner.skipped ?? []));
        notes.push(...(inner.notes ?? []).map((n) => `${n} [VM lane]`));
        if (inner.baselines?.qcow2Nbd) baselines.qcow2Nbd = inner.baselines.qcow2Nbd;
      }
    }

    // ------------------------------------------------ report
    const env = {
      node: process.version,
      utilLinux: run(['losetup', '--version'], { env: baseEnv }).stdout.trim().replace(/^losetup from (util-linux )?/, ''),
      kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
      cpus: cpus().length,
      loadavg1m: { start: load0, end: loadavg()[0] },
      ...(qemuVersion ? { qemu: qemuVersion } : {}),
    };

    const fmt = (x) => x.toFixed(1);
    const label = (p) => `${p.name}${p.lane === 'vm' ? ' [VM lane]' : ''}`;
    const rows = [['pair', 'imgplan ms', 'baseline', 'baseline ms', 'imgplan vs baseline', 'target', 'result']];
    for (const p of pairs) {
      rows.push([label(p), fmt(p.imgplan.median), p.baseline.what, fmt(p.baseline.median),
        p.ratio !== undefined ? `${p.ratio.toFixed(2)}×` : `${p.diffMs >= 0 ? '+' : ''}${fmt(p.diffMs)} ms`, p.target, p.meets ? 'meets' : 'misses']);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    const numeric = new Set([1, 3]);
    const line = (row) => row.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
    const text = [
      '',
      `imgplan ${pkgVersion} bench: medians of ${opts.rounds} round(s) after ${opts.warmup} warm-up, interleaved (ABBA)`,
      `node ${env.node}, util-linux ${env.utilLinux}, kernel ${env.kernel}, ${env.cpus} CPU(s), load ${env.loadavg1m.start.toFixed(2)} → ${env.loadavg1m.end.toFixed(2)}${env.qemu ? `, QEMU ${env.qemu}` : ''}`,
      ...(vmLane ? [`[VM lane] = ${vmLane.label}: ${vmLane.rounds} round(s) after ${vmLane.warmup} warm-up (fewer than on the host: TCG is slow), ${fmt(vmLane.seconds)} s with the VM's boot`] : []),
      '',
      ...(pairs.length ? [
        line(rows[0]),
        line(widths.map((w) => '-'.repeat(w))),
        ...rows.slice(1).map(line),
        '',
        'spread (min–max ms):',
        ...pairs.map((p) => `  ${label(p).padEnd(widths[0])}  imgplan ${fmt(p.imgplan.min)}–${fmt(p.imgplan.max)}, ${p.baseline.what} ${fmt(p.baseline.min)}–${fmt(p.baseline.max)}`),
      ] : ['no pairs were measured']),
      ...(baselines.apply ? [`bare = ${baselines.apply.join('; ')}  /  ${baselines.destroy.join('; ')}`] : []),
      ...(baselines.probes ? [`probes = the ${baselines.probes.length} commands plan runs (${probeMismatch ? 'WARNING: differs from its debug trace' : 'checked against its debug trace'}), in sequence`] : []),
      ...(baselines.qcow2StorageDaemon ? [`qcow2 storage-daemon: imgplan apply until both hello.txt are read vs bare = ${baselines.qcow2StorageDaemon.apply.slice(0, 1).join('; ')}; qemu-storage-daemon … --export type=fuse … --daemonize; ${baselines.qcow2StorageDaemon.apply.slice(2).join('; ')}  /  ${baselines.qcow2StorageDaemon.destroy.join('; ')}`] : []),
      ...(baselines.qcow2Nbd ? [`qcow2 nbd: imgplan apply until both hello.txt are read vs bare = ${baselines.qcow2Nbd.apply.join('; ')}  /  ${baselines.qcow2Nbd.destroy.join('; ')}; nbd loaded before timing`] : []),
      ...notes,
      ...skipped,
      '',
    ].join('\n');

    if (opts.json) {
      process.stderr.write(text);
      process.stdout.write(`${JSON.stringify({
        imgplan: pkgVersion, rounds: opts.rounds, warmup: opts.warmup, only: SECTIONS.filter((s) => want.has(s)), environment: env, targets: TARGETS, baselines,
        ...(probeMismatch !== null ? { probeBaselineMatchesTrace: !probeMismatch } : {}), pairs, ...(vmLane ? { vmLane } : {}), notes, skipped,
      }, null, 2)}\n`);
    } else {
      process.stdout.write(text);
    }
  } catch (e) {
    if (e instanceof Interrupted) {
      log(`bench: interrupted (${e.message})`);
      exitCode = 130;
    } else if (e instanceof CommandFailed) {
      log(`bench: error: ${e.message}`);
      exitCode = 1;
    } else {
      log(`bench: internal error: ${e?.stack ?? e}`);
      exitCode = 1;
    }
  } finally {
    const left = cleanup(tmp, img);
    if (left.length) {
      log(`bench: error: could not clean up:\n  ${left.join('\n  ')}`);
      exitCode ||= 1;
    }
  }
  return exitCode;
}

const nbdBaselines = {
  apply: ['qemu-nbd --read-only --format=qcow2 --pid-file=PID --connect=/dev/nbdN IMG', 'wait for /dev/nbdNp1 and p2 (poll 10 ms; blockdev --rereadpt /dev/nbdN if missing after 250 ms)',
    'mkdir -p P1 P2', 'mount -t ext4 -o ro,noload /dev/nbdNpM P (x2)', 'read P1/hello.txt P2/hello.txt'],
  destroy: ['umount P (x2)', 'rmdir P1 P2 MNT', 'qemu-nbd --disconnect /dev/nbdN', 'wait until /sys/block/nbdN/pid is gone (poll 10 ms)'],
};

function ratioPair(section, name, a, b, target, what) {
  const A = summary(a);
  const B = summary(b);
  const ratio = A.median / B.median;
  return { section, name, imgplan: A, baseline: { what, ...B }, ratio, target: `≤ ${target.toFixed(2)}× ${what}`, meets: ratio <= target };
}

function diffPair(section, name, a, b, target, what) {
  const A = summary(a);
  const B = summary(b);
  const diffMs = A.median - B.median;
  return { section, name, imgplan: A, baseline: { what, ...B }, diffMs, target: `≤ ${what} + ${target} ms`, meets: diffMs <= target };
}

function kill(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch { /* gone already */ }
}

/** Whether path is a directory (readdirSync succeeds). */
function readdirSafe(path) {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Unmounts the filesystems under tmp, detaches every loop on img or on a file under tmp,
 * disconnects the bench's nbd devices, stops its QEMU daemons, unmounts what they leave,
 * unloads nbd if the bench loaded it, removes tmp. Returns what is left.
 */
function cleanup(tmp, img) {
  const left = [];
  const retry = (argv, done) => {
    for (let i = 0; i < 5 && !done(); i++) {
      run(argv, { allowFail: true });
      if (!done()) spawnSync('sleep', ['0.2']);
    }
  };
  const unmount = (target) => {
    retry(['umount', target], () => !mountsUnder(tmp).some((x) => x.target === target));
    if (mountsUnder(tmp).some((x) => x.target === target)) run(['umount', '--lazy', target], { allowFail: true });
  };
  const isView = (m) => m.fstype.startsWith('fuse');
  const ours = () => nbdConnections().filter((c) => c.cmdline.includes(`${tmp}/`));
  try {
    // a daemon's FUSE view only after the daemon is stopped: unmounted under a running daemon, it leaves it spinning
    for (const m of mountsUnder(tmp)) if (!isView(m)) unmount(m.target);
    for (const m of mountsUnder(tmp)) if (!isView(m)) left.push(`still mounted: ${m.target}`);
    for (const dev of loopsOf(img)) retry(['losetup', '--detach', dev], () => !loopsOf(img).includes(dev));
    for (const l of loopsUnder(tmp)) retry(['losetup', '--detach', l.name], () => !loopsUnder(tmp).some((x) => x.name === l.name));
    for (const l of loopsUnder(tmp)) left.push(`still attached: ${l.name} (${l.file})`);
    for (const c of ours()) {
      run(['qemu-nbd', '--disconnect', c.dev], { allowFail: true });
      for (let i = 0; i < 250 && existsSync(`/sys/block/${c.name}/pid`); i++) sleepMs(20);
    }
    // by pid: qemuProcsUnder has just read each one's command line, which names the temp dir
    for (const p of qemuProcsUnder(tmp)) kill(p.pid, 'SIGTERM');
    for (let i = 0; i < 250 && qemuProcsUnder(tmp).length; i++) sleepMs(20);
    for (const p of qemuProcsUnder(tmp)) kill(p.pid, 'SIGKILL');
    for (let i = 0; i < 50 && qemuProcsUnder(tmp).length; i++) sleepMs(20);
    for (const p of qemuProcsUnder(tmp)) left.push(`still running: ${p.prog} (pid ${p.pid})`);
    for (const c of ours()) left.push(`still connected: ${c.dev}`);
    // views whose daemon died are still mounted ("Transport endpoint is not connected")
    for (const m of mountsUnder(tmp)) unmount(m.target);
    for (const m of mountsUnder(tmp)) left.push(`still mounted: ${m.target}`);
  } catch (e) {
    left.push(`cleanup failed: ${e.message}`);
  }
  if (nbdLoadedByBench) {
    const busy = nbdConnections();
    if (busy.length) log(`bench: leaving the nbd module loaded: ${busy.map((c) => c.dev).join(', ')} still connected`);
    else {
      run(['modprobe', '-r', 'nbd'], { allowFail: true });
      if (existsSync('/sys/module/nbd')) left.push('the nbd module the bench loaded could not be unloaded');
      else nbdLoadedByBench = false;
    }
  }
  // never rm -rf a tree that still has something mounted in it
  if (existsSync(tmp) && !left.length && !mountsUnder(tmp).length) rmSync(tmp, { recursive: true, force: true });
  else if (existsSync(tmp)) left.push(`kept ${tmp} for inspection`);
  return left;
}

process.exitCode = await main();
