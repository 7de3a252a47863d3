import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { EMBEDDED } from '../embedded.js';
import { EXIT, ImgplanError } from '../errors.js';
import type { JournalEntry, JournalIntent } from '../plan/types.js';
import { manifestKey } from '../manifest/key.js';

/**
 * The run journal: what imgplan created for one manifest, with the identity needed to
 * re-verify each object before destroy touches it. Lives under /run (tmpfs), so it dies with
 * the loop devices and mounts at reboot. Each kind's entry is declared by its resource module.
 *
 * Format 2 adds `intents`: what a step is about to make, written before the step runs and
 * replaced by its entry once it has, so that a run killed in between leaves a trace that the
 * next run resolves (the kind's `recover`); and a loop's `diskseq`. Format 1 (no intents) is
 * read as format 2; imgplan always writes format 2. schemas/journal.schema.json is the shape.
 */
export interface Journal {
  readonly formatVersion: 2;
  readonly manifest: string;
  readonly manifestSha256: string;
  readonly entries: readonly JournalEntry[];
  /** steps that started and had not recorded what they made when their run ended (killed) */
  readonly intents: readonly JournalIntent[];
}

/** Another manifest's journal in the same state directory: what imgplan made for that manifest, never this one's to touch. */
export interface OtherJournal {
  readonly path: string;
  readonly manifest: string;
  readonly entries: readonly JournalEntry[];
  readonly intents: readonly JournalIntent[];
}

/** The state directory's other journals; those that cannot be read are named, so their objects are not taken for an admin's silently. */
export interface OtherJournals {
  readonly journals: readonly OtherJournal[];
  readonly unreadable: readonly { readonly path: string; readonly why: string }[];
}

export const JOURNAL_FORMAT = 2;
export const DEFAULT_STATE_DIR = '/run/imgplan';

/** Keyed by the manifest's real path, not its content, so editing it does not orphan live objects. */
export function journalPath(stateDir: string, manifestPath: string): string {
  return posix.join(stateDir, 'journal', `${manifestKey(manifestPath)}.json`);
}

/**
 * A journal that is not one imgplan wrote for this manifest (damaged, truncated, foreign), or a
 * path to it that is unsafe to read or write (a symbolic link, another user's): exit 3.
 * `what` names the path: the journal, its folder, or the state directory.
 */
export class JournalFormatError extends ImgplanError {
  constructor(readonly path: string, detail: string, hint?: string, what = 'journal') {
    super(`${what} ${path} ${detail}`, EXIT.invalid, hint ?? JOURNAL_HINT);
  }
}

const JOURNAL_HINT = 'imgplan cannot tell from it what it made, so it touches nothing. Move the file away if none of the objects it ' +
  'recorded are live (losetup --list, findmnt); otherwise remove them by hand first, then move it away';

/** Must match scripts/build-validator.mjs, which precompiles the same schema for the built CLI. */
export const JOURNAL_AJV_OPTIONS = { allErrors: false, strict: true, discriminator: true } as const;

let compiled: ValidateFunction | undefined;

/** schemas/journal.schema.json: precompiled by the build (embedded in the bundle), else compiled once here (tests, from the sources). */
function journalValidator(): ValidateFunction {
  compiled ??= EMBEDDED?.journalValidator;
  if (!compiled) {
    const require = createRequire(import.meta.url);
    try {
      compiled = require('./journal-validator.cjs') as ValidateFunction;
    } catch {
      const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
      const schema = JSON.parse(readFileSync(new URL('../../schemas/journal.schema.json', import.meta.url), 'utf8')) as object;
      compiled = new Ajv2020(JOURNAL_AJV_OPTIONS).compile(schema);
    }
  }
  return compiled;
}

/** The kinds the schema knows, for the message about one it does not (a unit test keeps it equal to the registry's). */
export const JOURNAL_KINDS = ['attach', 'dir', 'export', 'mount', 'nbd', 'partmap', 'vg'] as const;

