// What the sections share: interleaved (ABBA) rounds, and the qcow2 sections' checks and pairs.

import { readFileSync } from 'node:fs';
import { daemonsUnder, loopsUnder, mountsUnder } from '../../test/support/leaks.mjs';
import { CommandFailed, checkpoint, log, timed } from '../proc.mjs';
import { TARGETS, ratioPair } from '../report.mjs';
import { assertClean, benchNbd } from '../workspace.mjs';

/**
 * A timed step: before() untimed, op() timed (its sample kept under key), after() untimed (the
 * check that it did what it should).
 */
export const step = (key, op, after, before) => ({ key, op, after, before });

/**
 * Runs opts.warmup + opts.rounds rounds. Each of `pairs` is [imgplan's steps, the baseline's
 * steps]: imgplan's run first in even rounds, the baseline's in odd ones (ABBA). The state must be
 * clean after every round. Returns the samples by step key (warm-up rounds not counted).
 */
export async function abbaRounds(ws, opts, { section, pairs }) {
  const samples = Object.fromEntries(pairs.flat(2).map((s) => [s.key, []]));
  const prefix = section ? `${section} ` : '';
  for (let r = 0; r < opts.warmup + opts.rounds; r++) {
    const warm = r < opts.warmup;
    for (const [a, b] of pairs) {
      for (const s of r % 2 === 1 ? [...b, ...a] : [...a, ...b]) {
        await checkpoint();
        s.before?.();
        const ms = timed(s.op);
        if (!warm) samples[s.key].push(ms);
        await s.after?.();
      }
    }
    await assertClean(ws, `after ${prefix}round ${r + 1}`);
    log(`bench: ${prefix}${warm ? `warm-up ${r + 1}/${opts.warmup}` : `round ${r + 1 - opts.warmup}/${opts.rounds}`} done, state clean`);
  }
  return samples;
}

/**
 * ABBA rounds of imgplan apply/destroy (o.imgplanApply, o.imgplanDestroy) against the bare
 * commands (o.bareApply, o.bareDestroy; o.beforeBare and o.afterBare untimed), each checked.
 */
export function lifecycleRounds(ws, opts, section, o) {
  const clean = (who) => () => assertClean(ws, `after ${who} destroy (${section})`);
  return abbaRounds(ws, opts, {
    section,
    pairs: [[
      [step('imgplanApply', o.imgplanApply, () => o.assertApplied('imgplan')), step('imgplanDestroy', o.imgplanDestroy, clean('imgplan'))],
      [step('bareApply', o.bareApply, () => o.assertApplied('bare'), o.beforeBare),
        step('bareDestroy', o.bareDestroy, () => { o.afterBare?.(); return clean('the bare')(); })],
    ]],
  });
}

/** One server of the bench's, and for backend 'storage-daemon' two read-only loops on its view, for 'nbd' one read-only connection. */
function qemuDeviceProblems(ws, backend) {
  const bad = [];
  const server = backend === 'nbd' ? 'qemu-nbd' : 'qemu-storage-daemon';
  const procs = daemonsUnder(ws.tmp).filter((p) => p.prog === 'qemu-nbd' || p.prog === 'qemu-storage-daemon');
  if (procs.length !== 1 || procs[0].prog !== server) bad.push(`expected one ${server} of the bench, found ${procs.map((p) => `${p.prog} (pid ${p.pid})`).join(', ') || 'none'}`);
  const loops = loopsUnder(ws.tmp);
  const conns = benchNbd(ws);
  if (backend === 'storage-daemon') {
    for (const p of ws.parts) {
      if (!loops.some((l) => l.offset === p.offset && l.sizelimit === p.size && l.ro && l.file !== ws.img)) bad.push(`no read-only loop on the view at offset ${p.offset}`);
    }
    if (loops.length !== 2) bad.push(`${loops.length} loops instead of 2`);
    if (conns.length) bad.push(`nbd connected: ${conns.map((c) => c.dev).join(', ')}`);
  } else {
    if (loops.length) bad.push(`loops attached: ${loops.map((l) => l.name).join(', ')}`);
    for (const c of conns) ws.usedNbd.add(c.dev);
    if (conns.length !== 1) bad.push(`${conns.length} nbd connections instead of 1`);
    else if (readFileSync(`/sys/block/${conns[0].name}/ro`, 'utf8').trim() !== '1') bad.push(`${conns[0].dev} is not read-only`);
  }
  return bad;
}

/** Throws unless `who` (imgplan or bare) applied the qcow2 image through backend: its devices, and both partitions mounted read-only from them. */
export function assertQemuApplied(ws, backend, who) {
  const bad = qemuDeviceProblems(ws, backend);
  const m = mountsUnder(ws.tmp);
  const source = backend === 'nbd' ? /^\/dev\/nbd\d+p[12]$/ : /^\/dev\/loop\d+$/;
  for (const w of ws.where) {
    const mm = m.find((x) => x.target === w);
    if (!mm) bad.push(`${w} not mounted`);
    else if (!mm.options.split(',').includes('ro')) bad.push(`${w} not mounted read-only`);
    else if (!source.test(mm.source)) bad.push(`${w} is mounted from ${mm.source}`);
  }
  if (bad.length) throw new CommandFailed(`after ${who} apply (qcow2 ${backend}):\n    ${bad.join('\n    ')}`);
}

/** The two pairs of a qcow2 section. */
export const qemuPairs = (section, backend, samples) => [
  ratioPair(section, `qcow2 ${backend} apply → files`, samples.imgplanApply, samples.bareApply, TARGETS.qcow2ApplyRatio, 'bare'),
  ratioPair(section, `qcow2 ${backend} destroy`, samples.imgplanDestroy, samples.bareDestroy, TARGETS.qcow2DestroyRatio, 'bare'),
];
