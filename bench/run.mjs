#!/usr/bin/env node
// imgplan benchmark: imgplan against the bare commands it stands in for, on a real image.
//
//   npm run bench                      (builds first)
//   node bench/run.mjs [--rounds N] [--warmup N] [--json]
//
// Needs root (loop devices, mounts). Builds a throw-away 2-partition MBR image with two ext4
// filesystems under a temp dir, then times, interleaved round by round:
//   apply     `imgplan apply --auto-approve`   vs  2x losetup --read-only --offset, mkdir -p, 2x mount
//   destroy   `imgplan destroy --auto-approve` vs  2x umount, rmdir, 2x losetup -d
//   plan      `imgplan plan`                   vs  the probe commands plan runs, one after another
//   --version `node dist/cli/main.js --version` vs `node -e 0`
// and prints the medians against the targets. Missing a target is reported, never an error;
// a failing command is (exit 1). Everything it attaches or mounts is undone in a finally block,
// also on Ctrl-C, and the state is checked to be clean after every round.
// Writes nothing into the repository; --json puts the results on stdout (the table then goes to stderr).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(REPO, 'dist', 'cli', 'main.js');
const NODE = process.execPath;
const TARGETS = { applyRatio: 1.3, destroyRatio: 1.3, planExtraMs: 300, versionExtraMs: 120 };
const CMD_TIMEOUT_MS = 120_000;

// ---------------------------------------------------------------- arguments

function usage(code) {
  (code ? process.stderr : process.stdout).write('usage: node bench/run.mjs [--rounds N] [--warmup N] [--json]\n' +
    '  --rounds N   timed rounds (default 7)\n  --warmup N   untimed rounds first (default 1)\n' +
    '  --json       print the results as JSON on stdout (the table goes to stderr)\n');
  process.exit(code);
}

