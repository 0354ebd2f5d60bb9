/**
 * Kernel benchmark: GFLOP/s of forward, grad_input and grad_weight on the reference shapes
 * S1-S6 (channels_first, float32), single thread, median of `--runs` timed runs after one
 * warm-up. Prints a table and writes it as JSON to bench/results/.
 *
 *   npm run bench [-- --runs 7] [-- --shapes S1,S3]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { convWork, numel, resolveConv } from '../src/conv/geometry.js';
import type { ConvGeometry, ConvParams, GradName } from '../src/conv/types.js';
import { convBackward, convForward } from '../workers/kernels/conv.js';
import { engineFor, type EngineName, type GemmEngine } from '../workers/kernels/engine.js';

interface Shape {
  name: string;
  what: string;
  input: number[];
  weight: number[];
  params: ConvParams;
}

const SHAPES: Shape[] = [
  { name: 'S1', what: 'N8 C64 56x56 -> 64 k3 s1 p1', input: [8, 64, 56, 56], weight: [64, 64, 3, 3], params: { padding: 1 } },
  { name: 'S2', what: 'N8 C3 224x224 -> 64 k7 s2 p3', input: [8, 3, 224, 224], weight: [64, 3, 7, 7], params: { stride: 2, padding: 3 } },
  { name: 'S3', what: 'N8 C256 28x28 -> 128 k1', input: [8, 256, 28, 28], weight: [128, 256, 1, 1], params: {} },
  { name: 'S4', what: 'N8 C128 56x56 depthwise k3 p1', input: [8, 128, 56, 56], weight: [128, 1, 3, 3], params: { groups: 128, padding: 1 } },
  { name: 'S5', what: 'N32 C1 28x28 -> 32 k5', input: [32, 1, 28, 28], weight: [32, 1, 5, 5], params: {} },
  { name: 'S6', what: 'N8 C256 14x14 -> 512 k3 s2 p1', input: [8, 256, 14, 14], weight: [512, 256, 3, 3], params: { stride: 2, padding: 1 } },
];

type Op = 'forward' | 'grad_input' | 'grad_weight';
const OPS: Op[] = ['forward', 'grad_input', 'grad_weight'];
const GRAD_OF: Record<Exclude<Op, 'forward'>, GradName> = { grad_input: 'input', grad_weight: 'weight' };

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median seconds of `runs` calls of `fn` after one untimed warm-up call. */
function time(fn: () => void, runs: number): number {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(samples);
}

function runner(g: ConvGeometry, op: Op, engine: GemmEngine): () => void {
  const x = random(numel(g.inputShape));
  const w = random(numel(g.weightShape));
  const y = random(numel(g.outputShape));
  const bias = random(g.outChannels);
  if (op === 'forward') return () => convForward(g, x, w, bias, y, engine);
  const out = op === 'grad_input' ? { input: new Float32Array(x.length) } : { weight: new Float32Array(w.length) };
  return () => convBackward(g, x, w, y, out, engine);
}

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, shapes: { type: 'string' }, kernels: { type: 'string', default: 'ts,wasm' } },
});
const kernels = values.kernels.split(',') as EngineName[];
const runs = Math.max(1, Number(values.runs));
const wanted = values.shapes?.split(',');
const rows: Record<string, string | number>[] = [];
for (const shape of SHAPES.filter((s) => !wanted || wanted.includes(s.name))) {
  const g = resolveConv({ input: { dtype: 'float32', shape: shape.input }, weight: { dtype: 'float32', shape: shape.weight } }, shape.params);
  for (const kernel of kernels) {
    const engine = engineFor('float32', kernel);
    const row: Record<string, string | number> = { shape: shape.name, kernel: engine.name };
    for (const op of OPS) {
      const flops = convWork(g, op === 'forward' ? undefined : [GRAD_OF[op]]).flops;
      const seconds = time(runner(g, op, engine), runs);
      row[`${op}_ms`] = +(seconds * 1e3).toFixed(1);
      row[`${op}_gflops`] = +(flops / seconds / 1e9).toFixed(2);
    }
    rows.push(row);
    console.log(`${shape.name} ${engine.name} done`);
  }
}

console.log(`\nconvd kernels, 1 thread, float32 channels_first, median of ${runs} runs (GFLOP/s, ms)`);
for (const s of SHAPES) console.log(`  ${s.name}: ${s.what}`);
console.table(rows);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = join(dirname(fileURLToPath(import.meta.url)), '../../bench/results');
mkdirSync(outDir, { recursive: true });
const report = { date: new Date().toISOString(), node: process.version, runs, threads: 1, shapes: SHAPES, rows };
writeFileSync(join(outDir, `kernels-${stamp}.json`), JSON.stringify(report, null, 2) + '\n');
console.log(`wrote bench/results/kernels-${stamp}.json`);
