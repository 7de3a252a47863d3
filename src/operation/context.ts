import { readFile, realpath } from 'node:fs/promises';
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
}

/** What an operation works with; the CLI makes one per run. Nothing below reads process.env. */
export interface OperationContext {
  /** every command and every probe of the live state goes through it */
  readonly runner: Runner;
  /** IMGPLAN_STATE_DIR: where the journal and the host-wide lock are */
  readonly stateDir: string;
  readonly emit: Emit;
  /** the host-wide lock's folder (default: stateDir) */
  readonly lockDir?: string;
  /** reads the manifest a saved plan names (default: readInput, from disk) */
  readonly readInput?: (file: string) => Promise<Input>;
}

/** Reads a manifest or saved plan; a file that cannot be read is a refusal (exit 3). */
export async function readInput(file: string): Promise<Input> {
  try {
    const path = await realpath(resolve(file));
    const bytes = await readFile(path);
    return { path, text: bytes.toString('utf8'), bytes };
  } catch (e) {
    throw new ImgplanError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.invalid, file === 'imgplan.yaml' ? 'pass the manifest as an argument, or create imgplan.yaml here (see examples/)' : undefined);
  }
}
