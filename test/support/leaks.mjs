// What a run left on the system under one directory, and how to remove it: shared by the
// integration harness (test/integration/harness.ts, its leak guard) and the bench (bench/run.mjs,
// its clean-state checks). Plain JavaScript so that `node bench/run.mjs` loads it without a
// TypeScript loader; its types are in leaks.d.mts.
//
// Scope: only what is backed by or lies under ROOT: mounts at or under it (FUSE views apart),
// loop devices whose backing file is under it, device-mapper maps over those loops (or their
// partitions, or each other), nbd devices whose server names a path under it, FUSE and QEMU
// daemons whose command line names a path under it, and files in STATE_DIR/journal.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** @typedef {import('./leaks.d.mts').Leak} Leak */
/** @typedef {import('./leaks.d.mts').Mount} Mount */
/** @typedef {import('./leaks.d.mts').Loop} Loop */
/** @typedef {import('./leaks.d.mts').NbdConnection} NbdConnection */
/** @typedef {import('./leaks.d.mts').Daemon} Daemon */

/** Programs that serve a root's files from user space: FUSE filesystems and views, QEMU's exports. */
const DAEMON = /ntfs-3g|fuse|qemu-storage-daemon|qemu-nbd/;

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @param {string} file */
function readOr(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** @param {string} path @param {string} root */
const isUnder = (path, root) => path.startsWith(`${root}/`);

/** @param {string} s */
const unescapeMountinfo = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

/**
 * Mount points at or under dir, deepest first; a `view` is a FUSE file mount (a
 * qemu-storage-daemon export), which its daemon unmounts itself when stopped.
 * @param {string} dir
 * @returns {Mount[]}
 */
export function mountsUnder(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-', 6);
      const fstype = f[sep + 1] ?? '';
      return { target: unescapeMountinfo(f[4] ?? ''), options: f[5] ?? '', fstype, source: unescapeMountinfo(f[sep + 2] ?? ''), view: fstype === 'fuse' };
    })
    .filter((m) => m.target === dir || isUnder(m.target, dir))
    .sort((a, b) => b.target.length - a.target.length);
}

/**
 * Every loop device, with its backing file, offset, size limit and read-only flag (none without losetup).
 * @returns {Loop[]}
 */
export function allLoops() {
  const r = spawnSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE,OFFSET,SIZELIMIT,RO'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.error && /** @type {NodeJS.ErrnoException} */ (r.error).code === 'ENOENT') return [];
  if (r.error || r.status !== 0) throw new Error(`losetup --list: ${r.error?.message ?? (r.stderr || '').trim()}`);
  /** @type {{ name: string; 'back-file': string | null; offset: string | number; sizelimit: string | number; ro: unknown }[]} */
  const devices = r.stdout.trim() ? JSON.parse(r.stdout).loopdevices ?? [] : [];
  return devices.map((d) => ({
    name: d.name, file: d['back-file'] ?? '', offset: Number(d.offset), sizelimit: Number(d.sizelimit), ro: d.ro === true || d.ro === '1' || d.ro === 1,
  }));
}

/**
 * Loop devices whose backing file is under dir (images, FUSE views).
 * @param {string} dir
 * @returns {Loop[]}
 */
export function loopsUnder(dir) {
  return allLoops().filter((l) => isUnder(l.file, dir));
}

/**
 * Device-mapper maps (kpartx, LVM) over those loops, their kernel partitions, or another such map; deepest first.
 * @param {readonly Loop[]} loops
 * @returns {string[]} the maps' names
 */
export function dmMapsOver(loops) {
  const ours = new Set(loops.map((l) => l.name.replace('/dev/', '')));
  const dms = existsSync('/sys/block') ? readdirSync('/sys/block').filter((d) => d.startsWith('dm-')) : [];
  /** @type {Set<string>} */
  const under = new Set();
  const slaves = (/** @type {string} */ dm) => { try { return readdirSync(`/sys/block/${dm}/slaves`); } catch { return []; } };
  const isOurs = (/** @type {string} */ dev) => ours.has(dev) || ours.has(dev.replace(/p\d+$/, '')) || under.has(dev);
  for (let grew = true; grew;) {
    grew = false;
    for (const dm of dms) if (!under.has(dm) && slaves(dm).some(isOurs)) (under.add(dm), (grew = true));
  }
  /** @type {(dm: string) => number} */
  const depth = (dm) => Math.max(0, ...slaves(dm).filter((x) => under.has(x)).map((x) => depth(x) + 1));
  return [...under].sort((a, b) => depth(b) - depth(a)).map((dm) => readOr(`/sys/block/${dm}/dm/name`)?.trim() ?? dm);
}

/**
 * Connected nbd devices and their server process (the kernel names its client thread: its Tgid is the process).
 * @returns {NbdConnection[]}
 */
export function nbdConnections() {
  if (!existsSync('/sys/block')) return [];
  return readdirSync('/sys/block').filter((n) => /^nbd\d+$/.test(n)).flatMap((name) => {
    const tid = readOr(`/sys/block/${name}/pid`)?.trim();
    if (!tid) return [];
    const tgid = /^Tgid:\s*(\d+)$/m.exec(readOr(`/proc/${tid}/status`) ?? '')?.[1] ?? tid;
    return [{ dev: `/dev/${name}`, name, pid: Number(tgid), cmdline: readOr(`/proc/${tgid}/cmdline`) ?? '' }];
  });
}

/**
 * nbd devices whose server names a path under dir (one of its files, or an overlay in its state dir).
 * @param {string} dir
 */
export function nbdUnder(dir) {
  return nbdConnections().filter((c) => c.cmdline.includes(`${dir}/`));
}

