/**
 * Pooling and conv_transpose kernel bench (standalone beside bench/kernels.ts): median time of
 * each kernel on one thread, float32, after a warm-up, as GB/s for pooling (bytes read and
 * written: input + output forward; input + grad_output + grad_input backward) and GFLOP/s for
 * conv_transpose (2 * N * C_in * prod(in) * C_out/groups * prod(k)), on the engines that apply
 * (pooling runs no GEMM; conv_transpose runs the grad_input GEMMs on ts and wasm).
 *
 *   npm run build && node dist/bench/pool-transpose.js [--runs 7] [--layouts channels_first,channels_last]
 */
import { parseArgs } from 'node:util';
import { numel } from '../src/shared/tensor.js';
import { resolvePooling, type PoolingParams } from '../src/shared/geometry/pooling.js';
import { resolveTranspose, transposeWork, type TransposeParams } from '../src/shared/geometry/transpose.js';
import type { Layout } from '../src/shared/geometry/common.js';
import { engineFor, type EngineName } from '../workers/engines/index.js';
import { poolBackward, poolForward } from '../workers/kernels/pooling.js';
import { convTranspose } from '../workers/kernels/transpose.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    layouts: { type: 'string', default: 'channels_first,channels_last' },
  },
});
const runs = Math.max(1, Math.floor(Number(values.runs)) || 7);
const layouts = values.layouts.split(',') as Layout[];

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median seconds of `f` over `runs` runs after one warm-up run. */
function time(f: () => void): number {
  f();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    f();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(t);
}

const random = (n: number) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
};

interface Row {
  op: string;
  shape: string;
  layout: Layout;
  engine: string;
  ms: number;
  rate: string;
}
const rows: Row[] = [];
const shapeOf = (layout: Layout, n: number, c: number, sp: number[]) =>
  layout === 'channels_last' ? [n, ...sp, c] : [n, c, ...sp];

for (const layout of layouts) {
  for (const mode of ['max', 'avg'] as const) {
    const params: PoolingParams = { mode, kernel_size: 3, stride: 2, padding: 1, layout };
    const input = shapeOf(layout, 8, 64, [112, 112]);
    const g = resolvePooling({ input: { dtype: 'float32', shape: input } }, params);
    const x = random(numel(input));
    const y = new Float32Array(numel(g.window.outputShape));
    const dy = random(y.length);
    const dx = new Float32Array(x.length);
    const shape = `N8 C64 112x112 k3 s2 p1 -> 56x56`;
    const fwd = time(() => poolForward(g.window, g, x, y));
    rows.push({
      op: `${mode}pool forward`,
      shape,
      layout,
      engine: '-',
      ms: fwd * 1e3,
      rate: `${((4 * (x.length + y.length)) / fwd / 1e9).toFixed(2)} GB/s`,
    });
    const bwd = time(() => poolBackward(g.window, g, x, dy, dx));
    const bytes = 4 * ((mode === 'max' ? x.length : 0) + dy.length + dx.length);
    rows.push({
      op: `${mode}pool backward`,
      shape,
      layout,
      engine: '-',
      ms: bwd * 1e3,
      rate: `${(bytes / bwd / 1e9).toFixed(2)} GB/s`,
    });
  }
  const params: TransposeParams = { stride: 2, padding: 1, layout };
  const input = shapeOf(layout, 8, 64, [28, 28]);
  const weight = layout === 'channels_last' ? [4, 4, 32, 64] : [64, 32, 4, 4];
  const g = resolveTranspose(
    { input: { dtype: 'float32', shape: input }, weight: { dtype: 'float32', shape: weight } },
    params,
  );
  const x = random(numel(input));
  const w = random(numel(weight));
  const b = random(32);
  const y = new Float32Array(numel(g.inputShape));
  const flops = transposeWork(g, true).flops;
  for (const name of ['ts', 'wasm'] as EngineName[]) {
    const engine = engineFor('float32', name);
    if (engine.name !== name) continue;
    const s = time(() => convTranspose(g, x, w, b, y, engine));
    rows.push({
      op: 'conv_transpose',
      shape: 'N8 C64 28x28 -> C32 56x56 k4 s2 p1',
      layout,
      engine: name,
      ms: s * 1e3,
      rate: `${(flops / s / 1e9).toFixed(2)} GFLOP/s`,
    });
  }
}

console.log(`pool / conv_transpose kernels, float32, one thread, median of ${runs} runs (node ${process.version})\n`);
console.log('| op | shape | layout | engine | median ms | rate |');
console.log('| --- | --- | --- | --- | ---: | ---: |');
for (const r of rows)
  console.log(`| ${r.op} | ${r.shape} | ${r.layout} | ${r.engine} | ${r.ms.toFixed(1)} | ${r.rate} |`);
