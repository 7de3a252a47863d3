// Medians, pairs against their targets, and the table (or JSON) the bench prints.

import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { SECTIONS } from './args.mjs';
import { run } from './proc.mjs';
import { scaleLines } from './sections/scale.mjs';

export const TARGETS = { applyRatio: 1.3, destroyRatio: 1.3, planExtraMs: 300, versionExtraMs: 120, qcow2ApplyRatio: 1.3, qcow2DestroyRatio: 1.3, bundleRatio: 1.0, scaleRatio: 8, scaleRssMb: 120 };

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs.map((x) => Math.round(x * 100) / 100) });

/** imgplan's samples a against the baseline's b: the ratio of their medians, at most target. */
export function ratioPair(section, name, a, b, target, what) {
  const A = summary(a);
  const B = summary(b);
  const ratio = A.median / B.median;
  return { section, name, imgplan: A, baseline: { what, ...B }, ratio, target: `≤ ${target.toFixed(2)}× ${what}`, meets: ratio <= target };
}

/** imgplan's samples a against the baseline's b: the difference of their medians, at most target ms. */
export function diffPair(section, name, a, b, target, what) {
  const A = summary(a);
  const B = summary(b);
  const diffMs = A.median - B.median;
  return { section, name, imgplan: A, baseline: { what, ...B }, diffMs, target: `≤ ${what} + ${target} ms`, meets: diffMs <= target };
}

/** What the results were measured on (load0: the 1-minute load average at the start). */
export function environment(ws, { load0, qemuVersion }) {
  return {
    node: process.version,
    utilLinux: run(['losetup', '--version'], { env: ws.baseEnv }).stdout.trim().replace(/^losetup from (util-linux )?/, ''),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    cpus: cpus().length,
    loadavg1m: { start: load0, end: loadavg()[0] },
    ...(qemuVersion ? { qemu: qemuVersion } : {}),
  };
}

const fmt = (x) => x.toFixed(1);
const label = (p) => `${p.name}${p.lane === 'vm' ? ' [VM lane]' : ''}`;

/** The table of medians and the spread under it. */
function pairLines(pairs) {
  if (!pairs.length) return ['no pairs were measured'];
  const rows = [['pair', 'imgplan ms', 'baseline', 'baseline ms', 'imgplan vs baseline', 'target', 'result']];
  for (const p of pairs) {
    rows.push([label(p), fmt(p.imgplan.median), p.baseline.what, fmt(p.baseline.median),
      p.ratio !== undefined ? `${p.ratio.toFixed(2)}×` : `${p.diffMs >= 0 ? '+' : ''}${fmt(p.diffMs)} ms`, p.target, p.meets ? 'meets' : 'misses']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const numeric = new Set([1, 3]);
  const line = (row) => row.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [
    line(rows[0]),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.slice(1).map(line),
    '',
    'spread (min–max ms):',
    ...pairs.map((p) => `  ${label(p).padEnd(widths[0])}  imgplan ${fmt(p.imgplan.min)}–${fmt(p.imgplan.max)}, ${p.baseline.what} ${fmt(p.baseline.min)}–${fmt(p.baseline.max)}`),
  ];
}

/** What each baseline runs, one line per section. */
function baselineLines({ baselines: b, probeMismatch }) {
  const sd = b.qcow2StorageDaemon;
  return [
    ...(b.apply ? [`bare = ${b.apply.join('; ')}  /  ${b.destroy.join('; ')}`] : []),
    ...(b.startup ? [`startup: the bundle dist/imgplan.mjs vs ${b.startup[0]}, on the same node`] : []),
    ...(b.probes ? [`probes = the ${b.probes.length} commands plan runs (${probeMismatch ? 'WARNING: differs from its debug trace' : 'checked against its debug trace'}), in sequence`] : []),
    ...(sd ? [`qcow2 storage-daemon: imgplan apply until both hello.txt are read vs bare = ${sd.apply.slice(0, 1).join('; ')}; qemu-storage-daemon … --export type=fuse … --daemonize; ${sd.apply.slice(2).join('; ')}  /  ${sd.destroy.join('; ')}`] : []),
    ...(b.qcow2Nbd ? [`qcow2 nbd: imgplan apply until both hello.txt are read vs bare = ${b.qcow2Nbd.apply.join('; ')}  /  ${b.qcow2Nbd.destroy.join('; ')}; nbd loaded before timing`] : []),
  ];
}

/** The whole report as text. */
export function reportText(res, env, opts, pkgVersion) {
  const { vmLane } = res;
  return [
    '',
    `imgplan ${pkgVersion} bench: medians of ${opts.rounds} round(s) after ${opts.warmup} warm-up, interleaved (ABBA)`,
    `node ${env.node}, util-linux ${env.utilLinux}, kernel ${env.kernel}, ${env.cpus} CPU(s), load ${env.loadavg1m.start.toFixed(2)} → ${env.loadavg1m.end.toFixed(2)}${env.qemu ? `, QEMU ${env.qemu}` : ''}`,
    ...(vmLane ? [`[VM lane] = ${vmLane.label}: ${vmLane.rounds} round(s) after ${vmLane.warmup} warm-up (fewer than on the host: TCG is slow), ${fmt(vmLane.seconds)} s with the VM's boot`] : []),
    '',
    ...pairLines(res.pairs),
    ...baselineLines(res),
    ...scaleLines(res.scale),
    ...res.notes,
    ...res.skipped,
    '',
  ].join('\n');
}

/** Prints the report: the table on stdout, or with --json the table on stderr and the results on stdout. */
export function printReport(res, env, opts, pkgVersion) {
  const text = reportText(res, env, opts, pkgVersion);
  if (!opts.json) {
    process.stdout.write(text);
    return;
  }
  process.stderr.write(text);
  process.stdout.write(`${JSON.stringify({
    imgplan: pkgVersion, rounds: opts.rounds, warmup: opts.warmup, only: SECTIONS.filter((s) => opts.only.has(s)), environment: env, targets: TARGETS, baselines: res.baselines,
    ...(res.probeMismatch !== null ? { probeBaselineMatchesTrace: !res.probeMismatch } : {}), pairs: res.pairs, ...(res.scale ? { scale: res.scale } : {}), ...(res.vmLane ? { vmLane: res.vmLane } : {}), notes: res.notes, skipped: res.skipped,
  }, null, 2)}\n`);
}
