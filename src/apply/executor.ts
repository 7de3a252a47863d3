import { JournalStore } from '../journal/store.js';
import { argvText } from '../plan/argv-text.js';
import { resolveRef } from '../plan/refs.js';
import {
  isConcat, isRef, type Arg, type EntryTemplate, type JournalEntry, type JournalIntent, type Plan, type PlannedAction, type Step,
} from '../plan/types.js';
import type { CommandResult, Runner } from '../runner/runner.js';
import { missingToolHint } from '../errors.js';

export interface ExecOptions {
  readonly runner: Runner;
  readonly journalPath: string;
  /** what happens, as it happens: the CLI renders it as progress lines or JSON events */
  readonly onEvent: (e: ExecEvent) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /** back-off between retries of a busy umount / losetup -d */
  readonly busyDelaysMs?: readonly number[];
  /** how long to wait for kernel partition nodes after an attach */
  readonly partitionWaitMs?: number;
  /** asked before each step: the signal that asked the run to stop, if one did; the running step always finishes first */
  readonly stopRequested?: () => string | undefined;
  /** after a failure or a stop, undo what this run made (default); false keeps it, journaled, for destroy */
  readonly rollback?: boolean;
}

export type ExecEvent =
  | { readonly type: 'step_start'; readonly index: number; readonly total: number; readonly symbol: string; readonly address: string;
      readonly argv: readonly string[] }
  | { readonly type: 'step_retry'; readonly address: string; readonly argv: readonly string[]; readonly delay_ms: number; readonly reason: string }
  | { readonly type: 'step_complete'; readonly address: string; readonly argv: readonly string[]; readonly produced?: string; readonly elapsed_ms: number }
  | { readonly type: 'step_errored'; readonly address: string; readonly argv: readonly string[]; readonly message: string }
  | { readonly type: 'rollback_start' }
  | { readonly type: 'rollback_step'; readonly address: string; readonly argv: readonly string[]; readonly ok: boolean; readonly message?: string };

export interface ExecResult {
  readonly ok: boolean;
  /** "address: command" of every step that ran and was kept (not rolled back) */
  readonly kept: readonly string[];
  readonly rolledBack: readonly string[];
  readonly leftBehind: readonly string[];
  readonly failure?: {
    readonly address: string; readonly command: string; readonly argv: readonly string[]; readonly message: string; readonly holders?: string;
    /** the run stopped before this step because of this signal (SIGINT, SIGTERM) */
    readonly interrupted?: string;
  };
}

// "Device or resource busy" (umount, losetup -d, dmsetup remove); LVM and kpartx say "in use"
// ("Logical volume VG/LV in use.", "loop0p2 is in use. Not removing"), e.g. while udev still probes
const BUSY = /busy|\bin use\b/i;
const DEFAULT_BUSY_DELAYS = [250, 500, 1000, 2000, 4000];
const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class RefError extends Error {}

/**
 * The journal's own bookkeeping from a plan, when there are no steps to run: entries that no
 * longer match and intents whose object never appeared go, objects recovered from intents are
 * recorded, and a temporary file a killed writer left is removed. (executePlan does the same
 * first.) Under the host-wide lock only.
 */
export async function settleJournal(plan: Plan, journalPath: string): Promise<void> {
  const journal = await JournalStore.open(journalPath, plan.manifest);
  await journal.record(plan.recovered ?? [], plan.forget);
}