function parseArgs(argv) {
  const o = { rounds: 7, warmup: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (name) => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      const n = Number(v);
      if (!Number.isInteger(n) || n < (name === 'rounds' ? 1 : 0)) {
        process.stderr.write(`bench: --${name} needs a whole number${name === 'rounds' ? ' ≥ 1' : ' ≥ 0'}, got ${v}\n`);
        usage(2);
      }
      return n;
    };
    if (a === '--rounds' || a.startsWith('--rounds=')) o.rounds = num('rounds');
    else if (a === '--warmup' || a.startsWith('--warmup=')) o.warmup = num('warmup');
    else if (a === '--json') o.json = true;
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
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  // record only: the main loop notices at its next check and unwinds through the finally
  process.on(sig, () => {
    if (!interrupted) log(`\nbench: ${sig} received; cleaning up…`);
    interrupted = sig;
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
  if (r.signal === 'SIGINT' || r.signal === 'SIGTERM' || r.signal === 'SIGHUP') {
    if (!interrupted) log(`\nbench: ${argv[0] === NODE ? 'imgplan' : argv[0]} was killed by ${r.signal}; cleaning up…`);
    interrupted ??= r.signal;
    if (!allowFail) throw new Interrupted(r.signal);
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

// ---------------------------------------------------------------- state inspection

function unescapeMountinfo(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount targets at or under dir, deepest first. */
function mountsUnder(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => { const f = l.split(' '); return { target: unescapeMountinfo(f[4]), options: f[5] }; })
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

async function main() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new CommandFailed('the benchmark needs root: it attaches loop devices and mounts filesystems (sudo node bench/run.mjs)');
  }
  if (!existsSync(CLI)) throw new CommandFailed(`${CLI} is missing: run "npm run build" first (or use "npm run bench")`);
  const osRelease = () => readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const probes = await import(pathToFileURL(join(REPO, 'dist', 'probe', 'commands.js')).href);

  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'imgplan-bench-')));
  const img = join(tmp, 'disk.img');
  const manifest = join(tmp, 'imgplan.yaml');
  const stateDir = join(tmp, 'state'); // imgplan's journal lives here, so the temp dir takes it along
  const mnt = join(tmp, 'mnt');
  const where = [join(mnt, 'p1'), join(mnt, 'p2')];
  const content = ['bench file in partition 1\n', 'bench file in partition 2\n'];
  const baseEnv = { ...process.env, LC_ALL: 'C' }; // what imgplan's runner gives its children
  const imgplanEnv = { ...process.env, IMGPLAN_STATE_DIR: stateDir };
  delete imgplanEnv.IMGPLAN_DEBUG;
  const imgplan = (...args) => run([NODE, CLI, ...args], { env: imgplanEnv, cwd: tmp });
  const bare = (argv) => run(argv, { env: baseEnv, cwd: tmp });
  let exitCode = 0;

  try {
    // ------------------------------------------------ 1. the image and the manifest
    log(`bench: building a 2-partition image in ${tmp}`);
    writeFileSync(img, '');
    truncateSync(img, 64 << 20);
    run(['sfdisk', '--quiet', img], { env: baseEnv, input: 'label: dos\n,24MiB,83\n,24MiB,83\n' });
    const table = JSON.parse(bare(['sfdisk', '--json', img]).stdout).partitiontable;
    const sector = table.sectorsize ?? 512;
    const parts = table.partitions.map((p) => ({ offset: p.start * sector, size: p.size * sector }));
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
    writeFileSync(manifest, [
      '# written by bench/run.mjs',
      'version: 1',
      'images:',
      '  disk:',
      `    file: ${JSON.stringify(img)}`,
      '    format: raw',
      'mounts:',
      ...where.flatMap((w, i) => [`  - what: disk/part${i + 1}`, `    where: ${JSON.stringify(w)}`, '    type: ext4']),
      '',
    ].join('\n'));

    const journalDir = join(stateDir, 'journal');
    const journalFile = join(journalDir, `${createHash('sha256').update(manifest).digest('hex').slice(0, 16)}.json`);
    const assertClean = (when) => {
      const problems = [];
      const loops = loopsOf(img);
      if (loops.length) problems.push(`loops still attached: ${loops.join(', ')}`);
      const m = mountsUnder(tmp);
      if (m.length) problems.push(`still mounted: ${m.map((x) => x.target).join(', ')}`);
      if (existsSync(mnt)) problems.push(`${mnt} still exists`);
      if (existsSync(journalFile)) {
        const j = JSON.parse(readFileSync(journalFile, 'utf8'));
        if (j.entries?.length) problems.push(`journal ${journalFile} still lists ${j.entries.length} object(s)`);
      }
      if (problems.length) throw new CommandFailed(`state not clean ${when}:\n    ${problems.join('\n    ')}`);
    };
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
    assertClean('after building the image (the writable loops must be gone)');

    // ------------------------------------------------ the probe baseline: what `imgplan plan` runs
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
    const probeMismatch = JSON.stringify(traced) !== JSON.stringify(expected.map((a) => a.join(' ')));
    const probeArgvs = expected;
    if (probeMismatch) {
      log('bench: warning: the probe baseline differs from what `imgplan plan` ran:');
      log(`  baseline: ${probeArgvs.map((a) => a.join(' ')).join('\n            ')}`);
      log(`  plan ran: ${traced.join('\n            ')}`);
    }

    // ------------------------------------------------ the measured operations
    const pkgVersion = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version;
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
    const load0 = loadavg()[0];
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

    // ------------------------------------------------ report
    const S = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)]));
    const ratioPair = (name, a, b, target, what) => {
      const ratio = S[a].median / S[b].median;
      return { name, imgplan: S[a], baseline: { what, ...S[b] }, ratio, target: `≤ ${target.toFixed(2)}× ${what}`, meets: ratio <= target };
    };
    const diffPair = (name, a, b, target, what) => {
      const diffMs = S[a].median - S[b].median;
      return { name, imgplan: S[a], baseline: { what, ...S[b] }, diffMs, target: `≤ ${what} + ${target} ms`, meets: diffMs <= target };
    };
    const pairs = [
      ratioPair('apply --auto-approve', 'imgplanApply', 'bareApply', TARGETS.applyRatio, 'bare'),
      ratioPair('destroy --auto-approve', 'imgplanDestroy', 'bareDestroy', TARGETS.destroyRatio, 'bare'),
      diffPair('plan', 'imgplanPlan', 'probes', TARGETS.planExtraMs, 'probes'),
      diffPair('--version', 'imgplanVersion', 'nodeBare', TARGETS.versionExtraMs, 'node -e 0'),
    ];
    const env = {
      node: process.version,
      utilLinux: run(['losetup', '--version'], { env: baseEnv }).stdout.trim().replace(/^losetup from (util-linux )?/, ''),
      kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
      cpus: cpus().length,
      loadavg1m: { start: load0, end: loadavg()[0] },
    };
    const baselines = {
      apply: ['losetup --find --show --read-only --offset O --sizelimit S IMG (x2)', 'mkdir -p P1 P2', 'mount -t ext4 -o ro,noload DEV P (x2)'],
      destroy: ['umount P (x2)', 'rmdir P1 P2 MNT', 'losetup --detach DEV (x2)'],
      probes: probeArgvs.map((a) => a.join(' ')),
      version: ['node -e 0'],
    };

    const fmt = (x) => x.toFixed(1);
    const rows = [['pair', 'imgplan ms', 'baseline', 'baseline ms', 'imgplan vs baseline', 'target', 'result']];
    for (const p of pairs) {
      rows.push([p.name, fmt(p.imgplan.median), p.baseline.what, fmt(p.baseline.median),
        p.ratio !== undefined ? `${p.ratio.toFixed(2)}×` : `${p.diffMs >= 0 ? '+' : ''}${fmt(p.diffMs)} ms`, p.target, p.meets ? 'meets' : 'misses']);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    const numeric = new Set([1, 3]);
    const line = (row) => row.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
    const text = [
      '',
      `imgplan ${pkgVersion} bench: medians of ${opts.rounds} round(s) after ${opts.warmup} warm-up, interleaved (ABBA)`,
      `node ${env.node}, util-linux ${env.utilLinux}, kernel ${env.kernel}, ${env.cpus} CPU(s), load ${env.loadavg1m.start.toFixed(2)} → ${env.loadavg1m.end.toFixed(2)}`,
      '',
      line(rows[0]),
      line(widths.map((w) => '-'.repeat(w))),
      ...rows.slice(1).map(line),
      '',
      'spread (min–max ms):',
      ...pairs.map((p) => `  ${p.name.padEnd(widths[0])}  imgplan ${fmt(p.imgplan.min)}–${fmt(p.imgplan.max)}, ${p.baseline.what} ${fmt(p.baseline.min)}–${fmt(p.baseline.max)}`),
      `bare = ${baselines.apply.join('; ')}  /  ${baselines.destroy.join('; ')}`,
      `probes = the ${probeArgvs.length} commands plan runs (${probeMismatch ? 'WARNING: differs from its debug trace' : 'checked against its debug trace'}), in sequence`,
      '',
    ].join('\n');

    if (opts.json) {
      process.stderr.write(text);
      process.stdout.write(`${JSON.stringify({ imgplan: pkgVersion, rounds: opts.rounds, warmup: opts.warmup, environment: env, targets: TARGETS, baselines, probeBaselineMatchesTrace: !probeMismatch, pairs }, null, 2)}\n`);
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

/** Unmounts everything under tmp, detaches every loop on img, removes tmp. Returns what is left. */
function cleanup(tmp, img) {
  const left = [];
  const retry = (argv, done) => {
    for (let i = 0; i < 5 && !done(); i++) {
      run(argv, { allowFail: true });
      if (!done()) spawnSync('sleep', ['0.2']);
    }
  };
  try {
    for (const m of mountsUnder(tmp)) {
      retry(['umount', m.target], () => !mountsUnder(tmp).some((x) => x.target === m.target));
      if (mountsUnder(tmp).some((x) => x.target === m.target)) run(['umount', '--lazy', m.target], { allowFail: true });
    }
    for (const m of mountsUnder(tmp)) left.push(`still mounted: ${m.target}`);
    for (const dev of loopsOf(img)) retry(['losetup', '--detach', dev], () => !loopsOf(img).includes(dev));
    for (const dev of loopsOf(img)) left.push(`still attached: ${dev} (${img})`);
  } catch (e) {
    left.push(`cleanup failed: ${e.message}`);
  }
  // never rm -rf a tree that still has something mounted in it
  if (existsSync(tmp) && !left.length && !mountsUnder(tmp).length) rmSync(tmp, { recursive: true, force: true });
  else if (existsSync(tmp)) left.push(`kept ${tmp} for inspection`);
  return left;
}

process.exitCode = await main();
