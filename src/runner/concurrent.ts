import { availableParallelism } from 'node:os';
import pLimit from 'p-limit';

/**
 * How many read-only probe commands run at once: they are short processes that mostly wait for
 * the kernel and the disk, so a few more than the CPUs.
 */
export const PROBE_CONCURRENCY = Math.min(16, Math.max(4, 2 * availableParallelism()));

/**
 * fn over items, at most `limit` at a time, results in input order. Waits for every call to end,
 * then throws the first failure in input order: the error a user sees does not depend on timing,
 * and nothing is still running (or still holding a probe view) once it is thrown.
 */
export async function settledMap<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const run = pLimit(limit);
  const results = await Promise.allSettled(items.map((item, i) => run(() => fn(item, i))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}

/** Each of the thunks at once (read-only probes that do not depend on each other), with settledMap's error rule. */
export function settledAll<T extends readonly unknown[]>(thunks: { readonly [K in keyof T]: () => Promise<T[K]> }): Promise<T> {
  return settledMap(thunks as readonly (() => Promise<unknown>)[], thunks.length || 1, (f) => f()) as unknown as Promise<T>;
}
