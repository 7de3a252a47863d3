import type { Command } from '../runner/runner.js';
import { ShapeError } from '../probe/coerce.js';

/** One image of a chain, as `qemu-img info --output=json` describes it. */
export interface QemuImageInfo {
  readonly filename: string;
  readonly format: string;
  readonly virtualSize: number;
  readonly actualSize?: number;
  /** as written in the image header (may be relative to the image's folder) */
  readonly backingFilename?: string;
  /** resolved by QEMU */
  readonly fullBackingFilename?: string;
  /** absent: the header does not record it, so QEMU guesses the backing file's format */
  readonly backingFormat?: string;
  readonly encrypted: boolean;
  readonly dirty: boolean;
}

/**
 * What QEMU's format probe finds. Run without --format on purpose, and without --backing-chain:
 * qemu-img info opens no backing file then and reads only the header, so a guessed format is
 * reported, never used for I/O (field-notes G13). Without --force-share it fails on an image
 * that a running VM holds locked (field-notes G7).
 */
export function qemuImgProbe(file: string, forceShare: boolean): Command {
  return { argv: ['qemu-img', 'info', '--output=json', ...(forceShare ? ['--force-share'] : []), file], effect: 'reads' };
}

/**
 * One backing file of a chain, opened with the format its child's header records (QEMU probes
 * it when there is none) and without --backing-chain: its own backing file is opened only once
 * imgplan has checked that path too.
 */
export function qemuImgBacking(file: string, format: string | undefined, forceShare: boolean): Command {
  return {
    argv: ['qemu-img', 'info', '--output=json', ...(format ? [`--format=${format}`] : []), ...(forceShare ? ['--force-share'] : []), file],
    effect: 'reads',
  };
}

/** A backing file named with QEMU's protocol or json: syntax (nbd:, http:, json:{…}), not as a path. */
export const protocolSyntax = (name: string) => /^[A-Za-z][A-Za-z0-9+._-]*:/.test(name);

/** How long a backing chain imgplan follows; real ones are a few images deep. */
export const MAX_CHAIN = 16;

function parseOne(v: unknown): QemuImageInfo {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ShapeError(`qemu-img info: expected an object, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const num = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
  const filename = str('filename');
  const format = str('format');
  const virtualSize = num('virtual-size');
  if (filename === undefined || format === undefined || virtualSize === undefined) throw new Error('qemu-img info: filename, format or virtual-size missing');
  const backing = str('backing-filename');
  const full = str('full-backing-filename');
  const bfmt = str('backing-filename-format');
  const actual = num('actual-size');
  return {
    filename, format, virtualSize,
    ...(actual !== undefined ? { actualSize: actual } : {}),
    ...(backing !== undefined ? { backingFilename: backing } : {}),
    ...(full !== undefined ? { fullBackingFilename: full } : {}),
    ...(bfmt !== undefined ? { backingFormat: bfmt } : {}),
    encrypted: o.encrypted === true,
    dirty: o['dirty-flag'] === true,
  };
}

/** `qemu-img info --output=json`: one object; with --backing-chain, an array, top image first. */
export function parseQemuImgInfo(text: string): QemuImageInfo[] {
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? v.map(parseOne) : [parseOne(v)];
}

export type QemuOpenProblem =
  | { readonly kind: 'in-use'; readonly message: string }
  | { readonly kind: 'missing-file'; readonly file: string; readonly message: string }
  /** a backing file that is not a regular file: a device, a directory, QEMU protocol or json: syntax */
  | { readonly kind: 'backing-not-file'; readonly file: string; readonly what: string; readonly message: string }
  | { readonly kind: 'other'; readonly message: string };

/**
 * Why qemu-img could not open an image, from its message. QEMU 7.2 says, for a locked image:
 * `Failed to get shared "write" lock` / `Is another process using the image [F]?`; for a
 * missing file anywhere in the chain: `Could not open 'F': Could not open 'F': No such file or directory`.
 */
export function classifyQemuError(stderr: string): QemuOpenProblem {
  // QEMU nests its context ("Could not open 'F': Could not open 'F': No such file…"); the innermost says it
  const message = stderr.trim().split('\n').map((l) => l.replace(/^qemu-img: /, '').replace(/^(Could not open '[^']+': )+/, '')).filter(Boolean).join('; ');
  if (/Failed to get (shared )?"[a-z ]+" lock/.test(stderr)) return { kind: 'in-use', message };
  const missing = /Could not open '([^']+)': (?:Could not open '[^']+': )?No such file or directory/.exec(stderr);
  if (missing) return { kind: 'missing-file', file: missing[1]!, message };
  return { kind: 'other', message };
}
