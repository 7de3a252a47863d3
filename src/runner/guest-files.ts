import { constants } from 'node:fs';
import { lstat, open, opendir, readlink, type FileHandle } from 'node:fs/promises';

/**
 * Reading files of a guest's tree mounted at `root`, as the guest itself would resolve them and
 * never further: a symlink's absolute target starts again at the guest's root, `..` stops there,
 * and nothing is opened through a link, so `/etc/hostname -> /etc/shadow` of the host reads the
 * guest's own /etc/shadow at most. The tree is a read-only mount in a private mount namespace
 * (src/cli/read-guest.ts) that nobody else changes, so what lstat saw is what open gets.
 * Everything is bounded: links followed, bytes read, entries listed.
 */

/** As the kernel's MAXSYMLINKS. */
export const MAX_LINKS = 40;
export const MAX_FILE_BYTES = 256 * 1024;
export const MAX_DIR_ENTRIES = 512;
const MAX_COMPONENTS = 256;

export class GuestPathError extends Error {}

/** The host path of a guest path under root, every link resolved inside the guest; undefined when it does not exist. */
export async function resolveInGuest(root: string, guestPath: string): Promise<string | undefined> {
  let todo = guestPath.split('/');
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    if (todo.length + done.length > MAX_COMPONENTS) throw new GuestPathError(`a path of more than ${MAX_COMPONENTS} components`);
    const c = todo.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      done.pop();
      continue;
    }
    const here = `${root}/${[...done, c].join('/')}`;
    const st = await lstat(here).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new GuestPathError(`more than ${MAX_LINKS} symbolic links`);
      const target = await readlink(here);
      if (target.startsWith('/')) done.length = 0;
      todo = [...target.split('/'), ...todo];
      continue;
    }
    if (todo.some((t) => t !== '' && t !== '.') && !st.isDirectory()) return undefined;
    done.push(c);
  }
  return `${root}/${done.join('/')}`.replace(/\/$/, '') || root;
}

export interface FileRead {
  /** the first MAX_FILE_BYTES bytes, base64 */
  readonly data?: string;
  readonly size?: number;
  readonly truncated?: true;
  /** why it could not be read: absent files have no entry at all */
  readonly error?: string;
}

/** A regular file of the guest (never a FIFO, device or socket: each could block or reach the host), bounded. */
export async function readGuestFile(root: string, guestPath: string, limit = MAX_FILE_BYTES): Promise<FileRead | undefined> {
  let path: string | undefined;
  try {
    path = await resolveInGuest(root, guestPath);
  } catch (e) {
    return { error: (e as Error).message };
  }
  if (path === undefined) return undefined;
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return { error: `cannot be opened (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { error: st.isDirectory() ? 'a directory' : 'not a regular file' };
    const buf = Buffer.alloc(Math.min(limit, st.size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return { data: buf.subarray(0, bytesRead).toString('base64'), size: st.size, ...(st.size > limit ? { truncated: true as const } : {}) };
  } catch (e) {
    return { error: `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    await fh.close();
  }
}

export interface DirEntry {
  readonly name: string;
  readonly kind: 'file' | 'directory' | 'link' | 'other';
}

export interface DirRead {
  readonly entries: readonly DirEntry[];
  readonly truncated?: true;
  readonly error?: string;
}

/** The entries of a guest directory, sorted by name, at most MAX_DIR_ENTRIES of them. */
export async function listGuestDir(root: string, guestPath: string): Promise<DirRead | undefined> {
  let path: string | undefined;
  try {
    path = await resolveInGuest(root, guestPath);
  } catch (e) {
    return { entries: [], error: (e as Error).message };
  }
  if (path === undefined) return undefined;
  const entries: DirEntry[] = [];
  let truncated = false;
  try {
    const dir = await opendir(path);
    for await (const d of dir) {
      if (entries.length >= MAX_DIR_ENTRIES) {
        truncated = true;
        break;
      }
      entries.push({ name: d.name, kind: d.isFile() ? 'file' : d.isDirectory() ? 'directory' : d.isSymbolicLink() ? 'link' : 'other' });
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOTDIR' ? undefined : { entries: [], error: `cannot be listed (${code ?? 'error'})` };
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, ...(truncated ? { truncated: true as const } : {}) };
}

/** The most entries looked through for one name (a Windows\System32 has some thousands). */
export const MAX_LOOKUP_ENTRIES = 100_000;

/**
 * A guest path whose names are matched as Windows matches them, without regard to ASCII case
 * (`WINDOWS/system32/CONFIG/software` for `/Windows/System32/config/SOFTWARE`): the path with the
 * names the guest has, or undefined when one is missing. ntfs-3g and ntfs3 match names exactly; an
 * exact name is taken before another that differs in case only. Links are resolved inside the guest.
 */
export async function findCaseless(root: string, guestPath: string): Promise<string | undefined> {
  const found: string[] = [];
  for (const want of guestPath.split('/').filter((c) => c !== '' && c !== '.')) {
    if (want === '..') return undefined;
    const dir = await resolveInGuest(root, `/${found.join('/')}`);
    if (dir === undefined) return undefined;
    const lower = want.toLowerCase();
    let match: string | undefined;
    let seen = 0;
    try {
      const d = await opendir(dir);
      for await (const e of d) {
        if (++seen > MAX_LOOKUP_ENTRIES) throw new GuestPathError(`/${found.join('/')} has more than ${MAX_LOOKUP_ENTRIES} entries`);
        if (e.name === want) {
          match = e.name;
          break;
        }
        if (match === undefined && e.name.toLowerCase() === lower) match = e.name;
      }
    } catch (e) {
      if (e instanceof GuestPathError) throw e;
      return undefined;
    }
    if (match === undefined) return undefined;
    found.push(match);
  }
  return `/${found.join('/')}`;
}

/** A regular file of the guest, opened for a command to read (fd 3): never a link, a FIFO or a device, at most `maxBytes`. */
export async function openGuestFile(
  root: string, guestPath: string, maxBytes: number,
): Promise<{ fh: FileHandle; size: number } | { error: string } | undefined> {
  let path: string | undefined;
  try {
    path = await resolveInGuest(root, guestPath);
  } catch (e) {
    return { error: (e as Error).message };
  }
  if (path === undefined) return undefined;
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return { error: `cannot be opened (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const st = await fh.stat().catch(() => undefined);
  const why = !st ? 'cannot be read' : !st.isFile() ? (st.isDirectory() ? 'a directory' : 'not a regular file')
    : st.size > maxBytes ? `${st.size} bytes: more than the ${maxBytes} imgplan reads` : undefined;
  if (why || !st) {
    await fh.close();
    return { error: why ?? 'cannot be read' };
  }
  return { fh, size: st.size };
}
