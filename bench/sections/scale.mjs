// Section scale: manifests of 1, 16 and 64 copies of the raw image, both partitions of each mounted.
// Per size: apply, plan of the applied manifest, destroy (imgplan only: the question is how its
// time grows with the number of images), the probe processes plan starts (its IMGPLAN_DEBUG trace)
// and the peak RSS of apply and destroy (GNU time's %M, where /usr/bin/time exists).
// With --compare-cli FILE, the same rounds also time that other build of imgplan (an earlier
// commit's dist/imgplan.mjs), interleaved with this one, so that before and after are side by side.

import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountsUnder } from '../../test/support/leaks.mjs';
import { CommandFailed, NODE, checkpoint, log, run, timed } from '../proc.mjs';
import { TARGETS, median, summary } from '../report.mjs';
import { CLI, assertClean, loopsOn } from '../workspace.mjs';

const GNU_TIME = '/usr/bin/time';

function scaleManifest(ws, n) {
  const lines = ['# written by bench/run.mjs (scale)', 'version: 1', 'images:'];
  for (let i = 1; i <= n; i++) lines.push(`  g${i}:`, `    file: ${JSON.stringify(join(ws.tmp, 'scale', `g${i}.img`))}`, '    format: raw');
  lines.push('mounts:');
  for (let i = 1; i <= n; i++) {
    for (const p of [1, 2]) lines.push(`  - what: g${i}/part${p}`, `    where: ${JSON.stringify(join(ws.mnt, `g${i}`, `p${p}`))}`, '    type: ext4');
  }
  return `${lines.join('\n')}\n`;
}

/** Throws unless all n images have both partitions on read-only loops, mounted read-only. */
function assertScaleApplied(ws, n, who) {
  const m = mountsUnder(ws.tmp);
  const bad = [];
  for (let i = 1; i <= n; i++) {
    const loops = loopsOn(join(ws.tmp, 'scale', `g${i}.img`));
    if (loops.length !== 2 || !loops.every((l) => l.ro)) bad.push(`g${i}: ${loops.length} loops, not 2 read-only ones`);
    for (const p of [1, 2]) {
      const mm = m.find((x) => x.target === join(ws.mnt, `g${i}`, `p${p}`));
      if (!mm || !mm.options.split(',').includes('ro')) bad.push(`g${i}/part${p} not mounted read-only`);
    }
  }
  if (bad.length) throw new CommandFailed(`after ${who} apply of ${n} images:\n    ${bad.slice(0, 10).join('\n    ')}`);
}

/** Peak RSS in MB of `node CLI args` (GNU time), or null without /usr/bin/time. */
function peakRss(ws, cli, args) {
  if (!existsSync(GNU_TIME)) return null;
  const r = run([GNU_TIME, '-f', 'imgplan-bench-rss %M', NODE, cli, ...args], { env: ws.imgplanEnv, cwd: ws.tmp });
  const kb = Number(/imgplan-bench-rss (\d+)/.exec(r.stderr)?.[1]);
  return Number.isFinite(kb) ? kb / 1024 : null;
}

/** How many processes plan starts for the manifest (its debug trace: one "$ argv" line each). */
function probeCount(ws, cli, manifest) {
  const r = run([NODE, cli, 'plan', manifest], { env: { ...ws.imgplanEnv, IMGPLAN_DEBUG: '1' }, cwd: ws.tmp });
  return r.stderr.split('\n').filter((l) => /^debug: \$ /.test(l)).length;
}

