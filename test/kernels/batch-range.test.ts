/**
 * Batch ranges (how a request is split across threads): computing disjoint ranges of images
 * into one shared output, and adding the ranges' grad_weight / grad_bias partials, must give
 * the whole-batch answer (bit for bit on the engines whose sums do not depend on the GEMM's
 * width, within rounding on native); images outside a range must stay untouched. First the
 * convolution kernels themselves, then every operation of the registry through its runner (what
 * a worker runs), from requests as clients send them (test/reference/op-requests.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numel } from '../../src/shared/tensor.js';
import { resolveConv } from '../../src/shared/geometry/conv.js';
import type { ConvGeometry, ConvParams } from '../../src/shared/geometry/conv.js';
import { convBackward, convForward } from '../../workers/kernels/conv.js';
import { engineFor, tsEngine } from '../../workers/engines/index.js';
import { alloc, randomTensor, rng, type Dt } from '../reference/data.js';
import { NATIVE_SKIP } from '../reference/engines.js';
import { IMAGES, OP_REQUESTS } from '../reference/op-requests.js';
import { OPS } from '../../src/ops/index.js';
import type { Prepared } from '../../src/dispatch.js';
import type { ResultName, Task } from '../../src/shared/task.js';
import { operandView, type BatchRange, type Real, type TensorData } from '../../src/shared/tensor.js';
import { runners, type Outputs, type Runner } from '../../workers/runners.js';

const CASES: { name: string; input: number[]; weight: number[]; params: ConvParams }[] = [
  {
    name: '2-D channels_first, stride 2, reflect',
    input: [5, 3, 9, 8],
    weight: [4, 3, 3, 3],
    params: { stride: 2, padding: 1, padding_mode: 'reflect' },
  },
  {
    name: '1-D channels_last, groups 2',
    input: [4, 11, 6],
    weight: [3, 3, 4],
    params: { layout: 'NWC', groups: 2, padding: 'same' },
  },
  { name: 'depthwise 3-D', input: [3, 4, 5, 5, 5], weight: [4, 1, 3, 3, 3], params: { groups: 4, padding: 1 } },
];

const SLICES: [number, number][][] = [
  [
    [0, 1],
    [1, 2],
    [2, 99],
  ],
  [
    [0, 2],
    [2, 99],
  ],
];

function close(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = rel * (1 + Math.abs(want[i]));
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: got ${got[i]}, want ${want[i]} (tolerance ${tol})`);
  }
}

const RUNS: [Dt, () => ReturnType<typeof engineFor>][] = [
  ['float64', () => tsEngine],
  ['float32', () => engineFor('float32', 'wasm')],
  ...(NATIVE_SKIP
    ? []
    : ([
        ['float32', () => engineFor('float32', 'native')],
        ['float64', () => engineFor('float64', 'native')],
      ] satisfies [Dt, () => ReturnType<typeof engineFor>][])),
];

for (const [dtype, engineOf] of RUNS) {
  const engine = engineOf();
  const rel = dtype === 'float64' ? 1e-12 : 1e-5;
  for (const c of CASES) {
    test(`batch ranges add up to the whole batch: ${c.name}, ${dtype} on ${engine.name}`, () => {
      const g: ConvGeometry = resolveConv(
        { input: { dtype, shape: c.input }, weight: { dtype, shape: c.weight } },
        c.params,
      );
      const rand = rng(7);
      const x = randomTensor(numel(g.inputShape), dtype, rand);
      const w = randomTensor(numel(g.weightShape), dtype, rand);
      const b = randomTensor(g.outChannels, dtype, rand);
      const dy = randomTensor(numel(g.outputShape), dtype, rand);
      const y = alloc(dtype, dy.length);
      convForward(g, x, w, b, y, engine);
      const whole = {
        input: alloc(dtype, x.length),
        weight: alloc(dtype, w.length),
        bias: alloc(dtype, g.outChannels),
      };
      convBackward(g, x, w, dy, whole, engine);

      for (const slices of SLICES) {
        const ranges = slices.map(([a, z]) => [a, Math.min(z, g.batch)] as const).filter(([a, z]) => a < z);
        const ySplit = alloc(dtype, y.length).fill(NaN);
        const dxSplit = alloc(dtype, x.length).fill(NaN);
        const dw = new Float64Array(w.length);
        const db = new Float64Array(g.outChannels);
        for (const range of ranges) {
          convForward(g, x, w, b, ySplit, engine, range);
          const part = { input: dxSplit, weight: alloc(dtype, w.length), bias: alloc(dtype, g.outChannels) };
          convBackward(g, x, w, dy, part, engine, range);
          part.weight.forEach((v, i) => (dw[i] += v));
          part.bias.forEach((v, i) => (db[i] += v));
        }
        if (engine.name === 'native') {
          // The BLAS picks its kernels by GEMM shape, and a range's GEMMs are narrower than the
          // whole batch's (images share a tile): the same sums, possibly rounded in another order.
          close(ySplit, y, rel, 'forward by ranges');
          close(dxSplit, whole.input, rel, 'grad_input by ranges');
        } else {
          assert.deepEqual(ySplit, y, 'forward by ranges writes every image exactly as the whole batch');
          assert.deepEqual(dxSplit, whole.input, 'grad_input by ranges writes every image exactly as the whole batch');
        }
        close(dw, whole.weight, rel, 'grad_weight');
        close(db, whole.bias, rel, 'grad_bias');
      }

      const untouched = alloc(dtype, y.length).fill(7);
      convForward(g, x, w, b, untouched, engine, [1, 2]);
      const imageSize = y.length / g.batch;
      assert.ok(
        untouched.subarray(0, imageSize).every((v) => v === 7),
        'image 0 is outside [1, 2) and must not be written',
      );
      assert.ok(
        untouched.subarray(2 * imageSize).every((v) => v === 7),
        'images from 2 on are outside [1, 2) and must not be written',
      );
    });
  }
}

test('a batch range outside the batch is refused', () => {
  const g = resolveConv(
    { input: { dtype: 'float64', shape: [2, 1, 4] }, weight: { dtype: 'float64', shape: [1, 1, 2] } },
    {},
  );
  const y = new Float64Array(numel(g.outputShape));
  assert.throws(
    () => convForward(g, new Float64Array(8), new Float64Array(2), null, y, tsEngine, [1, 3]),
    /batch range \[1, 3\) is not within the 2 images/,
  );
});

/** What every result's elements hold before a range runs: none of them computes it (indices are >= -1, values within a few units). */
const UNWRITTEN = -1234.5;

