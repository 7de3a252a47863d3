import { constants } from 'node:fs';
import { lstat, open, readFile, readdir, readlink, stat } from 'node:fs/promises';
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
    const r = await execa(file, args, {
      reject: false,
      stdin: 'ignore',
      env: this.env,
      extendEnv: true,
      timeout: cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      stripFinalNewline: false,
    });
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    const stderr = typeof r.stderr === 'string' ? r.stderr : '';
    let failure: CommandResult['failure'];
    const code = (r as { code?: string }).code;
    if (code === 'ENOENT') failure = 'not-found';
    else if (r.timedOut) failure = 'timed-out';
    else if (r.isTerminated) failure = 'killed';
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
    const base = { dev: devToMajMin(st.dev), ino: st.ino, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
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
