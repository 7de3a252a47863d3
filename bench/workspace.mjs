// The bench's throw-away temp dir: the image, the manifests, the commands run against them, the
// clean-state check after every round, and the cleanup at the end (test/support/leaks.mjs, the
// integration harness's leak check).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allLoops, cleanupLeaks, findLeaks, mountsUnder, nbdConnections } from '../test/support/leaks.mjs';
import { CommandFailed, NODE, log, run } from './proc.mjs';

export const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
/** The CLI timed: the single-file bundle, as scripts/install.sh installs it; the startup section also times tsc's output. */
export const CLI = join(REPO, 'dist', 'imgplan.mjs');
export const TSC_CLI = join(REPO, 'dist', 'cli', 'main.js');

/** The temp dir's paths, and the two ways of running a command in it (nothing is created but the dir). */
export function createWorkspace() {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'imgplan-bench-')));
  const stateDir = join(tmp, 'state'); // imgplan's journal lives here, so the temp dir takes it along
  const mnt = join(tmp, 'mnt');
  const bareDir = join(tmp, 'bare'); // the bare commands' own view, pid files and nbd device
  const baseEnv = { ...process.env, LC_ALL: 'C' }; // what imgplan's runner gives its children
  // as the installed launcher runs it: V8's compiled code of the bundle kept between runs (scripts/lib/runtime.sh)
  const imgplanEnv = { ...process.env, IMGPLAN_STATE_DIR: stateDir, NODE_COMPILE_CACHE: join(tmp, 'node-compile-cache') };
  delete imgplanEnv.IMGPLAN_DEBUG;
  return {
    tmp, stateDir, mnt, bareDir, baseEnv, imgplanEnv,
    img: join(tmp, 'disk.img'),
    qcow2: join(tmp, 'disk.qcow2'),
    manifest: join(tmp, 'imgplan.yaml'),
    manifestSd: join(tmp, 'qcow2-storage-daemon.yaml'),
    manifestNbd: join(tmp, 'qcow2-nbd.yaml'),
    where: [join(mnt, 'p1'), join(mnt, 'p2')],
    content: ['bench file in partition 1\n', 'bench file in partition 2\n'],
    bareView: join(bareDir, 'disk.raw'),
    barePid: join(bareDir, 'disk.pid'),
    bareNbdPid: join(bareDir, 'nbd.pid'),
    /** the nbd device of the bare commands' current round */
    bareNbd: null,
    /** every nbd device either side connected */
    usedNbd: new Set(),
    /** whether the bench loaded nbd (it unloads it at the end then) */
    nbdLoaded: false,
    /** the partitions' byte offsets and sizes, once the image is built */
    parts: [],
    pkgVersion: JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version,
    imgplan: (...args) => run([NODE, CLI, ...args], { env: imgplanEnv, cwd: tmp }),
    bare: (argv) => run(argv, { env: baseEnv, cwd: tmp }),
  };
}

function manifestText(ws, file, format, extra) {
  return [
    '# written by bench/run.mjs',
    'version: 1',
    'images:',
    '  disk:',
    `    file: ${JSON.stringify(file)}`,
    `    format: ${format}`,
    ...extra,
    'mounts:',
    ...ws.where.flatMap((w, i) => [`  - what: disk/part${i + 1}`, `    where: ${JSON.stringify(w)}`, '    type: ext4']),
    '',
  ].join('\n');
}

