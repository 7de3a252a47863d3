/**
 * Real-kernel test support: builds small images with the real tools, runs the real CLI, and
 * guards against leaks (loop devices backed by the sandbox's files, mounts under it: the same
 * check as the bench's, test/support/leaks.mjs).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, expect } from 'vitest';
import { cleanupLeaks, findLeaks } from '../support/leaks.mjs';

/** The CLI the tests run: the single-file bundle the build makes and scripts/install.sh installs (Node.js 22+). */
export const CLI = join(import.meta.dirname, '../../dist/imgplan.mjs');

/**
 * Where the CLI runs keep V8's compiled code of the bundle, as the installed launcher has them do
 * (scripts/lib/runtime.sh: NODE_COMPILE_CACHE): in the VM lane the guest's own /tmp (the two VM runs
 * share the checkout), on the host beside the other tools' caches.
 */
export const COMPILE_CACHE = process.env.VMLANE === '1' ? '/tmp/imgplan-test-compile-cache' : join(import.meta.dirname, '../../node_modules/.cache/imgplan-compile-cache');

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** What the running kernel offers that some backends need; a test that lacks one is skipped, saying which. */
export const capabilities = {
  partscan: () => /\smsdos_partition$/m.test(readFileSync('/proc/kallsyms', 'utf8')),
  deviceMapper: () => existsSync('/sys/class/misc/device-mapper') && existsSync('/usr/sbin/kpartx'),
};

export function kernelHas(fs: string): boolean {
  const listed = () => readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim().split(/\s+/).pop() === fs);
  if (listed()) return true;
  // a modular kernel (the VM lane's) lists a filesystem only once its module is loaded
  spawnSync('modprobe', ['-q', fs], { stdio: 'ignore' });
  return listed();
}

