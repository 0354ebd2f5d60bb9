/**
 * One big request on every thread: the batch is cut into contiguous image ranges, one task
 * per thread. Inputs live in SharedArrayBuffers every thread reads; the per-sample results
 * (output, indices, grad_input) are shared too, each thread writing the images of its range; grad_weight and grad_bias come back
 * as per-range partial sums that are added here (a few weight-sized additions).
 *
 * Every operation's kernels take a batch range, so any request may be split. Small ones are not:
 * below `splitMinFlops` (compared with Work.splitFlops, which weighs the element touches of
 * pooling, unfold and fold as TOUCH_FLOPS each) the thread hand-offs cost more than the second
 * core gives (see bench/split.ts), and a batch of one image has nothing to cut. Nor is a
 * request split when the pool is busy: it is cut for the threads idle when it arrives, so
 * under load every request runs whole (no hand-offs, one queue slot each) and the pool's
 * throughput is what it would be without splitting.
 */
import type { ResultName, Task, TaskResult } from './shared/task.js';
import { allocShared, itemSize, numel, realView, type BatchRange, type DType } from './shared/tensor.js';
import type { WorkerPool } from './worker-pool.js';

export interface SplitSettings {
  poolThreads: number;
  splitMinFlops: number;
}

/**
 * The image ranges to run a request as: one range (no split) unless it is big, has images to
 * share and finds at least two of the pool's threads idle (`idleThreads`, all by default).
 */
export function batchSlices(
  batch: number,
  flops: number,
  settings: SplitSettings,
  idleThreads = settings.poolThreads,
): BatchRange[] {
  const count = flops >= settings.splitMinFlops ? Math.max(1, Math.min(settings.poolThreads, idleThreads, batch)) : 1;
  return Array.from({ length: count }, (_, i): BatchRange => [
    Math.floor((i * batch) / count),
    Math.floor(((i + 1) * batch) / count),
  ]);
}

function sumInto(dtype: DType, target: TaskResult[ResultName], parts: TaskResult[ResultName][]): void {
  const sum = realView(dtype, target!);
  for (const part of parts) {
    const values = realView(dtype, part!);
    for (let i = 0; i < sum.length; i++) sum[i] += values[i];
  }
}

export interface SplitOptions {
  /** The request's work, which picks the pool's lane (WorkerPool.runAll). */
  flops?: number;
  /** Where the shared per-sample results come from (a lease of reused memory, buffer-pool.ts): fresh zeroed SharedArrayBuffers by default. */
  allocate?: (bytes: number) => SharedArrayBuffer;
}

/**
 * Runs `task` (its tensors in SharedArrayBuffers) as one task per range and assembles the
 * result: its per-sample results are shared, each thread writing its images; the others are
 * the ranges' partial sums, added here. Any operation whose kernels take a batch range runs so.
 * A single range runs the task whole, its per-sample results written in place all the same.
 * With `task.clock`, range i's task writes its slot i (slots from 0 to slices.length - 1).
 */
export async function runSplit(
  pool: WorkerPool,
  task: Task,
  slices: BatchRange[],
  signal: AbortSignal,
  { flops, allocate }: SplitOptions = {},
): Promise<TaskResult> {
  const dtype = task.geometry.dtype;
  const wanted = Object.entries(task.results) as [ResultName, { shape: number[]; perSample: boolean }][];
  const sharedOutputs: TaskResult = Object.fromEntries(
    wanted
      .filter(([, r]) => r.perSample)
      .map(([name, r]) => [
        name,
        allocate ? allocate(numel(r.shape) * itemSize(dtype)) : allocShared(dtype, numel(r.shape)),
      ]),
  );
  const tasks =
    slices.length === 1
      ? [{ ...task, sharedOutputs }]
      : slices.map((batch, slot) => ({ ...task, batch, sharedOutputs, clock: task.clock && { ...task.clock, slot } }));
  const parts = await pool.runAll(tasks as Task[], signal, flops);
  // what the workers answered: every task names the shared results it wrote, the partial sums are added
  const result: TaskResult = {};
  for (const [name] of wanted) {
    const [first, ...rest] = parts.map((p) => p[name]);
    if (first === undefined) continue;
    if (!sharedOutputs[name]) sumInto(dtype, first, rest);
    result[name] = first;
  }
  return result;
}
