import type { HiveFile, HiveQuery, WindowsRead } from '../core/guest.js';
import { missingToolHint } from '../errors.js';
import {
  computerNameKey, currentControlSet, CURRENT_VERSION_KEY, interfaceKeys, interfacesKey, parseHivexValues, tcpipKey,
} from '../probe/windows-registry.js';
import { findCaseless, GuestPathError, openGuestFile } from './guest-files.js';
import type { CommandResult, Runner } from './runner.js';

/**
 * Windows' registry hives of a guest's volume mounted at `root` (read-only, in the guest reader's
 * private namespace: src/cli/read-guest.ts), read with hivex's `hivexget`, never parsed here by
 * hand and never opened for writing. Each hive is found as Windows finds it (names without regard
 * to case, links resolved inside the guest), opened by imgplan without following a link, checked
 * to be a regular file of at most MAX_HIVE_BYTES, and given to hivexget as its fd 3
 * (/proc/self/fd/3), so that nothing swapped in after the check can be what it reads.
 */

/** The folder that makes a volume a Windows system volume. */
export const WINDOWS_CONFIG = '/Windows/System32/config';
/** Real SOFTWARE hives are 50–300 MB; SYSTEM ones 10–100 MB. */
export const MAX_HIVE_BYTES = 1024 ** 3;
/** The most bytes of one hivexget listing kept (a CurrentVersion key is a few KiB). */
export const MAX_HIVEX_OUTPUT = 4 * 1024 * 1024;
const HIVEX_TIMEOUT_MS = 60_000;

/** What was read of the Windows on this volume; undefined when it holds none (no Windows\System32\config). */
export async function readWindows(runner: Runner, root: string): Promise<WindowsRead | undefined> {
  let config: string | undefined;
  try {
    config = await findCaseless(root, WINDOWS_CONFIG);
  } catch (e) {
    if (!(e instanceof GuestPathError)) throw e;
    return { config: WINDOWS_CONFIG, hives: [], queries: [], error: e.message };
  }
  if (config === undefined) return undefined;
  const queries: HiveQuery[] = [];
  const hives: HiveFile[] = [];
  const missing = { config, hives: [], queries: [], error: `hivexget is not installed (${missingToolHint('hivexget')})` };
  const software = await withHive(root, config, 'SOFTWARE', async (fd) => {
    queries.push(await query(runner, fd, 'SOFTWARE', CURRENT_VERSION_KEY));
  });
  if (software === 'no-hivexget') return missing;
  hives.push(software);
  const system = await withHive(root, config, 'SYSTEM', async (fd) => {
    const select = await query(runner, fd, 'SYSTEM', '\\Select');
    queries.push(select);
    const set = select.output === undefined ? undefined : currentControlSet(parseHivexValues(select.output));
    if (!set) return;
    queries.push(await query(runner, fd, 'SYSTEM', computerNameKey(set)));
    queries.push(await query(runner, fd, 'SYSTEM', tcpipKey(set)));
    // the adapters: hivexget reads values only, so hivexsh (which hivexget runs) lists the subkeys
    const listed = await subkeys(runner, fd, 'SYSTEM', interfacesKey(set));
    queries.push(listed);
    for (const guid of listed.output === undefined ? [] : interfaceKeys(listed.output)) {
      queries.push(await query(runner, fd, 'SYSTEM', `${interfacesKey(set)}\\${guid}`));
    }
  });
  if (system === 'no-hivexget') return missing;
  hives.push(system);
  return { config, hives, queries };
}

/** Runs `use` with the hive opened: the hive file as found, or why it was not read ('no-hivexget' when hivexget is missing). */
async function withHive(root: string, config: string, name: 'SOFTWARE' | 'SYSTEM', use: (fd: number) => Promise<void>,
): Promise<HiveFile | 'no-hivexget'> {
  let path: string | undefined;
  try {
    path = await findCaseless(root, `${config}/${name}`);
  } catch (e) {
    if (!(e instanceof GuestPathError)) throw e;
    return { name, error: e.message };
  }
  if (path === undefined) return { name, error: 'no such file' };
  const opened = await openGuestFile(root, path, MAX_HIVE_BYTES);
  if (opened === undefined) return { name, path, error: 'no such file (a link to nothing inside the guest)' };
  if ('error' in opened) return { name, path, error: opened.error };
  try {
    await use(opened.fh.fd);
  } catch (e) {
    if (e instanceof NoHivexget) return 'no-hivexget';
    throw e;
  } finally {
    await opened.fh.close();
  }
  return { name, path, size: opened.size };
}

class NoHivexget extends Error {}

/** `hivexget HIVE KEY`: all values of the key. */
async function query(runner: Runner, fd: number, hive: 'SOFTWARE' | 'SYSTEM', key: string): Promise<HiveQuery> {
  const r = await runner.run({
    argv: ['hivexget', '/proc/self/fd/3', key], effect: 'reads', fileFd3: fd, timeoutMs: HIVEX_TIMEOUT_MS, maxOutputBytes: MAX_HIVEX_OUTPUT,
  });
  return answer(r, hive, key);
}

/** hivexsh's `ls` of a key: its subkeys' names, one a line. `key` is imgplan's own (never from the guest): no newline in it. */
async function subkeys(runner: Runner, fd: number, hive: 'SOFTWARE' | 'SYSTEM', key: string): Promise<HiveQuery> {
  if (/[\n\r]/.test(key)) throw new Error(`not a registry key: ${key}`);
  const r = await runner.run({
    argv: ['hivexsh', '/proc/self/fd/3'], input: `cd ${key}\nls\nexit\n`, effect: 'reads', fileFd3: fd, timeoutMs: HIVEX_TIMEOUT_MS,
    maxOutputBytes: MAX_HIVEX_OUTPUT,
  });
  return { ...answer(r, hive, key), subkeys: true };
}

function answer(r: CommandResult, hive: 'SOFTWARE' | 'SYSTEM', key: string): HiveQuery {
  if (r.failure === 'not-found') throw new NoHivexget();
  if (r.failure) {
    const said = r.stderr.split('\n').find((l) => l.startsWith('hivexsh:'))?.replace(/\/proc\/self\/fd\/3/g, hive) ?? r.stderr.trim();
    const why = r.failure === 'killed' ? `stopped: more than ${MAX_HIVEX_OUTPUT} bytes of output` : r.failure === 'timed-out' ? 'timed out' : said;
    return { hive, key, error: `hivexget failed: ${why.slice(0, 300)}` };
  }
  return { hive, key, output: r.stdout };
}