export async function sh(argv: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await execa(argv[0]!, argv.slice(1), { input: opts.input, env: { LC_ALL: 'C', ...opts.env }, reject: false });
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

export async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export type Fs = 'ext4' | 'ext3' | 'ext2' | 'xfs' | 'btrfs' | 'vfat';

export interface PartSpec {
  /** sfdisk size, e.g. "16M"; omit for the rest of the disk */
  readonly size?: string;
  /** sfdisk type: "83", "8e", "5" (extended), or a GPT alias like "L" */
  readonly type?: string;
  readonly name?: string;
  readonly fs?: Fs;
  readonly label?: string;
  readonly files?: Files;
}

/**
 * Files to write into a filesystem: text, a symbolic link to a target (which may lead anywhere:
 * the guest's choice), or a btrfs subvolume (list it before the files that go into it).
 */
export type Files = Readonly<Record<string, string | { readonly link: string } | { readonly subvolume: true }>>;

async function mkfs(fs: Fs, dev: string, label?: string): Promise<void> {
  const l = label ?? '';
  switch (fs) {
    case 'ext2': case 'ext3': case 'ext4':
      await sh([`mkfs.${fs}`, '-q', '-F', ...(l ? ['-L', l] : []), dev]);
      return;
    case 'xfs':
      // xfsprogs refuses filesystems under 300 MiB unless it believes it is under xfstests
      await sh(['mkfs.xfs', '-q', '-f', ...(l ? ['-L', l] : []), dev], { env: { TEST_DIR: '1', TEST_DEV: '1', QA_CHECK_FS: '1' } });
      return;
    case 'btrfs':
      await sh(['mkfs.btrfs', '-q', '-f', ...(l ? ['-L', l] : []), dev]);
      return;
    case 'vfat':
      await sh(['mkfs.vfat', ...(l ? ['-n', l] : []), dev]);
      return;
  }
}

interface Table {
  partitions: { node: string; start: number; size: number }[];
  sectorsize?: number;
}

export class Sandbox {
  readonly root: string;
  readonly stateDir: string;

  constructor(name: string) {
    this.root = mkdtempSync(`/tmp/imgplan-it-${name}-`);
    this.stateDir = join(this.root, 'state');
  }

  path(...p: string[]): string {
    return join(this.root, ...p);
  }

  /** Fills a filesystem through a temporary writable loop device over [offset, offset+size). */
  async populate(file: string, offset: number, size: number, fs: Fs, label?: string, files?: Files): Promise<void> {
    const loop = (await sh(['losetup', '--find', '--show', '--offset', String(offset), ...(size ? ['--sizelimit', String(size)] : []), file])).trim();
    try {
      await mkfs(fs, loop, label);
      if (files && Object.keys(files).length) {
        if (!kernelHas(fs)) throw new Error(`cannot write files into ${fs}: kernel lacks it`);
        const mnt = mkdtempSync(join(this.root, '.fill-'));
        await sh(['mount', '-t', fs, loop, mnt]);
        try {
          for (const [p, content] of Object.entries(files)) {
            await mkdir(dirname(join(mnt, p)), { recursive: true });
            if (p.endsWith('/')) await mkdir(join(mnt, p), { recursive: true });
            else if (typeof content === 'string') await writeFile(join(mnt, p), content);
            else if ('subvolume' in content) await sh(['btrfs', 'subvolume', 'create', join(mnt, p)]);
            else await symlink(content.link, join(mnt, p));
          }
        } finally {
          await sh(['umount', mnt]);
          rmSync(mnt, { recursive: true });
        }
      }
    } finally {
      await sh(['losetup', '--detach', loop]);
    }
  }

  async partitionedImage(name: string, sizeMiB: number, label: 'dos' | 'gpt', parts: readonly PartSpec[]): Promise<string> {
    const file = this.path(name);
    await sh(['truncate', '-s', `${sizeMiB}M`, file]);
    const script = [`label: ${label}`, ...parts.map((p) => [p.size ? `size=${p.size}` : '', `type=${p.type ?? (label === 'gpt' ? 'L' : '83')}`, p.name ? `name="${p.name}"` : ''].filter(Boolean).join(', '))].join('\n');
    await sh(['sfdisk', '-q', file], { input: `${script}\n` });
    const table = (JSON.parse(await sh(['sfdisk', '--json', file])) as { partitiontable: Table }).partitiontable;
    const ss = table.sectorsize ?? 512;
    // sfdisk numbers partitions in script order (MBR logicals from 5 after the extended one)
    for (const [i, p] of table.partitions.entries()) {
      const spec = parts[i];
      if (spec?.fs) await this.populate(file, p.start * ss, p.size * ss, spec.fs, spec.label, spec.files);
    }
    return file;
  }

  async wholeImage(name: string, sizeMiB: number, fs: Fs, label?: string, files?: Files): Promise<string> {
    const file = this.path(name);
    await sh(['truncate', '-s', `${sizeMiB}M`, file]);
    await this.populate(file, 0, 0, fs, label, files);
    return file;
  }

  /**
   * A disk shaped like a Windows guest (test/support/windows-disk.sh), C: left in `state`, its
   * registry hives the layout's own or as `hives` says (win11, caseless, evil, link, junk).
   */
  async windowsDisk(
    name: string, layout: 'win7' | 'win10', state: 'clean' | 'hibernated' | 'unclean' | 'fast-startup' | 'dirty' = 'clean',
    hives?: 'win11' | 'caseless' | 'evil' | 'link' | 'junk',
  ): Promise<string> {
    const file = this.path(name);
    await sh(['bash', join(import.meta.dirname, '../support/windows-disk.sh'), file, layout, state, ...(hives ? [hives] : [])]);
    return file;
  }

  /** QEMU images (test/support/qemu-disk.sh): `chain BASE TOP`, `convert FORMAT OUT`, `whole FORMAT OUT`, `dirty-ext4 OUT`… */
  async qemuDisk(kind: string, ...args: string[]): Promise<void> {
    await sh(['bash', join(import.meta.dirname, '../support/qemu-disk.sh'), kind, ...args]);
  }

  /**
   * A writable qemu-storage-daemon holding the image's QEMU lock, as a running VM does (it writes
   * nothing: the image's sha256 stays). Returns the function that stops it.
   */
  async holdLock(file: string, format: string): Promise<() => Promise<void>> {
    const pidfile = this.path(`.holder-${Math.random().toString(36).slice(2)}.pid`);
    await sh(['qemu-storage-daemon', '--blockdev', `driver=file,node-name=f,filename=${file}`, '--blockdev', `driver=${format},node-name=q,file=f`,
      '--pidfile', pidfile, '--daemonize']);
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    return async () => {
      process.kill(pid, 'SIGTERM');
      // gone, or a zombie that only waits for init to reap it
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    };
  }

  /**
   * Disks with LVM inside (test/support/lvm-disk.sh): `centos` and `span` need device-mapper and
   * partition scan (VM lane); `pv`, a small whole-disk PV whose LVs were never activated, neither.
   */
  async lvmDisk(kind: 'centos' | 'span' | 'pv', names: readonly string[], vg?: string): Promise<string[]> {
    const files = names.map((n) => this.path(n));
    await sh(['bash', join(import.meta.dirname, '../support/lvm-disk.sh'), kind, ...files, ...(vg ? [vg] : [])]);
    return files;
  }

  writeManifest(name: string, yaml: string): string {
    const p = this.path(name);
    writeFileSync(p, yaml);
    return p;
  }

  async imgplan(args: string[], opts: { env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await execa(process.execPath, [CLI, ...args], {
      reject: false, stdin: 'ignore', cwd: this.root,
      env: { IMGPLAN_STATE_DIR: this.stateDir, NO_COLOR: '1', NODE_COMPILE_CACHE: COMPILE_CACHE, ...opts.env },
    });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  /**
   * What this sandbox still has on the system (test/support/leaks.mjs): mounts under it, loops
   * backed by its files, dm maps and nbd connections over them, daemons serving them, journal files.
   */
  async leaks(): Promise<string[]> {
    return (await findLeaks(this.root, { stateDir: this.stateDir })).map((l) => l.text);
  }

  /**
   * Removes whatever leaked, in teardown order: filesystems (deepest first), dm maps, loops, nbd
   * connections, then the daemons, then any storage-daemon view a stopped daemon left mounted
   * (test/support/leaks.mjs). Returns what it had to remove.
   */
  async cleanup(): Promise<string[]> {
    return (await cleanupLeaks(this.root, { stateDir: this.stateDir })).map((l) => l.text);
  }

  async dispose(): Promise<string[]> {
    const leaked = await this.cleanup();
    if ((await this.leaks()).filter((l) => !l.startsWith('journal ')).length === 0) rmSync(this.root, { recursive: true, force: true });
    return leaked;
  }
}

/**
 * A fresh Sandbox per test, named after it, behind a stable handle; after each test, pass or
 * fail, the leak guard removes what the test left and fails the test that leaked.
 */
export function useSandbox(): Sandbox {
  let current: Sandbox | undefined;
  beforeEach((ctx) => {
    current = new Sandbox(ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 30));
  });
  afterEach(async () => {
    const leaked = await current!.dispose();
    expect(leaked, 'the test left these behind').toEqual([]);
  });
  return new Proxy({} as Sandbox, {
    get: (_t, prop) => {
      const v = Reflect.get(current!, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(current) : v;
    },
  });
}
