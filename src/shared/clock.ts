/**
 * A clock both threads read alike: each thread's `performance.now()` counts from its own
 * origin, so times that cross threads are written as epoch milliseconds (sub-millisecond
 * precision) instead.
 */

/** Now, in milliseconds since the epoch, comparable between threads. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * Where a worker writes when it started and finished running a task: `times[2 * slot]` and
 * `times[2 * slot + 1]`, epoch ms (one slot per task of a request; `times` is over a
 * SharedArrayBuffer, so the caller reads them without a reply field).
 */
export interface TaskClock {
  times: Float64Array;
  slot: number;
}

/** A clock of `tasks` slots, every time NaN until written. */
export function taskClocks(tasks: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(16 * tasks)).fill(NaN);
}
