import { bytesKey, type Command, type CommandResult, type PathInfo, type Runner } from './runner.js';
import type { Recording } from './recording-runner.js';

export class FixtureMissError extends Error {}

/** Replays a Recording. Unknown argv or path is an error that names it; a mutating command is refused. */
export class FixtureRunner implements Runner {
  /** how often each argv has been replayed */
  private readonly seen = new Map<string, number>();

  constructor(private readonly rec: Recording, private readonly name = 'fixture') {}

  /**
   * The same argv recorded more than once (sfdisk of a probe view as it fills) replays in the
   * order recorded; past the last recording, the last again.
   */
  async run(cmd: Command): Promise<CommandResult> {
    if (cmd.effect === 'changes') throw new FixtureMissError(`${this.name}: refusing a command that changes the system: ${cmd.argv.join(' ')}`);
    const key = JSON.stringify(cmd.argv);
    const hits = this.rec.commands.filter((c) => JSON.stringify(c.argv) === key);
    if (!hits.length) throw new FixtureMissError(`${this.name}: no recorded output for ${cmd.argv.join(' ')}`);
    const n = this.seen.get(key) ?? 0;
    this.seen.set(key, n + 1);
    return hits[Math.min(n, hits.length - 1)]!;
  }

  async readText(path: string): Promise<string | undefined> {
    if (!(path in this.rec.texts)) throw new FixtureMissError(`${this.name}: no recorded text for ${path}`);
    return this.rec.texts[path] ?? undefined;
  }

  async inspectPath(path: string): Promise<PathInfo> {
    const p = this.rec.paths[path];
    if (!p) throw new FixtureMissError(`${this.name}: no recorded stat for ${path}`);
    return p;
  }

  async readBytes(path: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const key = bytesKey(path, offset, length);
    const b = this.rec.bytes?.[key];
    if (b === undefined) throw new FixtureMissError(`${this.name}: no recorded bytes for ${key}`);
    return b === null ? undefined : Buffer.from(b, 'base64');
  }
}