/** "entries[3] (attach:web01/part1)" for an error at /entries/3/…, with the rest of the path as the field. */
function place(v: Record<string, unknown>, pointer: string): { where: string; field: string } {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if ((parts[0] === 'entries' || parts[0] === 'intents') && parts[1] !== undefined) {
    const item = (v[parts[0]] as unknown[])[Number(parts[1])] as Record<string, unknown> | undefined;
    const address = typeof item?.address === 'string' ? ` (${JSON.stringify(item.address).slice(1, -1)})` : '';
    return { where: `${parts[0]}[${parts[1]}]${address}`, field: parts.slice(2).join('.') };
  }
  return { where: '', field: parts.join('.') };
}

function describe(e: ErrorObject, v: Record<string, unknown>): string {
  const { where, field } = place(v, e.instancePath);
  const p = e.params as Record<string, unknown>;
  const subject = field ? `${field} ` : '';
  let what: string;
  switch (e.keyword) {
    case 'required': what = `has no ${String(p.missingProperty)}`; break;
    case 'additionalProperties': what = `has a field imgplan does not write: ${String(p.additionalProperty)}`; break;
    case 'discriminator':
      what = p.error === 'mapping'
        ? `has kind ${JSON.stringify(p.tagValue)}, which is no kind of object imgplan makes (${JOURNAL_KINDS.join(', ')})`
        : 'has a kind that is not a string';
      break;
    case 'const': case 'enum':
      what = `${subject}is ${JSON.stringify(pick(v, e.instancePath))}, not ${JSON.stringify(p.allowedValue ?? p.allowedValues)}`;
      break;
    default: what = `${subject}${e.message ?? 'is wrong'}`;
  }
  return where ? `${where}: ${what}` : what;
}

function pick(v: unknown, pointer: string): unknown {
  let x = v;
  for (const p of pointer.split('/').slice(1)) x = (x as Record<string, unknown> | undefined)?.[p];
  return x;
}

/**
 * Reads a journal: valid JSON, the shape of schemas/journal.schema.json (each entry and intent by
 * its kind), and, given `manifest`, the journal of that manifest. Anything else is a
 * JournalFormatError that names the file, the entry (its index and address) and what is wrong.
 */
export function parseJournal(text: string, path: string, manifest?: string): Journal {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    // imgplan writes the whole journal at once, ending with its closing brace: one that stops short was cut off
    const truncated = !/\}\s*$/.test(text);
    throw new JournalFormatError(path, `is not valid JSON${truncated ? ' (truncated? it stops before its closing brace)' : ''}: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JournalFormatError(path, 'is not an imgplan journal (not a JSON object)');
  const j = v as Record<string, unknown>;
  if (!('formatVersion' in j)) throw new JournalFormatError(path, 'is not an imgplan journal (it has no formatVersion)');
  if (j.formatVersion !== 1 && j.formatVersion !== JOURNAL_FORMAT) {
    throw new JournalFormatError(path, `is in journal format ${JSON.stringify(j.formatVersion)}, which this imgplan cannot read (it reads 1 and 2)`,
      'it was written by another imgplan version: use that version to destroy what it made, or, if none of it is live, move the file away');
  }
  const validate = journalValidator();
  if (!validate(v)) throw new JournalFormatError(path, `is damaged: ${describe(validate.errors![0]!, j)}`);
  if (manifest !== undefined && j.manifest !== manifest) {
    throw new JournalFormatError(path, `is the journal of ${String(j.manifest)}, not of ${manifest} (copied or renamed by hand?)`);
  }
  const intents = (j.intents ?? []) as readonly JournalIntent[];
  return { ...(v as Omit<Journal, 'formatVersion' | 'intents'>), formatVersion: JOURNAL_FORMAT, intents };
}

export function serializeJournal(j: Journal): string {
  return `${JSON.stringify(j, null, 2)}\n`;
}
