import { readFile, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EXIT, ImgplanError } from '../errors.js';
import type { Runner } from '../runner/runner.js';
import type { Emit } from './events.js';

/** A file an operation works on (a manifest or a saved plan): its real path and its text. */
export interface Input {
  readonly path: string;
  readonly text: string;
  /** the file as read, when it was: the manifest loader refuses it unless it is UTF-8 (text replaces bad bytes with U+FFFD) */
  readonly bytes?: Uint8Array;
  /** who may change the file (a saved plan is an approval only while no one else can) */
  readonly owner?: { readonly uid: number; readonly mode: number };
}

/** Manifests and saved plans are small; anything larger (or /dev/zero) is refused before it is read. */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** What an operation works with; the CLI makes one per run. Nothing below reads process.env. */
export interface OperationContext {
  /** every command and every probe of the live state goes through it */
  readonly runner: Runner;
  /** IMGPLAN_STATE_DIR: where the journal and the host-wide lock are */
  readonly stateDir: string;
  readonly emit: Emit;
  /** the host-wide lock's folder (default: stateDir) */
  readonly lockDir?: string;
  /** how this imgplan is started again (the runtime and its program), for inspect's guest reader; without it, no guest's files are read */
  readonly program?: readonly [string, string];
  /** reads the manifest a saved plan names (default: readInput, from disk) */
  readonly readInput?: (file: string) => Promise<Input>;
}

/** Reads a manifest or saved plan; a file that cannot be read is a refusal (exit 3). */
export async function readInput(file: string): Promise<Input> {
  let path: string;
  let st;
  try {
    path = await realpath(resolve(file));
    st = await stat(path);
  } catch (e) {
    throw unreadable(file, e);
  }
  if (!st.isFile()) throw new ImgplanError(`cannot read ${file}: it is not a regular file`, EXIT.invalid);
  if (st.size > MAX_INPUT_BYTES) {
    throw new ImgplanError(`cannot read ${file}: it is ${st.size} bytes, and imgplan reads manifests and saved plans of at most 16 MiB`, EXIT.invalid);
  }
  try {
    const bytes = await readFile(path);
    return { path, text: bytes.toString('utf8'), bytes, owner: { uid: st.uid, mode: st.mode & 0o7777 } };
  } catch (e) {
    throw unreadable(file, e);
  }
}

function unreadable(file: string, e: unknown): ImgplanError {
  return new ImgplanError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    EXIT.invalid, file === 'imgplan.yaml' ? 'pass the manifest as an argument, or create imgplan.yaml here (see examples/)' : undefined);
}