/** Runs exactly the plan's steps, in order, through the runner; on failure undoes this run's work. */
export async function executePlan(plan: Plan, opts: ExecOptions): Promise<ExecResult> {
  const sleep = opts.sleep ?? realSleep;
  const refs = new Map<string, string>();
  const journal = await JournalStore.open(opts.journalPath, plan.manifest);
  await journal.record(plan.recovered ?? [], plan.forget);

  const resolve = (a: Arg): string => {
    if (isConcat(a)) return a.concat.map(resolve).join('');
    if (!isRef(a)) return a;
    const dev = refs.get(a.ref);
    if (dev === undefined) throw new RefError(`internal error: ${a.ref} has no device yet`);
    return resolveRef(dev, a.attr);
  };
  // an entry's values that were refs at plan time (devices known after apply) become what the steps produced
  const resolveValue = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(resolveValue) : isRef(v) || isConcat(v) ? resolve(v) : v;
  const resolveEntry = <T extends JournalEntry | JournalIntent>(t: EntryTemplate<T>, extra: Record<string, number> = {}): T =>
    ({ ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, resolveValue(v)])), ...extra }) as unknown as T;
  // a step's `reads`: each file's integer (a loop's diskseq), absent where the kernel has no such file
  const readInto = async (step: Step): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const r of step.reads ?? []) {
      const text = (await opts.runner.readText(resolve(r.path)))?.trim();
      if (text !== undefined && /^\d+$/.test(text)) out[r.field] = Number(text);
    }
    return out;
  };

  const runWithRetry = async (address: string, argv: readonly string[], retryBusy: boolean, dirFd3?: Step['dirFd3']): Promise<CommandResult> => {
    const delays = opts.busyDelaysMs ?? DEFAULT_BUSY_DELAYS;
    const cmd = { argv: argv as [string, ...string[]], effect: 'changes' as const, ...(dirFd3 ? { dirFd3 } : {}) };
    let r = await opts.runner.run(cmd);
    for (let i = 0; retryBusy && r.failure === 'exit-code' && BUSY.test(r.stderr) && i < delays.length; i++) {
      opts.onEvent({ type: 'step_retry', address, argv, delay_ms: delays[i]!, reason: r.stderr.trim() });
      await sleep(delays[i]!);
      r = await opts.runner.run(cmd);
    }
    return r;
  };

  const settle = async () => {
    if (plan.context.udev) await opts.runner.run({ argv: ['udevadm', 'settle', '--timeout=30'], effect: 'reads' });
  };
  // partition nodes appear asynchronously after the attach (field-notes G9): settle, then poll;
  // nbd's partition scan can lose a race with no udev to reopen the device: re-read its table once (G10)
  const waitFor = async (nodes: readonly string[], rescan?: string) => {
    await settle();
    const started = Date.now();
    const deadline = started + (opts.partitionWaitMs ?? 10_000);
    let rescanned = rescan === undefined;
    for (const node of nodes) {
      while ((await opts.runner.inspectPath(node)).kind === 'missing') {
        if (Date.now() > deadline) throw new Error(`device node ${node} did not appear within ${(opts.partitionWaitMs ?? 10_000) / 1000} s`);
        // without udev the nodes are either there when qemu-nbd returns or never; udev makes them within ~60 ms
        if (!rescanned && Date.now() - started > 250) {
          rescanned = true;
          await opts.runner.run({ argv: ['blockdev', '--rereadpt', rescan!], effect: 'changes' });
          await settle();
        }
        await sleep(50);
      }
    }
  };

  const waitGone = async (paths: readonly string[]) => {
    const deadline = Date.now() + 30_000;
    for (const p of paths) {
      while ((await opts.runner.inspectPath(p)).kind !== 'missing') {
        if (Date.now() > deadline) throw new Error(`${p} was still there after 30 s`);
        await sleep(50);
      }
    }
  };

  // a mountpoint in a guest's tree, checked right before the mount (its parent was mounted by this run)
  const symlinkIn = async (paths: readonly string[]): Promise<string | undefined> => {
    for (const p of paths) {
      const info = await opts.runner.inspectPath(p);
      if (info.link !== undefined) return `${p} is a symlink in the guest's filesystem (to ${info.link}): imgplan never mounts through one`;
      if (info.kind !== 'directory') return `${p} is not a directory in the guest's filesystem: nothing was mounted on it`;
    }
    return undefined;
  };

  const done: { action: PlannedAction; step: Step; text: string; undo?: string[] }[] = [];
  const total = plan.actions.length;
  let failure: ExecResult['failure'];

  let failedAt = -1;
  let maybeMade: string | undefined;
  outer: for (const [i, action] of plan.actions.entries()) {
    failedAt = i;
    const sym = action.replace ? '-/+' : action.action === 'create' ? '+' : '-';
    for (const step of action.steps) {
      const signal = opts.stopRequested?.();
      if (signal) {
        failure = { address: action.address, command: `${argvText(step.argv)} (not run)`, argv: step.argv.map((a) => argvText([a])),
          message: `stopped by ${signal} before this step`, interrupted: signal };
        break outer;
      }
      let argv: string[];
      let intent: JournalIntent | undefined;
      try {
        argv = step.argv.map(resolve);
        // an object already journaled (re-activated LVs of a VG) needs none: its entry is what a later run verifies
        if (step.intent && !journal.has(step.intent.address)) intent = resolveEntry<JournalIntent>(step.intent);
      } catch (e) {
        failure = { address: action.address, command: argvText(step.argv), argv: step.argv.map((a) => argvText([a])), message: (e as Error).message };
        break outer;
      }
      const text = argv.join(' ');
      opts.onEvent({ type: 'step_start', index: i + 1, total, symbol: sym, address: action.address, argv });
      const started = Date.now();
      const redirected = await symlinkIn(step.noSymlinks ?? []);
      if (redirected) {
        failure = { address: action.address, command: text, argv, message: redirected };
        break outer;
      }
      if (step.settleBefore) await settle();
      // intent before action: killed from here on, the next run finds what this step made (recover) or drops the intent
      if (intent) await journal.intend(intent);
      const r = await runWithRetry(action.address, argv, step.retryBusy ?? false, step.dirFd3);
      if (r.failure) {
        // a tool that failed made nothing; one that was stopped (timed out) may have: its intent stays for the next run to resolve
        const unsure = intent !== undefined && (r.failure === 'timed-out' || r.failure === 'killed');
        if (intent && !unsure) await journal.remove([intent.address]);
        if (unsure) maybeMade = `${action.address}: ${text} (stopped after ${r.failure === 'timed-out' ? 'its time limit' : 'a signal'}: it may ` +
          'have made it; recorded as an intent in the journal, which the next plan or destroy resolves)';
        const message = r.failure === 'not-found'
          ? `${argv[0]} is not installed; ${missingToolHint(argv[0]!)}`
          : (r.stderr.trim() || `exit ${r.exitCode ?? r.failure}`);
        let holders: string | undefined;
        if (BUSY.test(r.stderr) && argv[0] === 'umount') {
          const f = await opts.runner.run({ argv: ['fuser', '-vm', argv[argv.length - 1]!], effect: 'reads' });
          // fuser -v cannot read other namespaces' /proc/N/fd and says so per descriptor; not useful here
          holders = (f.stdout + f.stderr).split('\n').filter((l) => l.trim() && !l.startsWith('Cannot stat')).join('\n') || undefined;
        }
        failure = { address: action.address, command: text, argv, message, ...(holders ? { holders } : {}) };
        break outer;
      }
      if (step.produces) refs.set(step.produces.ref, step.producesValue ?? r.stdout.trim());
      // what the step made is recorded as soon as it exists, before any wait: a wait that fails, or a kill, finds it journaled
      if (step.journal.op === 'record') await journal.add(resolveEntry<JournalEntry>(step.journal.entry, await readInto(step)));
      done.push({ action, step, text, ...(step.undo ? { undo: step.undo.map(resolve) } : {}) });
      try {
        if (step.waitFor?.length) await waitFor(step.waitFor.map(resolve), step.rescan === undefined ? undefined : resolve(step.rescan));
        if (step.waitGone?.length) await waitGone(step.waitGone);
      } catch (e) {
        failure = { address: action.address, command: text, argv, message: (e as Error).message };
        break outer;
      }
      // and forgotten only once it is surely gone
      if (step.journal.op === 'forget') await journal.remove([step.journal.address]);
      opts.onEvent({ type: 'step_complete', address: action.address, argv, ...(step.produces ? { produced: r.stdout.trim() } : {}),
        elapsed_ms: Date.now() - started });
    }
  }

  if (!failure) return { ok: true, kept: done.map((d) => `${d.action.address}: ${d.text}`), rolledBack: [], leftBehind: [] };

  // what the plan was to remove but is still there: the failed removal and those after it
  const notRemoved = plan.actions.slice(failedAt).filter((a) => a.action === 'delete')
    .map((a, j) => `${a.address}: still present (${j === 0 && a.address === failure!.address ? 'its removal failed' : 'removal not attempted'}` +
      `; recorded in the journal)`);

  opts.onEvent({ type: 'step_errored', address: failure.address, argv: failure.argv, message: failure.message });
  if (opts.rollback === false) {
    const labels = done.map((d) => `${d.action.address}: ${d.text}`);
    return { ok: false, kept: labels, rolledBack: [], failure,
      leftBehind: [...(maybeMade ? [maybeMade] : []), ...notRemoved, ...labels.map((l) => `${l} (kept: no rollback; recorded in the journal for destroy)`)] };
  }
  opts.onEvent({ type: 'rollback_start' });
  const kept: string[] = [];
  const rolledBack: string[] = [];
  const leftBehind: string[] = [...(maybeMade ? [maybeMade] : []), ...notRemoved];
  // an object made in several recording steps (an export: its view file, then its daemon) leaves the journal with its first step's undo,
  // and only when every later one's undo worked
  const undoFailed = new Set<string>();
  for (const [j, d] of [...done.entries()].reverse()) {
    const label = `${d.action.address}: ${d.text}`;
    if (!d.undo) {
      kept.push(label);
      continue;
    }
    const r = await runWithRetry(d.action.address, d.undo, true);
    opts.onEvent({ type: 'rollback_step', address: d.action.address, argv: d.undo, ok: !r.failure,
      ...(r.failure ? { message: r.stderr.trim() || r.failure } : {}) });
    const journaled = d.step.journal.op === 'record' && journal.has(d.action.address);
    if (r.failure) {
      undoFailed.add(d.action.address);
      leftBehind.push(`${label} (undo failed: ${r.stderr.trim() || r.failure}; ` +
        `${journaled ? 'still recorded in the journal for destroy)' : 'not in the journal: remove it by hand)'}`);
      continue;
    }
    rolledBack.push(label);
    const firstRecord = !done.slice(0, j).some((x) => x.action.address === d.action.address && x.step.journal.op === 'record');
    if (journaled && firstRecord && !undoFailed.has(d.action.address)) await journal.remove([d.action.address]);
  }
  return { ok: false, kept: kept.reverse(), rolledBack, leftBehind, failure };
}
