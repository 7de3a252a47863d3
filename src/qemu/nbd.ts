/**
 * qemu-nbd connecting a disk image to a kernel nbd device (/dev/nbdN), and recognising such a
 * connection from its server's command line: the classic way to open qcow2 on a host with nbd.
 */
import { imageOpts } from './storage-daemon.js';

export interface NbdConnectSpec {
  readonly device: string;
  /** what qemu-nbd opens: the image, or the throw-away overlay over it */
  readonly file: string;
  readonly format: string;
  readonly readOnly: boolean;
  readonly pidfile: string;
  /** open an image another process holds locked (read-only only): qemu-nbd has no -U, so --image-opts */
  readonly forceShare?: boolean;
}

/** qemu-nbd daemonises once the device is connected; --pid-file names the server that stays. */
export function nbdConnectArgv(s: NbdConnectSpec): string[] {
  const ro = s.readOnly ? ['--read-only'] : [];
  if (s.forceShare) {
    return ['qemu-nbd', ...ro, '--image-opts', `--pid-file=${s.pidfile}`, `--connect=${s.device}`, imageOpts(s.format, s.file, { forceShare: true })];
  }
  return ['qemu-nbd', ...ro, `--format=${s.format}`, `--pid-file=${s.pidfile}`, `--connect=${s.device}`, s.file];
}

export function nbdDisconnectArgv(device: string): string[] {
  return ['qemu-nbd', '--disconnect', device];
}

/** What a qemu-nbd server's command line says it serves. */
export interface QemuNbdServe {
  readonly device?: string;
  /** the image (or overlay) path as given; with --image-opts, its file.filename */
  readonly file?: string;
  readonly format?: string;
  readonly readOnly: boolean;
}

// qemu-nbd's options that take a value (qemu-nbd --help, QEMU 7.2)
const SHORT_WITH_VALUE = new Set(['p', 'b', 'k', 'e', 'x', 'D', 'o', 'B', 'T', 'l', 'f', 'c']);
const LONG_WITH_VALUE = new Set(['port', 'bind', 'socket', 'shared', 'export-name', 'description', 'offset', 'bitmap', 'trace', 'load-snapshot',
  'format', 'connect', 'cache', 'aio', 'discard', 'detect-zeroes', 'object', 'tls-creds', 'tls-authz', 'tls-hostname', 'pid-file', 'selinux-label']);

/** Parses /proc/PID/cmdline (NUL-separated) of a qemu-nbd process; undefined for anything else. */
export function parseQemuNbdCmdline(cmdline: string): QemuNbdServe | undefined {
  const args = cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
  if (!(args[0] ?? '').split('/').pop()!.startsWith('qemu-nbd')) return undefined;
  const opts = new Map<string, string>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) opts.set(name, a.slice(eq + 1));
      else if (LONG_WITH_VALUE.has(name)) opts.set(name, args[++i] ?? '');
      else flags.add(name);
    } else if (a.startsWith('-') && a.length > 1) {
      // grouped short flags (-rv), the last one may take a value (-c/dev/nbd0, -f qcow2)
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        if (SHORT_WITH_VALUE.has(c)) {
          opts.set(c, j + 1 < a.length ? a.slice(j + 1) : args[++i] ?? '');
          break;
        }
        flags.add(c);
      }
    } else positional.push(a);
  }
  const device = opts.get('connect') ?? opts.get('c');
  let file = positional[positional.length - 1];
  let format = opts.get('format') ?? opts.get('f');
  if (flags.has('image-opts') && file !== undefined) {
    const o = parseImageOpts(file);
    file = o['file.filename'] ?? o.filename;
    format = o.driver;
  }
  return {
    ...(device !== undefined ? { device } : {}),
    ...(file !== undefined ? { file } : {}),
    ...(format !== undefined ? { format } : {}),
    readOnly: flags.has('read-only') || flags.has('r'),
  };
}

/** QEMU's key=value,… option string; ",," is a literal comma. */
export function parseImageOpts(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.replace(/,,/g, '\u0000').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1).replace(/\u0000/g, ',');
  }
  return out;
}

/** Whether a qemu-nbd server is the one imgplan would start for `file` on `device`. */
export function servesNbd(cmdline: string | undefined, device: string, file: string): boolean {
  const s = cmdline === undefined ? undefined : parseQemuNbdCmdline(cmdline);
  return s !== undefined && s.device === device && s.file === file;
}

/** Whether a journaled connection is still live: its device served by a running qemu-nbd of that file. */
export function liveNbdDevice(
  e: { readonly device: string; readonly file: string },
  state: { readonly devices: readonly { readonly device: string; readonly pid?: number; readonly cmdline?: string }[] },
): boolean {
  const d = state.devices.find((x) => x.device === e.device);
  return d?.pid !== undefined && servesNbd(d.cmdline, e.device, e.file);
}