/** Runs the scale section (sizes: opts.scale); adds its rows to res.scale. */
export async function scaleSection(ws, opts, res) {
  const sizes = opts.scale;
  const clis = [['imgplan', CLI], ...(opts.compareCli ? [['compared', opts.compareCli]] : [])];
  mkdirSync(join(ws.tmp, 'scale'), { recursive: true });
  const max = Math.max(...sizes);
  for (let i = 1; i <= max; i++) copyFileSync(ws.img, join(ws.tmp, 'scale', `g${i}.img`));
  res.scale = { sizes, rounds: opts.scaleRounds, compared: opts.compareCli ?? null, rows: [] };
  for (const n of sizes) {
    const manifest = join(ws.tmp, `scale-${n}.yaml`);
    writeFileSync(manifest, scaleManifest(ws, n));
    const samples = Object.fromEntries(clis.map(([who]) => [who, { apply: [], plan: [], destroy: [] }]));
    for (let r = 0; r < opts.scaleRounds + 1; r++) {
      const order = r % 2 ? [...clis].reverse() : clis;
      for (const [who, cli] of order) {
        await checkpoint();
        const imgplan = (...args) => run([NODE, cli, ...args], { env: ws.imgplanEnv, cwd: ws.tmp });
        const a = timed(() => imgplan('apply', '--auto-approve', manifest));
        assertScaleApplied(ws, n, who);
        const p = timed(() => imgplan('plan', manifest));
        const d = timed(() => imgplan('destroy', '--auto-approve', manifest));
        await assertClean(ws, `after ${who} destroy of ${n} images`);
        if (r > 0) {
          samples[who].apply.push(a);
          samples[who].plan.push(p);
          samples[who].destroy.push(d);
        }
      }
    }
    const row = { images: n, mounts: 2 * n };
    for (const [who, cli] of clis) {
      imgplanApplyOnly(ws, cli, manifest);
      const probes = probeCount(ws, cli, manifest);
      const rssDestroy = peakRss(ws, cli, ['destroy', '--auto-approve', manifest]);
      const rssApply = peakRss(ws, cli, ['apply', '--auto-approve', manifest]);
      run([NODE, cli, 'destroy', '--auto-approve', manifest], { env: ws.imgplanEnv, cwd: ws.tmp });
      await assertClean(ws, `after the ${who} RSS runs of ${n} images`);
      row[who] = {
        apply: summary(samples[who].apply), plan: summary(samples[who].plan), destroy: summary(samples[who].destroy),
        planProcesses: probes, peakRssMb: rssApply === null ? null : Math.max(rssApply, rssDestroy ?? 0),
      };
    }
    res.scale.rows.push(row);
    log(`bench: scale ${n} image(s) done, state clean`);
  }
  res.scale.targets = scaleTargets(res.scale);
}

/** Applies the manifest (for the applied-state probe count and the destroy RSS run). */
function imgplanApplyOnly(ws, cli, manifest) {
  run([NODE, cli, 'apply', '--auto-approve', manifest], { env: ws.imgplanEnv, cwd: ws.tmp });
}

/** The issue's scale targets, met or missed, for imgplan (not the compared build). */
function scaleTargets({ rows }) {
  const first = rows[0];
  const last = rows[rows.length - 1];
  const growth = (k) => median(last.imgplan[k].samples) / median(first.imgplan[k].samples);
  const out = [];
  if (rows.length > 1) {
    for (const k of ['apply', 'destroy']) {
      const g = growth(k);
      out.push({ what: `${k} of ${last.images} images vs ${first.images}`, value: `${g.toFixed(2)}×`, target: `≤ ${TARGETS.scaleRatio}×`, meets: g <= TARGETS.scaleRatio });
    }
    const constant = rows.every((r) => r.imgplan.planProcesses === first.imgplan.planProcesses);
    out.push({ what: 'plan processes', value: rows.map((r) => `${r.imgplan.planProcesses}@${r.images}`).join(', '), target: 'the same at every size', meets: constant });
  }
  const rss = last.imgplan.peakRssMb;
  if (rss !== null) out.push({ what: `peak RSS, ${last.images} images`, value: `${rss.toFixed(0)} MB`, target: `≤ ${TARGETS.scaleRssMb} MB`, meets: rss <= TARGETS.scaleRssMb });
  return out;
}

/** The scale table: one row per size and build, then the targets. */
export function scaleLines(scale) {
  if (!scale) return [];
  const fmt = (s) => s.median.toFixed(0);
  const rows = [['images', 'build', 'apply ms', 'plan ms', 'destroy ms', 'plan processes', 'peak RSS MB']];
  for (const r of scale.rows) {
    for (const who of ['imgplan', 'compared']) {
      const x = r[who];
      if (!x) continue;
      rows.push([String(r.images), who === 'imgplan' ? 'this' : 'compared', fmt(x.apply), fmt(x.plan), fmt(x.destroy), String(x.planProcesses), x.peakRssMb === null ? 'n/a' : x.peakRssMb.toFixed(0)]);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row) => row.map((cell, c) => (c >= 2 || c === 0 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ');
  return [
    '',
    `scale: medians of ${scale.rounds} round(s) after 1 warm-up; 2 mounts per image; plan of the applied manifest${scale.compared ? `; compared = ${scale.compared}, interleaved` : ''}`,
    line(rows[0]), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line),
    ...scale.targets.map((t) => `  ${t.what}: ${t.value} (target ${t.target}): ${t.meets ? 'meets' : 'misses'}`),
  ];
}
