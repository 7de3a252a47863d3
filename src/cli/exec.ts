import { constants } from 'node:os';
import { execa, type ResultPromise } from 'execa';
import { EXIT, ImgplanError } from '../errors.js';
import {
  BadLockTimeoutError, closed, commandStatus, execManifest, readInput, type CommandEnd, type ExecPhase, type ExecResult, type ExecSetting,
} from '../operation/index.js';
import { printable } from '../printable.js';
import { context, exitCode, lockTimeout, requireRoot, type Options } from './commands.js';
import { approver } from './prompt.js';
import { err, printError, STDERR } from './view.js';

/** Signals that must not end imgplan while the guest is open: it closes the guest first. */
const HELD = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Held = (typeof HELD)[number];
const signalStatus = (s: string) => 128 + (constants.signals[s as keyof typeof constants.signals] ?? 0);

const quoted = (argv: readonly string[]) => printable(argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '));

function told(command: readonly string[]): (p: ExecPhase) => void {
  return (p) => {
    switch (p.type) {
      case 'stopped_before_command':
        err(`\nimgplan: ${p.signal} before the command started: it is not run; closing the guest.\n`);
        return;
      case 'opened':
        for (const w of p.setting.unnamed) err(`imgplan: warning: no IMGPLAN_MOUNT_ variable for ${printable(w)}: its name would be another mount's\n`);
        err(`\nimgplan: running ${quoted(command)} in ${printable(p.setting.cwd ?? process.cwd())}; the guest is unmounted and detached when it ends.\n`);
        return;
      case 'command_ended': {
        const e = p.end;
        const how = e.kind === 'exited' ? `exited with status ${e.code}` : e.kind === 'signalled' ? `was ended by ${e.signal}`
          : `could not be started: ${printable(e.message)}`;
        err(`\nimgplan: ${quoted(command)} ${how}; unmounting and detaching.\n`);
      }
    }
  };
}

/** The exit status of `imgplan exec` (README "exec"): the command's, once the guest is closed; 125 when imgplan failed. */
export function execStatus(r: ExecResult, stop: string | undefined): number {
  switch (r.phase) {
    case 'apply':
      if (r.outcome === 'interrupted' || r.outcome === 'terminated') return exitCode(r.outcome);
      return r.outcome === 'cancelled' && stop ? signalStatus(stop) : EXIT.execFailed;
    case 'stopped': return closed(r.destroy) ? signalStatus(r.signal) : EXIT.execFailed;
    case 'ran': return closed(r.destroy) ? commandStatus(r.end) : EXIT.execFailed;
  }
}

/**
 * `imgplan exec MANIFEST -- COMMAND…`: the guest stays open exactly as long as COMMAND runs.
 * Ctrl-C reaches COMMAND from the terminal (it shares imgplan's process group, so an interactive
 * shell keeps its terminal); SIGTERM and SIGHUP sent to imgplan, and SIGINT when imgplan has no
 * terminal, are passed on to it. None of them ends imgplan before it has closed the guest.
 */
export async function execCommand(file: string, command: readonly string[], options: Options): Promise<number> {
  const argv = command.length ? command : [process.env.SHELL || '/bin/sh'];
  let stop: Held | undefined;
  let child: ResultPromise | undefined;
  const onSignal = (signal: Held) => {
    if (child) {
      if (signal !== 'SIGINT' || !process.stdin.isTTY) child.kill(signal);
      return;
    }
    stop ??= signal;
  };
  for (const s of HELD) process.on(s, onSignal);
  try {
    requireRoot('exec');
    const input = await readInput(file);
    const run = async (setting: ExecSetting): Promise<CommandEnd> => {
      const [cmd, ...args] = argv as [string, ...string[]];
      child = execa(cmd, args, { stdio: 'inherit', cwd: setting.cwd ?? process.cwd(), env: setting.env, extendEnv: true, reject: false });
      try {
        const r = await child;
        if (r.signal) return { kind: 'signalled', signal: r.signal, number: signalStatus(r.signal) - 128 };
        if (r.exitCode !== undefined) return { kind: 'exited', code: r.exitCode };
        const code = (r as { code?: string }).code ?? 'EFAULT';
        const what = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : code;
        return { kind: 'not-started', code, message: `${what} (${printable(r.shortMessage ?? '')})` };
      } finally {
        child = undefined;
      }
    };
    const r = await execManifest(context(false, STDERR), input, {
      ...lockTimeout(options),
      allowWrites: options.allowWrites === true,
      approve: approver(options.autoApprove === true, false, STDERR),
      stopRequested: () => stop,
      run,
      onPhase: told(argv),
    });
    const status = execStatus(r, stop);
    if (r.phase === 'apply' && r.applyError) printError(r.applyError);
    if (r.teardownError) printError(r.teardownError);
    if (status === EXIT.execFailed) {
      err(r.phase === 'apply'
        ? `\nimgplan: exec: ${r.outcome === 'cancelled' ? 'cancelled; nothing was changed' : 'the guest could not be opened'}; the command was not run.\n`
        : `\nimgplan: exec: the guest was not closed completely (above); run "imgplan destroy ${printable(input.path)}".` +
          `${r.phase === 'ran' ? ` The command's status was ${commandStatus(r.end)}.` : ''}\n`);
    }
    return status;
  } catch (e) {
    if (e instanceof BadLockTimeoutError) {
      err(`imgplan: error: --lock-timeout must be a number of seconds, not "${printable(String(options.lockTimeout))}"\n`);
      return EXIT.execFailed;
    }
    if (e instanceof ImgplanError) {
      // thrown before any step: exec's own teardown errors come back in its result
      printError(e);
      err('imgplan: exec: nothing was changed; the command was not run.\n');
      return EXIT.execFailed;
    }
    throw e;
  } finally {
    for (const s of HELD) process.off(s, onSignal);
  }
}