/**
 * FUSE and QEMU daemons (ntfs-3g, qemu-storage-daemon, qemu-nbd…) whose command line names a path
 * under dir; zombies, which only wait to be reaped, are not counted.
 * @param {string} dir
 * @returns {Daemon[]}
 */
export function daemonsUnder(dir) {
  /** @type {Daemon[]} */
  const out = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const args = readOr(`/proc/${p}/cmdline`)?.split('\0').filter(Boolean) ?? [];
    const prog = (args[0] ?? '').split('/').pop() ?? '';
    const stat = readOr(`/proc/${p}/stat`);
    if (!stat || /^\d+ \(.*\) Z/.test(stat) || !DAEMON.test(prog) || !args.some((a) => a.includes(`${dir}/`))) continue;
    out.push({ pid: Number(p), prog, args });
  }
  return out;
}

/**
 * The files in stateDir/journal (imgplan removes a manifest's journal once it lists nothing).
 * @param {string} stateDir
 */
export function journalFiles(stateDir) {
  const dir = join(stateDir, 'journal');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * What is still on the system under root, in teardown order. A daemon exits a moment after it let
 * go of its mount, view or device: it counts as leaked only if it still runs after settleMs.
 * @param {string} root
 * @param {{ stateDir?: string; settleMs?: number; pollMs?: number }} [opts]
 * @returns {Promise<Leak[]>}
 */
export async function findLeaks(root, { stateDir, settleMs = 2000, pollMs = 100 } = {}) {
  /** @type {Leak[]} */
  const out = [];
  const mounts = mountsUnder(root);
  for (const m of mounts.filter((x) => !x.view)) out.push({ kind: 'mount', id: m.target, text: `mount ${m.target} (${m.source})` });
  const loops = loopsUnder(root);
  for (const name of dmMapsOver(loops)) out.push({ kind: 'dm', id: name, text: `dm ${name}` });
  for (const l of loops) out.push({ kind: 'loop', id: l.name, text: `loop ${l.name} (${l.file})` });
  for (const c of nbdUnder(root)) out.push({ kind: 'nbd', id: c.dev, text: `nbd ${c.dev} (pid ${c.pid})` });
  for (const m of mounts.filter((x) => x.view)) out.push({ kind: 'view', id: m.target, text: `view ${m.target} (${m.source})` });
  let daemons = daemonsUnder(root);
  for (const end = Date.now() + settleMs; daemons.length && Date.now() < end; daemons = daemonsUnder(root)) await sleep(pollMs);
  for (const d of daemons) out.push({ kind: 'daemon', id: String(d.pid), text: `daemon ${d.pid} (${d.args.join(' ')})` });
  for (const f of stateDir ? journalFiles(stateDir) : []) out.push({ kind: 'journal', id: f, text: `journal ${f}` });
  return out;
}

/**
 * Runs argv until done() (at most `tries` times, 200 ms apart).
 * @param {string[]} argv @param {() => boolean} done @param {number} [tries]
 */
async function retry(argv, done, tries = 5) {
  for (let i = 0; i < tries && !done(); i++) {
    spawnSync(argv[0] ?? '', argv.slice(1), { stdio: 'ignore' });
    if (!done()) await sleep(200);
  }
}

/** @param {string} root @param {string} target */
async function unmount(root, target) {
  const mounted = () => mountsUnder(root).some((x) => x.target === target);
  await retry(['umount', target], () => !mounted());
  if (mounted()) spawnSync('umount', ['--lazy', target], { stdio: 'ignore' });
}

/** @param {() => unknown[]} pending @param {number} ms */
async function waitFor(pending, ms) {
  for (const end = Date.now() + ms; pending().length && Date.now() < end;) await sleep(20);
}

/** @param {number} pid @param {NodeJS.Signals} sig */
function kill(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/**
 * Removes what findLeaks finds under root, in teardown order: filesystems (deepest first), dm maps,
 * loops, nbd connections; then the daemons (SIGTERM, SIGKILL after 5 s), since a
 * qemu-storage-daemon unmounts its own view when stopped (a view unmounted under a running
 * daemon leaves it spinning); last, any view a dead daemon left mounted. Journal files stay.
 * Returns what it found (before removing it).
 * @param {string} root
 * @param {{ stateDir?: string; settleMs?: number; pollMs?: number }} [opts]
 * @returns {Promise<Leak[]>}
 */
export async function cleanupLeaks(root, opts = {}) {
  const found = await findLeaks(root, opts);
  if (!found.some((l) => l.kind !== 'journal')) return found;
  for (const m of mountsUnder(root).filter((x) => !x.view)) await unmount(root, m.target);
  for (const name of dmMapsOver(loopsUnder(root))) spawnSync('dmsetup', ['remove', '--retry', name], { stdio: 'ignore' });
  for (const l of loopsUnder(root)) await retry(['losetup', '--detach', l.name], () => !loopsUnder(root).some((x) => x.name === l.name));
  for (const c of nbdUnder(root)) {
    spawnSync('qemu-nbd', ['--disconnect', c.dev], { stdio: 'ignore' });
    await waitFor(() => (existsSync(`/sys/block/${c.name}/pid`) ? [c] : []), 5000);
  }
  // by pid: daemonsUnder has just read each one's command line, which names root
  for (const d of daemonsUnder(root)) kill(d.pid, 'SIGTERM');
  await waitFor(() => daemonsUnder(root), 5000);
  for (const d of daemonsUnder(root)) kill(d.pid, 'SIGKILL');
  await waitFor(() => daemonsUnder(root), 1000);
  // views whose daemon died are still mounted ("Transport endpoint is not connected")
  for (const m of mountsUnder(root)) await unmount(root, m.target);
  return found;
}
