/**
 * One big request on every thread: the batch is cut into contiguous image ranges, one task
 * per thread. Inputs live in SharedArrayBuffers every thread reads; output and grad_input are
 * shared too, each thread writing the images of its range; grad_weight and grad_bias come back
 * as per-range partial sums that are added here (a few weight-sized additions).
 *
 * Small requests are not split: below `splitMinFlops` the thread hand-offs cost more than the
 * second core gives (see bench/split.ts), and a batch of one image has nothing to cut. Nor is a
 * request split when the pool is busy: it is cut for the threads idle when it arrives, so
 * under load every request runs whole (no hand-offs, one queue slot each) and the pool's
 * throughput is what it would be without splitting.
 */
import type { ResultName, Task, TaskResult } from './shared/task.js';
import { allocShared, numel, realView, type BatchRange, type DType } from './shared/tensor.js';
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

/**
 * Runs `task` (its tensors in SharedArrayBuffers) as one task per range and assembles the
 * result: its per-sample results are shared, each thread writing its images; the others are
 * the ranges' partial sums, added here. Any operation whose kernels take a batch range runs so.
 * With `task.clock`, slice i's task writes its slot i (slots from 0 to slices.length - 1).
 */
export async function runSplit(
  pool: WorkerPool,
  task: Task,
  slices: BatchRange[],
  signal: AbortSignal,
): Promise<TaskResult> {
  const dtype = task.geometry.dtype;
  const wanted = Object.entries(task.results) as [ResultName, { shape: number[]; perSample: boolean }][];
  const sharedOutputs = Object.fromEntries(
    wanted.filter(([, r]) => r.perSample).map(([name, r]) => [name, allocShared(dtype, numel(r.shape))]),
  );
  const parts = await pool.runAll(
    slices.map((batch, slot) => ({ ...task, batch, sharedOutputs, clock: task.clock && { ...task.clock, slot } })),
    signal,
  );
  const result: TaskResult = { ...sharedOutputs };
  for (const [name] of wanted) {
    if (result[name]) continue;
    const [first, ...rest] = parts.map((p) => p[name]);
    sumInto(dtype, first, rest);
    result[name] = first;
  }
  return result;
}
