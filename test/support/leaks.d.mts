// Types of leaks.mjs (plain JavaScript, so that the bench runs it without a TypeScript loader).

export interface Mount {
  readonly target: string;
  readonly options: string;
  readonly fstype: string;
  readonly source: string;
  /** a FUSE file mount: a qemu-storage-daemon export */
  readonly view: boolean;
}

export interface Loop {
  /** /dev/loopN */
  readonly name: string;
  /** the backing file ('' if none) */
  readonly file: string;
  readonly offset: number;
  readonly sizelimit: number;
  readonly ro: boolean;
}

export interface NbdConnection {
  /** /dev/nbdN */
  readonly dev: string;
  /** nbdN */
  readonly name: string;
  /** the server process */
  readonly pid: number;
  /** its command line, NUL-separated */
  readonly cmdline: string;
}

export interface Daemon {
  readonly pid: number;
  /** the program's file name */
  readonly prog: string;
  readonly args: readonly string[];
}

export interface Leak {
  readonly kind: 'mount' | 'dm' | 'loop' | 'nbd' | 'view' | 'daemon' | 'journal';
  /** the mount point, map name, device, pid or journal file name */
  readonly id: string;
  /** one line: `mount TARGET (SOURCE)`, `dm NAME`, `loop DEV (FILE)`, `nbd DEV (pid N)`, `view TARGET (SOURCE)`, `daemon PID (ARGS)`, `journal FILE` */
  readonly text: string;
}

export interface LeakOptions {
  /** imgplan's state dir (IMGPLAN_STATE_DIR): files in its journal/ count as leaks */
  readonly stateDir?: string;
  /** how long a daemon may take to exit before it counts as leaked (default 2000 ms) */
  readonly settleMs?: number;
  /** how often to look meanwhile (default 100 ms) */
  readonly pollMs?: number;
}

export function mountsUnder(dir: string): Mount[];
export function allLoops(): Loop[];
export function loopsUnder(dir: string): Loop[];
export function dmMapsOver(loops: readonly Loop[]): string[];
export function nbdConnections(): NbdConnection[];
export function nbdUnder(dir: string): NbdConnection[];
export function daemonsUnder(dir: string): Daemon[];
export function journalFiles(stateDir: string): string[];
/** What is still on the system under root, in teardown order. */
export function findLeaks(root: string, opts?: LeakOptions): Promise<Leak[]>;
/** Removes what findLeaks finds, in teardown order; returns what it found. */
export function cleanupLeaks(root: string, opts?: LeakOptions): Promise<Leak[]>;
