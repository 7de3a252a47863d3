import { bytesKey, type Command, type CommandResult, type PathInfo, type Runner } from './runner.js';

/** A recorded system state: what every probe printed, keyed by argv or path. JSON-serialisable. */
export interface Recording {
  readonly meta: Record<string, unknown>;
  readonly commands: CommandResult[];
  readonly texts: Record<string, string | null>;
  readonly paths: Record<string, PathInfo>;
  /** readBytes results, base64, by bytesKey (absent in recordings made before imgplan read bytes) */
  readonly bytes?: Record<string, string | null>;
}

/** Wraps a live runner and keeps what read-only calls returned, for `imgplan debug capture-state`. */
export class RecordingRunner implements Runner {
  readonly recording: Recording & { bytes: Record<string, string | null> } = { meta: {}, commands: [], texts: {}, paths: {}, bytes: {} };

  constructor(private readonly inner: Runner) {}

  async run(cmd: Command): Promise<CommandResult> {
    const r = await this.inner.run(cmd);
    if (cmd.effect !== 'changes') this.recording.commands.push(r);
    return r;
  }

  async readText(path: string): Promise<string | undefined> {
    const t = await this.inner.readText(path);
    this.recording.texts[path] = t ?? null;
    return t;
  }

  async inspectPath(path: string): Promise<PathInfo> {
    const p = await this.inner.inspectPath(path);
    this.recording.paths[path] = p;
    return p;
  }

  async readBytes(path: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const b = await this.inner.readBytes(path, offset, length);
    this.recording.bytes[bytesKey(path, offset, length)] = b ? Buffer.from(b).toString('base64') : null;
    return b;
  }
}
