/**
 * Split bench: one request on one thread vs split by batch across the pool's threads
 * (src/split.ts), through the real worker pool, float32 channels_first, default engine.
 * Medians of `--runs` after a warm-up; prints the speedup per shape, which is what
 * CONVD_SPLIT_MIN_FLOPS is chosen from (split only where the speedup is > 1).
 *
 *   npm run build && node dist/bench/split.js [--runs 7] [--threads 2]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { convWork, resolveConv } from '../src/shared/geometry/conv.js';
import { numel } from '../src/shared/tensor.js';
import type { ConvParams } from '../src/shared/geometry/conv.js';
import { allocShared, realView } from '../src/shared/tensor.js';
import { type Task } from '../src/shared/task.js';
import { WorkerPool } from '../src/worker-pool.js';
import { batchSlices, runSplit } from '../src/split.js';

const SHAPES: { name: string; input: number[]; weight: number[]; params: ConvParams }[] = [
  { name: 'S1', input: [8, 64, 56, 56], weight: [64, 64, 3, 3], params: { padding: 1 } },
  { name: 'S5', input: [32, 1, 28, 28], weight: [32, 1, 5, 5], params: {} },
  { name: 'mid 4x', input: [4, 16, 32, 32], weight: [16, 16, 3, 3], params: { padding: 1 } },
  { name: 'mid 2x', input: [2, 16, 32, 32], weight: [16, 16, 3, 3], params: { padding: 1 } },
  { name: 'small 2x', input: [2, 16, 16, 16], weight: [16, 16, 3, 3], params: { padding: 1 } },
  { name: 'tiny 2x', input: [2, 4, 8, 8], weight: [4, 4, 3, 3], params: { padding: 1 } },
];

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, threads: { type: 'string' } } });
const runs = Number(values.runs);
const threads = Number(values.threads ?? Math.min(2, availableParallelism()));
const pool = new WorkerPool({ threads, maxQueue: 16, workerData: { tileBudgetBytes: 64 * 2 ** 20 } });
await pool.started;

function sharedRandom(n: number): SharedArrayBuffer {
  const buffer = allocShared('float32', n);
  const a = realView('float32', buffer);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return buffer;
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[runs >> 1];
}

const rows = [];
for (const s of SHAPES) {
  const g = resolveConv(
    { input: { dtype: 'float32', shape: s.input }, weight: { dtype: 'float32', shape: s.weight } },
    s.params,
  );
  const flops = convWork(g).flops;
  const task: Task = {
    op: 'conv_forward',
    geometry: g,
    tensors: { input: sharedRandom(numel(g.inputShape)), weight: sharedRandom(numel(g.weightShape)) },
    results: { output: { shape: g.outputShape, perSample: true } },
  };
  const signal = new AbortController().signal;
  const one = await median(() => pool.run(task, signal));
  const slices = batchSlices(g.batch, flops, { poolThreads: threads, splitMinFlops: 0 });
  const split = await median(() => runSplit(pool, task, slices, signal));
  rows.push({
    shape: s.name,
    mflops: +(flops / 1e6).toFixed(1),
    one_thread_ms: +one.toFixed(2),
    split_ms: +split.toFixed(2),
    slices: slices.length,
    speedup: +(one / split).toFixed(2),
  });
}
console.log(`forward, float32, pool of ${threads} threads, median of ${runs}`);
console.table(rows);
await pool.close();
