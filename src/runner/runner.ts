/**
 * The one door to the system. Every command imgplan runs, and every file it reads to learn the
 * live state, passes through a Runner, so that probes can be recorded and replayed as fixtures
 * and every mutating command is visible in one place.
 */

export interface Command {
  /** argv, never a shell string. */
  readonly argv: readonly [string, ...string[]];
  /**
   * reads: changes nothing. scratch: makes, fills or removes something short-lived in imgplan's own
   * scratch folder while it looks (plan's throw-away probe view of a QEMU image), gone before the run returns;
   * recorded and replayed like a read. changes: changes the system (attach, mount, mkdir…);
   * replay runners refuse those.
   */
  readonly effect: 'reads' | 'scratch' | 'changes';
  readonly timeoutMs?: number;
  /**
   * a directory the command gets as its fd 3 (and names as /proc/self/fd/3): opened from `base`
   * one component of `path` at a time, never through a symlink, so a guest that swaps a directory
   * for a link after the check cannot redirect the command; if that open fails, the command is not run
   */
  readonly dirFd3?: { readonly base: string; readonly path: string };
  /**
   * a file the caller opened (and checked: a regular file, never through a link), given to the
   * command as its fd 3, which it names as /proc/self/fd/3: what the command reads cannot be swapped
   * after the check. The caller closes it.
   */
  readonly fileFd3?: number;
  /** what the command reads on its stdin (a pipe, closed after it) */
  readonly input?: string;
  /** the most bytes of stdout (and of stderr) kept: past that the command is stopped, and it fails as killed */
  readonly maxOutputBytes?: number;
  /**
   * stdin is a pipe imgplan holds open and never writes: the command reads end of file when
   * imgplan exits, even when imgplan is killed (inspect's guest reader stops then)
   */
  readonly lifeline?: true;
}

export type Failure = 'not-found' | 'timed-out' | 'killed' | 'exit-code';

export interface CommandResult {
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** absent when the command ran and exited 0 */
  readonly failure?: Failure;
}

/** What stat(2) and readdir(3) say about a path; `dev` is "major:minor" of the filesystem holding it. */
export interface PathInfo {
  readonly kind: 'missing' | 'directory' | 'file' | 'other';
  readonly dev?: string;
  readonly ino?: number;
  readonly size?: number;
  /** modification time, ms since the epoch (tells a replaced or rewritten image file) */
  readonly mtimeMs?: number;
  /** directories only: whether it has any entry */
  readonly empty?: boolean;
  /** the path is itself a symbolic link, to this (the other fields describe what it leads to) */
  readonly link?: string;
  /** permission bits (st_mode & 07777); absent in recordings made before imgplan read them */
  readonly mode?: number;
}

export interface Runner {
  /** Never throws for a failing command: the failure is in the result. */
  run(cmd: Command): Promise<CommandResult>;
  /** Contents of a small text file (sysfs, /proc, the journal), or undefined if it cannot be read. */
  readText(path: string): Promise<string | undefined>;
  inspectPath(path: string): Promise<PathInfo>;
  /**
   * `length` bytes of a file from `offset`, opened read-only (filesystem metadata inside an image);
   * fewer where the file ends, undefined if it cannot be read.
   */
  readBytes(path: string, offset: number, length: number): Promise<Uint8Array | undefined>;
}

/** The key a recording stores a readBytes result under. */
export const bytesKey = (path: string, offset: number, length: number) => `${path}@${offset}+${length}`;
