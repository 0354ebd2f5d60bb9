/**
 * Adaptive pooling kernels (workers/kernels/adaptive-pooling.ts) against the naive reference
 * (test/reference/naive-pool.ts, PyTorch's start / end rule) on random geometries: rank 1-3,
 * both layouts, output sizes below, equal to and above the input, null entries, max / avg /
 * lp, float32 / float64, ties and non-finite values; max and its indices (row- and
 * column-major: storage_order 0 and 1) exactly, avg and lp under the tolerance rule. Global pooling (output_size 1) against the window pooling with
 * the kernel over the whole input, a second, independent code path. Finite differences of
 * every backward, the adjoint identity, batch ranges.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  adaptivePoolingWork,
  resolveAdaptivePooling,
  type AdaptivePoolingGeometry,
  type AdaptivePoolingParams,
} from '../../src/shared/geometry/adaptive-pooling.js';
import type { LayoutName } from '../../src/shared/geometry/common.js';
import { resolvePooling, type PoolingMode } from '../../src/shared/geometry/pooling.js';
import { numel, type Real } from '../../src/shared/tensor.js';
import { adaptivePoolBackward, adaptivePoolForward } from '../../workers/kernels/adaptive-pooling.js';
import { poolBackward, poolForward } from '../../workers/kernels/pooling.js';
import { alloc, randomTensor, rng, type Dt } from '../reference/data.js';
import {
  refAdaptiveGeometry,
  referenceAdaptiveBackward,
  referenceAdaptiveForward,
  type RefAdaptiveGeom,
} from '../reference/naive-pool.js';
import { checkClose } from '../reference/tolerance.js';

const SEED = 20261203;
const CHANNELS_LAST = new Set<LayoutName | undefined>(['channels_last', 'NWC', 'NHWC', 'NDHWC']);

interface Case {
  inputShape: number[];
  params: AdaptivePoolingParams;
  dtype: Dt;
  values: 'random' | 'ties' | 'special';
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 3 }).chain((rank) =>
  fc
    .record({
      mode: fc.constantFrom<PoolingMode>('max', 'avg', 'lp'),
      layout: fc.constantFrom<LayoutName | undefined>(undefined, 'channels_first', 'channels_last'),
      batch: fc.integer({ min: 1, max: 2 }),
      channels: fc.integer({ min: 1, max: 3 }),
      inSp: fc.array(fc.integer({ min: 1, max: rank === 3 ? 6 : 11 }), { minLength: rank, maxLength: rank }),
      // per dim: an extent below, equal to or above the input's, or null
      outSp: fc.array(fc.option(fc.integer({ min: 1, max: rank === 3 ? 8 : 14 }), { freq: 5 }), {
        minLength: rank,
        maxLength: rank,
      }),
      sizeForm: fc.constantFrom('int', 'perdim'),
      power: fc.constantFrom(undefined, 1, 2, 3, 1.5),
      lpAbs: fc.constantFrom<boolean | undefined>(undefined, false, true),
      indices: fc.boolean(),
      order: fc.constantFrom<number | undefined>(undefined, 0, 1),
      dtype: fc.constantFrom<Dt>('float32', 'float64'),
      values: fc.constantFrom<Case['values']>('random', 'random', 'ties', 'special'),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
    .map((r): Case => {
      const sizes = r.outSp;
      const output_size = r.sizeForm === 'int' ? (sizes[0] ?? 1) : sizes;
      const params: AdaptivePoolingParams = { mode: r.mode, output_size };
      if (r.mode === 'lp' && r.power !== undefined) params.p = r.power;
      // lp_abs (ONNX LpPool's |x|^p) with lp; false goes with any mode
      if ((r.mode === 'lp' && r.lpAbs !== undefined) || r.lpAbs === false) params.lp_abs = r.lpAbs;
      if (r.mode === 'max') params.return_indices = r.indices;
      // storage_order 1 orders the indices: with return_indices only; 0 goes with anything
      if (r.order === 0 || (r.order === 1 && r.mode === 'max' && r.indices)) params.storage_order = r.order;
      if (r.layout !== undefined) params.layout = r.layout;
      const inputShape = CHANNELS_LAST.has(r.layout)
        ? [r.batch, ...r.inSp, r.channels]
        : [r.batch, r.channels, ...r.inSp];
      return { inputShape, params, dtype: r.dtype, values: r.values, seed: r.seed };
    }),
);

function geometries(c: Case, withGradOutput: boolean): { g: AdaptivePoolingGeometry; rg: RefAdaptiveGeom } {
  const rg = refAdaptiveGeometry(c.inputShape, c.params);
  const g = resolveAdaptivePooling(
    {
      input: { dtype: c.dtype, shape: c.inputShape },
      grad_output: withGradOutput ? { dtype: c.dtype, shape: rg.outputShape } : undefined,
    },
    c.params,
  );
  assert.deepEqual(g.outputShape, rg.outputShape, 'output shape');
  return { g, rg };
}

function data(c: Case, rg: RefAdaptiveGeom): { x: Real; dy: Real } {
  const rand = rng(c.seed);
  const n = numel(rg.inputShape);
  const x = randomTensor(n, c.dtype, rand);
  const specials = [NaN, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    if (c.values === 'ties') x[i] = Math.floor(rand() * 5) - 2;
    if (c.values === 'special' && rand() < 0.15) x[i] = specials[Math.floor(rand() * 3)];
    // (not with lp_abs, which takes |x| itself: there negative inputs are the point)
    if (c.params.mode === 'lp' && !Number.isInteger(rg.p) && !rg.lpAbs) x[i] = Math.abs(x[i]);
  }
  return { x, dy: randomTensor(numel(rg.outputShape), c.dtype, rand) };
}

const describeCase = (c: Case) => JSON.stringify(c);
const runs = (numRuns: number) => ({ seed: SEED, numRuns, includeErrorInReport: true });

function assertExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const ok = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : got[i] === want[i];
    assert.ok(ok, `${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

test('forward matches the reference on random geometries (max and its indices exactly, avg and lp within tolerance)', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { g, rg } = geometries(c, false);
      const { x } = data(c, rg);
      const y = alloc(c.dtype, numel(rg.outputShape)).fill(12345);
      const indices = g.returnIndices ? alloc(c.dtype, y.length).fill(12345) : undefined;
      adaptivePoolForward(g, x, y, undefined, indices);
      const ref = referenceAdaptiveForward(rg, x);
      if (c.params.mode === 'max') assertExact(y, ref.ref, `max output; case ${describeCase(c)}`);
      else {
        const rep = checkClose(y, ref.ref, ref.absBound, ref.nTerms, c.dtype, { float64Reference: true });
        assert.ok(rep.ok, `${c.params.mode} output: ${rep.message}\n  case: ${describeCase(c)}`);
      }
      if (indices) assertExact(indices, ref.indices, `indices; case ${describeCase(c)}`);
    }),
    runs(800),
  );
});

test('backward matches the reference on random geometries (overlapping windows add up)', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { g, rg } = geometries(c, true);
      const { x, dy } = data(c, rg);
      const dx = alloc(c.dtype, numel(rg.inputShape)).fill(NaN);
      adaptivePoolBackward(g, x, dy, dx);
      const ref = referenceAdaptiveBackward(rg, x, dy);
      const rep = checkClose(dx, ref.ref, ref.absBound, ref.nTerms, c.dtype, { float64Reference: true });
      assert.ok(rep.ok, `${c.params.mode} grad_input: ${rep.message}\n  case: ${describeCase(c)}`);
    }),
    runs(800),
  );
});

test('the generator covers every mode, size form, layout, dtype, sizes above the input and null', () => {
  const seen = new Map<string, number>();
  const add = (f: string) => seen.set(f, (seen.get(f) ?? 0) + 1);
  for (const c of fc.sample(caseArb, { seed: SEED, numRuns: 800 })) {
    const { g } = geometries(c, false);
    add(c.params.mode);
    add(`rank${c.inputShape.length - 2}`);
    add(`layout:${c.params.layout ?? 'default'}`);
    add(c.dtype);
    add(`values:${c.values}`);
    add(`size:${typeof c.params.output_size}`);
    if ([c.params.output_size].flat().includes(null)) add('null');
    if (g.outSpatial.some((o, i) => o > g.inSpatial[i])) add('above');
    if (g.outSpatial.some((o, i) => o < g.inSpatial[i] && g.inSpatial[i] % o !== 0)) add('overlapping');
    if (g.returnIndices) add('indices');
    if (g.mode === 'lp' && g.lpAbs) add(`lp_abs:${g.p % 2 === 0 ? 'even' : 'odd-or-fractional'}`);
    if (g.returnIndices) add(`indices:order${g.storageOrder}:rank${c.inputShape.length - 2}`);
  }
  const must = ['max', 'avg', 'lp', 'rank1', 'rank2', 'rank3', 'layout:default', 'layout:channels_first'];
  must.push('layout:channels_last', 'float32', 'float64', 'values:ties', 'values:special', 'size:number');
  must.push('size:object', 'null', 'above', 'overlapping', 'indices', 'lp_abs:even', 'lp_abs:odd-or-fractional');
  for (const r of [1, 2, 3]) must.push(`indices:order0:rank${r}`, `indices:order1:rank${r}`);
  const missing = must.filter((f) => (seen.get(f) ?? 0) < 10);
  assert.deepEqual(missing, [], `drawn fewer than 10 times; seen ${JSON.stringify(Object.fromEntries(seen))}`);
});

test('the work is one operation per window element (n + out - gcd(n, out) per dim): the window lengths summed', () => {
  for (const c of fc.sample(caseArb, { seed: SEED + 1, numRuns: 200 })) {
    const { g, rg } = geometries(c, false);
    const perDim = rg.in3.map((n, a) => {
      let s = 0;
      for (let o = 0; o < rg.out3[a]; o++)
        s += Math.ceil(((o + 1) * n) / rg.out3[a]) - Math.floor((o * n) / rg.out3[a]);
      return s;
    });
    assert.equal(adaptivePoolingWork(g, false).flops, g.batch * g.channels * perDim[0] * perDim[1] * perDim[2]);
  }
});

test('global pooling (output_size 1) is the window pooling with the kernel over the whole input', () => {
  for (const mode of ['max', 'avg', 'lp'] as const) {
    for (const [shape, layout] of [
      [[2, 3, 7], 'NCW'],
      [[1, 5, 4, 2], 'NHWC'],
      [[1, 2, 3, 4, 5], 'NCDHW'],
    ] as [number[], LayoutName][]) {
      const input = { dtype: 'float64' as const, shape };
      const cl = layout.endsWith('C');
      const spatial = cl ? shape.slice(1, -1) : shape.slice(2);
      const a = resolveAdaptivePooling({ input }, { mode, output_size: 1, layout, p: mode === 'lp' ? 3 : undefined });
      const w = resolvePooling({ input }, { mode, kernel_size: spatial, layout, p: mode === 'lp' ? 3 : undefined });
      assert.deepEqual(a.outputShape, w.window.outputShape);
      const rand = rng(7);
      const x = Float64Array.from({ length: numel(shape) }, () => rand() + 0.1);
      const dy = Float64Array.from({ length: numel(a.outputShape) }, () => rand() - 0.5);
      const [ya, yw] = [new Float64Array(dy.length), new Float64Array(dy.length)];
      adaptivePoolForward(a, x, ya);
      poolForward(w.window, w, x, yw);
      const [dxa, dxw] = [new Float64Array(x.length), new Float64Array(x.length)];
      adaptivePoolBackward(a, x, dy, dxa);
      poolBackward(w.window, w, x, dy, dxw);
      const close = (p: Float64Array, q: Float64Array, what: string) =>
        p.forEach((v, i) => assert.ok(Math.abs(v - q[i]) <= 1e-12 * Math.max(1, Math.abs(q[i])), `${what}[${i}]`));
      close(ya, yw, `${mode} ${layout} output`);
      close(dxa, dxw, `${mode} ${layout} grad_input`);
    }
  }
});

const FD: { name: string; input: number[]; params: AdaptivePoolingParams }[] = [
  { name: '1-D avg 7 -> 3 (overlapping)', input: [2, 2, 7], params: { mode: 'avg', output_size: 3 } },
  {
    name: '2-D NHWC avg [5, 4] -> [3, 6]',
    input: [1, 5, 4, 2],
    params: { mode: 'avg', output_size: [3, 6], layout: 'NHWC' },
  },
  { name: '2-D max 6x7 -> [4, null]', input: [1, 2, 6, 7], params: { mode: 'max', output_size: [4, null] } },
  { name: '3-D max -> [2, 3, 2]', input: [1, 1, 4, 5, 3], params: { mode: 'max', output_size: [2, 3, 2] } },
  { name: '1-D lp p 2 9 -> 4', input: [1, 2, 9], params: { mode: 'lp', p: 2, output_size: 4 } },
  {
    name: '3-D NDHWC lp p 1.5 global',
    input: [1, 3, 4, 2, 2],
    params: { mode: 'lp', p: 1.5, output_size: 1, layout: 'NDHWC' },
  },
  // lp_abs on inputs of both signs (none 0)
  { name: '1-D lp_abs p 3 9 -> 4', input: [1, 2, 9], params: { mode: 'lp', p: 3, lp_abs: true, output_size: 4 } },
  {
    name: '2-D NHWC lp_abs p 1.5 [5, 4] -> [3, 3]',
    input: [1, 5, 4, 2],
    params: { mode: 'lp', p: 1.5, lp_abs: true, output_size: 3, layout: 'NHWC' },
  },
  {
    name: '3-D lp_abs p 1 global (ONNX GlobalLpPool)',
    input: [1, 2, 3, 2, 3],
    params: { mode: 'lp', p: 1, lp_abs: true, output_size: 1 },
  },
];
const H = 2 ** -10;

for (const f of FD) {
  test(`finite differences: ${f.name}`, () => {
    const g0 = resolveAdaptivePooling({ input: { dtype: 'float64', shape: f.input } }, f.params);
    const g = resolveAdaptivePooling(
      { input: { dtype: 'float64', shape: f.input }, grad_output: { dtype: 'float64', shape: g0.outputShape } },
      f.params,
    );
    const rand = rng(5 + f.name.length);
    const n = numel(f.input);
    // distinct values 0.25 apart (> 2h), shuffled: no ties; positive for lp
    const order = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
    // lp_abs: both signs, none within 1/16 of 0
    const shift = f.params.mode !== 'lp' ? n / 8 : f.params.lp_abs ? n / 8 - 1 / 16 : -1;
    const x = Float64Array.from(order, (v) => v * 0.25 - shift);
    const R = randomTensor(numel(g.outputShape), 'float64', rand) as Float64Array;
    const y = new Float64Array(R.length);
    const loss = () => {
      adaptivePoolForward(g, x, y);
      return y.reduce((s, v, i) => s + v * R[i], 0);
    };
    const dx = new Float64Array(n).fill(NaN);
    adaptivePoolBackward(g, x, R, dx);
    const tolerance = f.params.mode === 'lp' ? 1e-6 : 1e-9;
    let nonZero = 0;
    for (let i = 0; i < n; i++) {
      const keep = x[i];
      x[i] = keep + H;
      const lp = loss();
      x[i] = keep - H;
      const lm = loss();
      x[i] = keep;
      const fd = (lp - lm) / (2 * H);
      assert.ok(Math.abs(fd - dx[i]) <= tolerance * Math.max(1, Math.abs(fd)), `grad_input[${i}]: ${dx[i]} vs ${fd}`);
      if (dx[i] !== 0) nonZero++;
    }
    assert.ok(nonZero > 0, 'degenerate: every gradient is zero');
  });
}

test('adjoint identity: avg exactly, lp through its linearisation', () => {
  fc.assert(
    fc.property(
      caseArb.filter((c) => c.params.mode !== 'max'),
      (c0) => {
        const c: Case = { ...c0, dtype: 'float64' };
        const { g, rg } = geometries(c, true);
        const rand = rng(c.seed);
        const n = numel(rg.inputShape);
        const x = Float64Array.from({ length: n }, () => (c.params.mode === 'lp' ? 1 + rand() : rand() * 2 - 1));
        const v = Float64Array.from({ length: n }, () => rand() * 2 - 1);
        const dy = Float64Array.from({ length: numel(rg.outputShape) }, () => rand() * 2 - 1);
        const dx = new Float64Array(n);
        adaptivePoolBackward(g, x, dy, dx);
        const left = dx.reduce((s, d, i) => s + d * v[i], 0);
        const pooled = (t: number) => {
          const y = new Float64Array(dy.length);
          adaptivePoolForward(g, c.params.mode === 'avg' ? v : x.map((xi, i) => xi + t * v[i]), y);
          return y.reduce((s, yi, i) => s + yi * dy[i], 0);
        };
        const h = 1e-5;
        const right = c.params.mode === 'avg' ? pooled(0) : (pooled(h) - pooled(-h)) / (2 * h);
        const scale = Math.max(1, Math.abs(left), Math.abs(right));
        assert.ok(
          Math.abs(left - right) <= (c.params.mode === 'avg' ? 1e-12 : 1e-6) * scale,
          `${left} vs ${right}; case ${describeCase(c)}`,
        );
      },
    ),
    runs(300),
  );
});

test('batch ranges write only their images and add up to the whole batch', () => {
  for (const mode of ['max', 'avg', 'lp'] as const) {
    const c: Case = {
      inputShape: [4, 5, 6, 3],
      params: { mode, output_size: [4, 2], layout: 'NHWC' },
      dtype: 'float32',
      values: 'random',
      seed: 3,
    };
    const { g, rg } = geometries(c, true);
    const { x, dy } = data(c, rg);
    const x1 = x.map(Math.abs); // lp p 2 of any sign is fine; keep all modes alike
    const y = alloc('float32', numel(rg.outputShape));
    const dx = alloc('float32', numel(rg.inputShape));
    adaptivePoolForward(g, x1, y);
    adaptivePoolBackward(g, x1, dy, dx);
    const ys = alloc('float32', y.length).fill(NaN);
    const dxs = alloc('float32', dx.length).fill(NaN);
    for (const range of [
      [0, 1],
      [1, 4],
    ] as const) {
      adaptivePoolForward(g, x1, ys, range);
      adaptivePoolBackward(g, x1, dy, dxs, range);
    }
    assert.deepEqual(ys, y, `${mode} output`);
    assert.deepEqual(dxs, dx, `${mode} grad_input`);
  }
});
