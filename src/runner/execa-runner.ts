import { constants } from 'node:fs';
import { lstat, open, readFile, readdir, readlink, stat, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { execa } from 'execa';
import type { Command, CommandResult, PathInfo, Runner } from './runner.js';

/** Linux dev_t as "major:minor" (glibc's encoding: minor bits are split around the major). */
export function devToMajMin(dev: number): string {
  const big = BigInt(dev);
  const major = ((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn);
  const minor = (big & 0xffn) | ((big >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

const DEFAULT_TIMEOUT_MS = 120_000;

class NotOpened extends Error {}

/**
 * `path` below `base`, opened one component at a time, each with O_NOFOLLOW from the directory
 * opened before it (through /proc/self/fd, Node's stand-in for openat): no symlink is followed,
 * whatever changes in the tree meanwhile.
 */
async function openBelow(base: string, path: string): Promise<FileHandle> {
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  const rel = posix.relative(base, path);
  const parts = rel === '' ? [] : rel.split('/');
  if (parts.some((c) => c === '..' || c === '.' || c === '')) throw new NotOpened(`${path} is not below ${base}`);
  let dir = await open(base, flags).catch((e: NodeJS.ErrnoException) => {
    throw new NotOpened(`${base} could not be opened as a directory without following a symlink (${e.code ?? e.message})`);
  });
  let at = base;
  for (const c of parts) {
    at = posix.join(at, c);
    let next: FileHandle;
    try {
      next = await open(`/proc/self/fd/${dir.fd}/${c}`, flags);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR, not ELOOP
      const link = (code === 'ELOOP' || code === 'ENOTDIR') && (await lstat(`/proc/self/fd/${dir.fd}/${c}`).catch(() => undefined))?.isSymbolicLink();
      throw new NotOpened(link ? `${at} is a symlink: imgplan never mounts through one`
        : code === 'ENOTDIR' ? `${at} is not a directory` : `${at} could not be opened (${code ?? (e as Error).message})`);
    } finally {
      await dir.close();
    }
    dir = next;
  }
  return dir;
}

export class ExecaRunner implements Runner {
  private readonly env: Record<string, string>;

  constructor(private readonly log?: (line: string) => void) {
    // LC_ALL=C: every parsed message and number in one known language and format.
    // LVM_SUPPRESS_FD_WARNINGS: LVM complains on stderr about descriptors Node passes down.
    this.env = { LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' };
  }

  async run(cmd: Command): Promise<CommandResult> {
    const [file, ...args] = cmd.argv;
    const started = Date.now();
    let dir: FileHandle | undefined;
    if (cmd.dirFd3) {
      try {
        dir = await openBelow(cmd.dirFd3.base, cmd.dirFd3.path);
      } catch (e) {
        if (!(e instanceof NotOpened)) throw e;
        this.log?.(`$ ${cmd.argv.join(' ')}  → not run: ${e.message}`);
        return { argv: cmd.argv, exitCode: undefined, stdout: '', stderr: `${e.message}; nothing was run`, failure: 'exit-code' };
      }
    }
    const fd3 = dir ? [dir.fd] : cmd.fileFd3 !== undefined ? [cmd.fileFd3] : [];
    const r = await execa(file, args, {
      reject: false,
      // execa passes a descriptor number through as the child's fd 3; its types only list 3…9 there
      stdio: [cmd.lifeline || cmd.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe', ...fd3] as unknown as ['ignore', 'pipe', 'pipe'],
      ...(cmd.maxOutputBytes !== undefined ? { maxBuffer: cmd.maxOutputBytes } : {}),
      ...(cmd.input !== undefined ? { input: cmd.input } : {}),
      env: this.env,
      extendEnv: true,
      // a command that changes the system runs in its own process group, so the terminal's Ctrl-C reaches imgplan alone,
      // which lets the running step finish before it stops (a mount or an attach cut short is worse than one finished)
      detached: cmd.effect === 'changes',
      timeout: cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      stripFinalNewline: false,
    }).finally(() => dir?.close());
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    const stderr = typeof r.stderr === 'string' ? r.stderr : '';
    let failure: CommandResult['failure'];
    const code = (r as { code?: string }).code;
    if (code === 'ENOENT') failure = 'not-found';
    else if (r.timedOut) failure = 'timed-out';
    else if (r.isTerminated || (r as { isMaxBuffer?: boolean }).isMaxBuffer) failure = 'killed';
    else if (r.exitCode !== 0) failure = 'exit-code';
    this.log?.(`$ ${cmd.argv.join(' ')}  → ${failure ?? 'ok'} ${r.exitCode ?? ''} (${Date.now() - started} ms)`);
    const result: CommandResult = { argv: cmd.argv, exitCode: r.exitCode, stdout, stderr };
    return failure ? { ...result, failure } : result;
  }

  async readText(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
  }

  async inspectPath(path: string): Promise<PathInfo> {
    // a mountpoint inside a guest's tree must not lead elsewhere through a link the guest made
    let link: { link: string } | Record<string, never> = {};
    try {
      if ((await lstat(path)).isSymbolicLink()) link = { link: await readlink(path) };
    } catch {
      return { kind: 'missing' };
    }
    let st;
    try {
      st = await stat(path);
    } catch {
      return { kind: 'missing', ...link };
    }
    const base = { dev: devToMajMin(st.dev), ino: st.ino, size: st.size, mtimeMs: Math.trunc(st.mtimeMs), mode: st.mode & 0o7777 };
    if (st.isDirectory()) {
      let empty = true;
      try {
        empty = (await readdir(path)).length === 0;
      } catch {
        empty = false;
      }
      return { kind: 'directory', ...base, empty, ...link };
    }
    return { kind: st.isFile() ? 'file' : 'other', ...base, ...link };
  }

  async readBytes(path: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    let fh;
    try {
      // O_NOATIME: reading evidence should not even change the image file's access time
      fh = await open(path, constants.O_RDONLY | constants.O_NOATIME).catch(() => open(path, constants.O_RDONLY));
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } catch {
      return undefined;
    } finally {
      await fh?.close();
    }
  }
}
