// Section raw: apply, destroy, plan and --version on the raw image, against the bare commands.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mountsUnder } from '../../test/support/leaks.mjs';
import { CommandFailed, NODE, log, run } from '../proc.mjs';
import { TARGETS, diffPair, ratioPair } from '../report.mjs';
import { CLI, REPO, assertClean, loopsOn } from '../workspace.mjs';
import { abbaRounds, step } from './common.mjs';

const osRelease = () => readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();

/** Throws unless `who` applied the manifest: two read-only loops at the partitions' offsets, both mounted read-only, the files readable. */
function assertApplied(ws, who) {
  const loops = loopsOn(ws.img);
  const bad = [];
  for (const p of ws.parts) {
    if (!loops.some((l) => l.offset === p.offset && l.sizelimit === p.size && l.ro)) bad.push(`no read-only loop at offset ${p.offset}`);
  }
  if (loops.length !== 2) bad.push(`${loops.length} loops instead of 2`);
  const m = mountsUnder(ws.tmp);
  for (const [i, w] of ws.where.entries()) {
    const mm = m.find((x) => x.target === w);
    if (!mm) bad.push(`${w} not mounted`);
    else if (!mm.options.split(',').includes('ro')) bad.push(`${w} not mounted read-only`);
    else if (readFileSync(join(w, 'hello.txt'), 'utf8') !== ws.content[i]) bad.push(`${w}/hello.txt has the wrong content`);
  }
  if (bad.length) throw new CommandFailed(`after ${who} apply:\n    ${bad.join('\n    ')}`);
}

/**
 * The probe baseline: the commands `imgplan plan` runs (dist/probe/commands.js), checked against
 * its IMGPLAN_DEBUG trace (res.probeMismatch; a mismatch is a warning).
 */
async function probeBaseline(ws, res) {
  const probes = await import(pathToFileURL(join(REPO, 'dist', 'probe', 'commands.js')).href);
  const expected = [
    probes.LSBLK.argv, probes.LOSETUP.argv, probes.FINDMNT.argv,
    ...(existsSync(`/boot/config-${osRelease()}`) ? [] : [probes.KALLSYMS_PARSERS.argv]),
    probes.sfdisk(ws.img).argv,
    probes.blkid(ws.img).argv,
    ...ws.parts.map((p) => probes.blkid(ws.img, p).argv),
  ];
  const traced = run([NODE, CLI, 'plan', ws.manifest], { env: { ...ws.imgplanEnv, IMGPLAN_DEBUG: '1' }, cwd: ws.tmp }).stderr
    .split('\n').map((l) => /^debug: \$ (.*?) {2}→/.exec(l)?.[1]).filter(Boolean);
  // plan runs the host-wide probes at once, so the trace's order varies: the same commands, in any order
  res.probeMismatch = JSON.stringify([...traced].sort()) !== JSON.stringify(expected.map((a) => a.join(' ')).sort());
  if (res.probeMismatch) {
    log('bench: warning: the probe baseline differs from what `imgplan plan` ran:');
    log(`  baseline: ${expected.map((a) => a.join(' ')).join('\n            ')}`);
    log(`  plan ran: ${traced.join('\n            ')}`);
  }
  return expected;
}

/** The bare side of apply and destroy: what an admin would type. */
function bareLifecycle(ws) {
  const { img, where, mnt, bare } = ws;
  let devs = [];
  return {
    apply: () => {
      devs = ws.parts.map((p) => bare(['losetup', '--find', '--show', '--read-only', '--offset', String(p.offset), '--sizelimit', String(p.size), img]).stdout.trim());
      bare(['mkdir', '-p', ...where]);
      where.forEach((w, i) => bare(['mount', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', devs[i], w]));
    },
    destroy: () => {
      for (const w of where) bare(['umount', w]);
      bare(['rmdir', ...where, mnt]);
      for (const d of devs) bare(['losetup', '--detach', d]);
      devs = [];
    },
  };
}

/** The section's three pairs of step lists, imgplan's first. */
function rawSteps(ws, probeArgvs) {
  const { imgplan, manifest } = ws;
  const bareOps = bareLifecycle(ws);
  const version = () => {
    const v = imgplan('--version').stdout.trim();
    if (v !== ws.pkgVersion) throw new CommandFailed(`imgplan --version printed ${JSON.stringify(v)}, expected ${ws.pkgVersion}`);
  };
  return [
    [[step('imgplanApply', () => imgplan('apply', '--auto-approve', manifest), () => assertApplied(ws, 'imgplan')),
      step('imgplanDestroy', () => imgplan('destroy', '--auto-approve', manifest), () => assertClean(ws, 'after imgplan destroy'))],
    [step('bareApply', bareOps.apply, () => assertApplied(ws, 'bare')),
      step('bareDestroy', bareOps.destroy, () => assertClean(ws, 'after the bare destroy'))]],
    [[step('imgplanPlan', () => imgplan('plan', manifest))],
      // probes exit non-zero by design (grep: no parser symbol; blkid: no signature), as in imgplan
      [step('probes', () => { for (const a of probeArgvs) run(a, { env: ws.baseEnv, cwd: ws.tmp, allowFail: true }); })]],
    [[step('imgplanVersion', version)], [step('nodeBare', () => run([NODE, '-e', '0'], { env: ws.imgplanEnv, cwd: ws.tmp }))]],
  ];
}

/** Runs the raw section; adds its four pairs and baselines to res. */
export async function rawSection(ws, opts, res) {
  const probeArgvs = await probeBaseline(ws, res);
  const s = await abbaRounds(ws, opts, { section: '', pairs: rawSteps(ws, probeArgvs) });
  res.pairs.push(
    ratioPair('raw', 'apply --auto-approve', s.imgplanApply, s.bareApply, TARGETS.applyRatio, 'bare'),
    ratioPair('raw', 'destroy --auto-approve', s.imgplanDestroy, s.bareDestroy, TARGETS.destroyRatio, 'bare'),
    diffPair('raw', 'plan', s.imgplanPlan, s.probes, TARGETS.planExtraMs, 'probes'),
    diffPair('raw', '--version', s.imgplanVersion, s.nodeBare, TARGETS.versionExtraMs, 'node -e 0'),
  );
  res.baselines.apply = ['losetup --find --show --read-only --offset O --sizelimit S IMG (x2)', 'mkdir -p P1 P2', 'mount -t ext4 -o ro,noload,nosuid,nodev,noexec DEV P (x2)'];
  res.baselines.destroy = ['umount P (x2)', 'rmdir P1 P2 MNT', 'losetup --detach DEV (x2)'];
  res.baselines.probes = probeArgvs.map((a) => a.join(' '));
  res.baselines.version = ['node -e 0'];
}
