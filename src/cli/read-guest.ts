import { mkdir, stat, writeFile } from 'node:fs/promises';
import { GUEST_DIRS, GUEST_FILES, MAX_DIR_READS, rootSubvolume, type GuestReadRequest, type GuestView, type VolumeRead } from '../core/guest.js';
import { listGuestDir, readGuestFile } from '../runner/guest-files.js';
import { readWindows } from '../runner/guest-hives.js';
import { stopDaemonArgv } from '../qemu/storage-daemon.js';
import { ExecaRunner } from '../runner/execa-runner.js';

/**
 * The hidden `imgplan __read-guest REQUEST`: the process inspect starts, through
 * `unshare --mount --propagation private --pid --fork --kill-child`, to read guests' files.
 * Everything it mounts is in its own mount namespace, so the host never sees it, and goes when
 * the namespace's last process exits, however that happens: the mounts with the namespace,
 * mount's loop devices with them (autoclear), FUSE daemons with the PID namespace. Its stdin is
 * a pipe imgplan holds: when imgplan dies, even by SIGKILL, this process sees end of file and
 * exits at once. On an NTFS volume it reads Windows' registry hives with hivexget
 * (src/runner/guest-hives.ts), which runs in this namespace too. It prints one JSON array of
 * VolumeRead on stdout.
 */
export async function readGuest(requestJson: string): Promise<number> {
  const lifeline = () => process.exit(3);
  process.stdin.on('end', lifeline).on('error', lifeline).resume();
  try {
    return await readAll(requestJson);
  } finally {
    // the lifeline keeps Node's event loop alive: let go of it, or the reader never exits
    process.stdin.off('end', lifeline).destroy();
  }
}

async function readAll(requestJson: string): Promise<number> {
  const request = JSON.parse(requestJson) as GuestReadRequest;
  const runner = new ExecaRunner();
  const tmpfs = await runner.run({
    argv: ['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0700,nosuid,nodev,noexec', 'imgplan-inspect', request.base], effect: 'changes',
  });
  if (tmpfs.failure) {
    process.stderr.write(`cannot mount a tmpfs on ${request.base}: ${tmpfs.stderr.trim()}\n`);
    return 1;
  }
  const reads: VolumeRead[] = [];
  const mounted: string[] = [];
  const unserved = await serveViews(runner, request.views ?? []);
  for (const [i, v] of request.volumes.entries()) {
    if (v.mount[0] !== 'mount') throw new Error(`not a mount command: ${v.mount[0]}`);
    const viewError = unserved.get(v.key.slice(0, v.key.indexOf(':')));
    if (viewError !== undefined) {
      reads.push({ key: v.key, error: `QEMU's view of the image was not served: ${viewError}`, files: {}, dirs: {} });
      continue;
    }
    const dir = `${request.base}/${i}`;
    await mkdir(dir);
    const r = await runner.run({ argv: ['mount', ...v.mount.slice(1), dir], effect: 'changes', timeoutMs: 60_000 });
    if (r.failure) {
      reads.push({ key: v.key, error: (r.stderr.trim() || r.failure).slice(0, 500), files: {}, dirs: {} });
      continue;
    }
    mounted.push(dir);
    if (v.windows) {
      // hivexget runs here, in this namespace, on hives opened below this read-only mount
      const windows = await readWindows(runner, dir);
      reads.push({ key: v.key, files: {}, dirs: {}, ...(windows ? { windows } : {}) });
    } else {
      reads.push({ key: v.key, ...(await readVolume(dir)), ...(v.mount[2] === 'btrfs' ? { btrfs: await subvolumes(runner, dir) } : {}) });
      // Fedora and Ubuntu keep / in a btrfs subvolume ("root", "@"): the top level then holds no etc/
      const top = await listGuestDir(dir, '/');
      const sub = top && rootSubvolume(top.entries);
      if (sub) reads.push({ key: v.key, subvolume: sub, ...(await readVolume(`${dir}/${sub}`)) });
    }
  }
  // the namespace's end would unmount all this too, but only once the kernel gets to it: unmounted here, the loops are gone when imgplan goes on
  for (const dir of mounted.reverse()) await runner.run({ argv: ['umount', '--', dir], effect: 'changes' });
  await stopViews(runner, request.base, (request.views ?? []).filter((v) => !unserved.has(v.image)));
  await runner.run({ argv: ['umount', '--', request.base], effect: 'changes' });
  process.stdout.write(JSON.stringify(reads));
  return 0;
}

/** Serves each QEMU image's raw view (qemu-storage-daemon, read-only FUSE export); the images whose view failed, and why. */
async function serveViews(runner: ExecaRunner, views: readonly GuestView[]): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  for (const view of views) {
    if (view.serve[0] !== 'qemu-storage-daemon') throw new Error(`not qemu-storage-daemon: ${view.serve[0]}`);
    // FUSE exports onto an existing regular file
    await writeFile(view.path, '', { mode: 0o600 });
    const r = await runner.run({ argv: ['qemu-storage-daemon', ...view.serve.slice(1)], effect: 'changes', timeoutMs: 60_000 });
    if (r.failure) failed.set(view.image, (r.stderr.trim() || r.failure).slice(0, 500));
  }
  return failed;
}

/** Stops the views' daemons, each of which then takes its FUSE mount down; waits until they have, so that the tmpfs can go. */
async function stopViews(runner: ExecaRunner, base: string, views: readonly GuestView[]): Promise<void> {
  for (const view of views) {
    const [pkill, ...args] = stopDaemonArgv(view.pidfile);
    await runner.run({ argv: [pkill!, ...args], effect: 'changes' });
  }
  const baseDev = (await stat(base)).dev;
  for (let i = 0; i < 100; i++) {
    const served = await Promise.all(views.map(async (v) => (await stat(v.path).catch(() => undefined))?.dev !== baseDev));
    if (!served.some(Boolean)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** btrfs-progs' lists of the volume's subvolumes and its default one (src/probe/btrfs.ts parses them). */
async function subvolumes(runner: ExecaRunner, dir: string): Promise<NonNullable<VolumeRead['btrfs']>> {
  // no "--": get-default takes it for the path (btrfs-progs 6.2); dir is imgplan's own absolute path
  const run = (what: 'list' | 'get-default') => runner.run({
    argv: ['btrfs', 'subvolume', what, dir], effect: 'reads', timeoutMs: 30_000, maxOutputBytes: 1024 * 1024,
  });
  const [list, def] = [await run('list'), await run('get-default')];
  const failed = list.failure ? list : def.failure ? def : undefined;
  return failed ? { error: (failed.stderr.trim() || failed.failure!).slice(0, 300) } : { list: list.stdout, default: def.stdout };
}

async function readVolume(root: string): Promise<Pick<VolumeRead, 'files' | 'dirs'>> {
  const files: Record<string, VolumeRead['files'][string]> = {};
  const dirs: Record<string, VolumeRead['dirs'][string]> = {};
  for (const path of GUEST_FILES) {
    const f = await readGuestFile(root, path);
    if (f) files[path] = f;
  }
  for (const d of GUEST_DIRS) {
    const listed = await listGuestDir(root, d.path);
    if (!listed) continue;
    dirs[d.path] = listed;
    if (!d.read) continue;
    const wanted = listed.entries.filter((e) => e.kind !== 'directory' && d.read!.test(e.name)).slice(0, MAX_DIR_READS);
    for (const e of wanted) {
      const path = `${d.path}/${e.name}`;
      const f = await readGuestFile(root, path);
      if (f) files[path] = f;
    }
  }
  return { files, dirs };
}