/** Builds the 2-partition MBR image with two ext4 filesystems and its manifest; with qemu, its qcow2 copy and their manifests too. */
export function buildImage(ws, { qemu }) {
  const { tmp, img, bare } = ws;
  log(`bench: building a 2-partition image in ${tmp}`);
  writeFileSync(img, '');
  truncateSync(img, 64 << 20);
  run(['sfdisk', '--quiet', img], { env: ws.baseEnv, input: 'label: dos\n,24MiB,83\n,24MiB,83\n' });
  const table = JSON.parse(bare(['sfdisk', '--json', img]).stdout).partitiontable;
  const sector = table.sectorsize ?? 512;
  ws.parts = table.partitions.map((p) => ({ offset: p.start * sector, size: p.size * sector }));
  if (ws.parts.length !== 2) throw new CommandFailed(`sfdisk made ${ws.parts.length} partitions, expected 2`);
  for (const [i, p] of ws.parts.entries()) {
    const seed = join(tmp, `seed${i + 1}`);
    mkdirSync(seed);
    writeFileSync(join(seed, 'hello.txt'), ws.content[i]);
    // a temporary writable offset loop, detached right after mkfs has filled it
    const dev = bare(['losetup', '--find', '--show', '--offset', String(p.offset), '--sizelimit', String(p.size), img]).stdout.trim();
    try {
      bare(['mkfs.ext4', '-q', '-F', '-L', `bench${i + 1}`, '-d', seed, dev]);
    } finally {
      run(['losetup', '--detach', dev], { env: ws.baseEnv, allowFail: true });
    }
    rmSync(seed, { recursive: true });
  }
  writeFileSync(ws.manifest, manifestText(ws, img, 'raw', []));
  if (qemu) {
    bare(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', img, ws.qcow2]);
    writeFileSync(ws.manifestSd, manifestText(ws, ws.qcow2, 'qcow2', ['    qemu_backend: storage-daemon']));
    writeFileSync(ws.manifestNbd, manifestText(ws, ws.qcow2, 'qcow2', ['    qemu_backend: nbd']));
    mkdirSync(ws.bareDir);
  }
}

/** Reads both hello.txt files (part of "time to files"); throws if either is wrong. */
export function readFiles(ws) {
  ws.where.forEach((w, i) => {
    if (readFileSync(join(w, 'hello.txt'), 'utf8') !== ws.content[i]) throw new CommandFailed(`${w}/hello.txt has the wrong content`);
  });
}

/** The loop devices backed by file (the image, a view, an nbd device), with offset, size limit and read-only flag. */
export const loopsOn = (file) => allLoops().filter((l) => l.file === file);

/** nbd connections of the bench: a server naming the temp dir, or the bare side's device. */
export const benchNbd = (ws) => nbdConnections().filter((c) => c.cmdline.includes(`${ws.tmp}/`) || c.dev === ws.bareNbd);

const filesIn = (dir) => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))) : []);

/** Whether path is a directory (readdirSync succeeds). */
function isDir(path) {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws unless nothing is left: the harness's leak check on the temp dir (mounts, loops, dm maps,
 * nbd, daemons, journal files), plus loops on an nbd device the bench used, the bare nbd device,
 * the mount dir, and imgplan's and the bare side's views and pid files.
 */
export async function assertClean(ws, when) {
  // a server exits a moment after it let go of its device or view
  const problems = (await findLeaks(ws.tmp, { stateDir: ws.stateDir, settleMs: 3000, pollMs: 10 })).map((l) => l.text);
  for (const l of [...ws.usedNbd].flatMap(loopsOn)) problems.push(`loop ${l.name} (${l.file})`);
  for (const c of benchNbd(ws)) if (!problems.some((p) => p.startsWith(`nbd ${c.dev} `))) problems.push(`nbd ${c.dev} (pid ${c.pid})`);
  if (existsSync(ws.mnt)) problems.push(`${ws.mnt} still exists`);
  // imgplan's views and pid files (its exports and plan's probe exports), and the bare ones
  const files = [...filesIn(join(ws.stateDir, 'exports')), ...filesIn(join(ws.stateDir, 'probe')), ws.bareView, ws.barePid].filter((f) => existsSync(f) && !isDir(f));
  if (files.length) problems.push(`left behind: ${files.join(', ')}`);
  if (problems.length) throw new CommandFailed(`state not clean ${when}:\n    ${problems.join('\n    ')}`);
}

/**
 * Undoes everything under the temp dir (test/support/leaks.mjs: unmounts, detaches, disconnects,
 * stops the daemons, unmounts what they leave), unloads nbd if the bench loaded it, removes the
 * temp dir. Returns what is left.
 */
export async function cleanupWorkspace(ws) {
  const left = [];
  try {
    await cleanupLeaks(ws.tmp, { settleMs: 0 });
    for (const l of await findLeaks(ws.tmp, { settleMs: 0 })) left.push(`still there: ${l.text}`);
  } catch (e) {
    left.push(`cleanup failed: ${e.message}`);
  }
  if (ws.nbdLoaded) {
    const busy = nbdConnections();
    if (busy.length) log(`bench: leaving the nbd module loaded: ${busy.map((c) => c.dev).join(', ')} still connected`);
    else {
      run(['modprobe', '-r', 'nbd'], { allowFail: true });
      if (existsSync('/sys/module/nbd')) left.push('the nbd module the bench loaded could not be unloaded');
      else ws.nbdLoaded = false;
    }
  }
  // never rm -rf a tree that still has something mounted in it
  if (existsSync(ws.tmp) && !left.length && !mountsUnder(ws.tmp).length) rmSync(ws.tmp, { recursive: true, force: true });
  else if (existsSync(ws.tmp)) left.push(`kept ${ws.tmp} for inspection`);
  return left;
}