/** How the ops' cases are prepared: no limit in the way, never split (the test cuts the ranges). */
const OPEN_LIMITS = {
  maxTensorElements: 2 ** 30,
  maxOutputBytes: 2 ** 40,
  maxFlops: 1e18,
  poolThreads: 1,
  splitMinFlops: Infinity,
};

/** The engine each run's runners get (engineFor reads CONVD_KERNEL on every call). */
function withKernel<T>(kernel: string, f: () => T): T {
  const saved = process.env.CONVD_KERNEL;
  process.env.CONVD_KERNEL = kernel;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.CONVD_KERNEL;
    else process.env.CONVD_KERNEL = saved;
  }
}

/** Runs `task` over `batch` (all of it when undefined) as a worker does, into `out`. */
function runRange(task: Task, out: Outputs, batch?: BatchRange): void {
  const view = (data: TensorData | undefined): Real => {
    if (!data) throw new TypeError(`a ${task.op} task lacks an operand`);
    return operandView(task.geometry.dtype, data);
  };
  (runners[task.op] as Runner<Task['op']>)({ ...task, batch }, out, view);
}

const results = (task: Task) => Object.entries(task.results) as [ResultName, { shape: number[]; perSample: boolean }][];

const OP_RUNS: { kernel: 'ts' | 'wasm' | 'native'; dtype: Dt }[] = [
  { kernel: 'ts', dtype: 'float64' },
  { kernel: 'wasm', dtype: 'float32' },
  ...(NATIVE_SKIP
    ? []
    : [
        { kernel: 'native' as const, dtype: 'float32' as const },
        { kernel: 'native' as const, dtype: 'float64' as const },
      ]),
];

test('every operation of the registry has batch-range cases, each of several images', () => {
  const names = OPS.map((op) => op.name);
  for (const name of names)
    assert.ok(OP_REQUESTS[name]?.length > 0, `${name} has no case in test/reference/op-requests.ts`);
  assert.deepEqual(Object.keys(OP_REQUESTS).sort(), [...names].sort(), 'the cases are of registered operations');
});

for (const op of OPS) {
  for (const c of OP_REQUESTS[op.name] ?? []) {
    for (const { kernel, dtype } of OP_RUNS) {
      test(`batch ranges of ${op.route.path} give the whole batch's results: ${c.name}, ${dtype} on ${kernel}`, () => {
        const prepared: Prepared = op.prepare(op.request.parse(c.body(dtype)), {
          limits: OPEN_LIMITS,
          idleThreads: () => 1,
        });
        const task = prepared.task;
        assert.equal(task.geometry.batch, IMAGES);
        // the kernels computing in `dtype`: the engine's own, not a fallback
        const rel = dtype === 'float64' ? 1e-12 : 1e-5;
        withKernel(kernel, () => {
          const whole: Outputs = {};
          for (const [name, r] of results(task)) whole[name] = alloc(dtype, numel(r.shape));
          runRange(task, whole);

          for (const slices of SLICES) {
            const ranges = slices.map(([a, z]): BatchRange => [a, Math.min(z, IMAGES)]);
            const assembled: Outputs = {};
            const sums: Partial<Record<ResultName, Float64Array>> = {};
            for (const [name, r] of results(task)) {
              if (r.perSample) assembled[name] = alloc(dtype, numel(r.shape)).fill(UNWRITTEN);
              else sums[name] = new Float64Array(numel(r.shape));
            }
            for (const range of ranges) {
              // each range into results of its own: a per-sample result holds its images only
              const part: Outputs = {};
              for (const [name, r] of results(task)) part[name] = alloc(dtype, numel(r.shape)).fill(UNWRITTEN);
              runRange(task, part, range);
              for (const [name, r] of results(task)) {
                const got = part[name]!;
                if (!r.perSample) {
                  got.forEach((v, i) => (sums[name]![i] += v));
                  continue;
                }
                const image = got.length / IMAGES;
                const [from, to] = [range[0] * image, range[1] * image];
                for (let i = 0; i < got.length; i++) {
                  if (i >= from && i < to) continue;
                  if (got[i] !== UNWRITTEN)
                    assert.fail(`${name}[${i}] (image ${Math.floor(i / image)}) written by the range [${range}]`);
                }
                assembled[name]!.set(got.subarray(from, to), from);
              }
            }
            for (const [name, r] of results(task)) {
              const want = whole[name]!;
              if (!r.perSample) close(sums[name]!, want, rel, `${name}, the ranges' partial sums added`);
              else if (kernel === 'native') close(assembled[name]!, want, rel, `${name} by ranges`);
              else assert.deepEqual(assembled[name], want, `${name} by ranges is the whole batch's, bit for bit`);
            }
          }
        });
      });
    }
  }
}
