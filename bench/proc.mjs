// Running commands for the bench: synchronous (timed) runs, polling, signals.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const NODE = process.execPath;
const CMD_TIMEOUT_MS = 120_000;

export const log = (s) => process.stderr.write(`${s}\n`);

/** A command failed, or the state was wrong: exit 1. */
export class CommandFailed extends Error {}
/** A signal arrived (or a child was stopped by one): exit 130. */
export class Interrupted extends Error {}

/** The signal the bench got, if any; and the VM lane's run.sh while it runs (stopped on a signal, its trap then stops the VM). */
const state = { interrupted: null, vmChild: null };
export const interrupted = () => state.interrupted;

/** Records SIGINT, SIGTERM and SIGHUP: the main loop notices at its next checkpoint and unwinds through its finally. */
export function trapSignals() {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (!state.interrupted) log(`\nbench: ${sig} received; cleaning up…`);
      state.interrupted = sig;
      if (state.vmChild && state.vmChild.exitCode === null) state.vmChild.kill('SIGTERM');
    });
  }
}

/** Lets queued signal handlers run (spawnSync blocks the event loop), then stops if one did. */
export async function checkpoint() {
  await new Promise((r) => setImmediate(r));
  if (state.interrupted) throw new Interrupted(state.interrupted);
}

/** Runs argv (no shell), returns its output; throws unless it exits 0 (or allowFail). */
export function run(argv, { env, input, cwd, allowFail = false } = {}) {
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd, env, input, encoding: 'utf8', timeout: CMD_TIMEOUT_MS, maxBuffer: 64 << 20,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  // imgplan catches a Ctrl-C itself (it undoes what it did) and exits 128 + the signal's number
  const signal = r.signal ?? { 129: 'SIGHUP', 130: 'SIGINT', 143: 'SIGTERM' }[r.status];
  if (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP') {
    if (!state.interrupted) log(`\nbench: ${argv[0] === NODE ? 'imgplan' : argv[0]} was ${r.signal ? 'killed by' : 'stopped by'} ${signal}; cleaning up…`);
    state.interrupted ??= signal;
    if (!allowFail) throw new Interrupted(signal);
  }
  if (r.error) {
    if (allowFail) return { ...r, stdout: r.stdout ?? '', stderr: String(r.error.message) };
    throw new CommandFailed(`${argv.join(' ')}: ${r.error.code === 'ENOENT' ? `${argv[0]} is not installed` : r.error.message}`);
  }
  if (r.status !== 0 && !allowFail) {
    const detail = (r.stderr || r.stdout || '').trim().split('\n').slice(-15).join('\n    ');
    throw new CommandFailed(`${argv.join(' ')}: exit ${r.status ?? r.signal}\n    ${detail || '(no output)'}`);
  }
  return r;
}

/** Runs argv (no shell) asynchronously: stdout collected, stderr passed on line by line with a prefix. */
export function runStreaming(argv, { cwd, prefix }) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    state.vmChild = child;
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      const lines = err.split('\n');
      err = lines.pop();
      for (const l of lines) process.stderr.write(`${prefix}${l}\n`);
    });
    child.on('error', (e) => { state.vmChild = null; resolve({ status: null, error: e, stdout: out }); });
    child.on('close', (status, signal) => {
      state.vmChild = null;
      if (err) process.stderr.write(`${prefix}${err}\n`);
      resolve({ status, signal, stdout: out });
    });
  });
}

/** Wall time of fn() in ms, from process.hrtime.bigint. */
export function timed(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Polls cond() every 10 ms (an admin's `while …; do sleep 0.01; done`); throws after timeoutMs. */
export function waitUntil(cond, what, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new CommandFailed(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    sleepMs(10);
  }
}

/** Whether a program is on PATH. */
export function onPath(prog) {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && existsSync(join(d, prog)));
}
