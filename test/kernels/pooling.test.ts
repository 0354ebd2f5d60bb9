/**
 * Pooling kernels (workers/kernels/pooling.ts) against the naive reference
 * (test/reference/naive-pool.ts, PyTorch's definition) on random geometries: rank 1-3, both
 * layouts and the letter aliases, stride (default = kernel_size), padding up to kernel_size/2,
 * dilation (max), count_include_pad (avg), float32 / float64, and values with ties, NaN,
 * +-Infinity and windows of -Infinity only. Max forward must match exactly; avg forward and
 * both backwards under the conformance tolerance rule. Plus tiling under the smallest tile
 * budget, batch ranges, and finite differences of avg backward and of max backward away from
 * ties. The pooling kernels run no GEMM (no engine): the properties run on both dtypes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { numel } from '../../src/shared/tensor.js';
import { resolvePooling, type PoolingGeometry, type PoolingParams } from '../../src/shared/geometry/pooling.js';
import type { LayoutName } from '../../src/shared/geometry/common.js';
import type { Real } from '../../src/shared/tensor.js';
import { poolBackward, poolForward } from '../../workers/kernels/pooling.js';
import { DEFAULT_TILE_BUDGET_BYTES, setTileBudget } from '../../workers/kernels/workspace.js';
import { alloc, randomTensor, rng, type Dt } from '../reference/data.js';
import type { RefResult } from '../reference/naive-conv.js';
import {
  refPoolGeometry,
  referencePoolBackward,
  referencePoolForward,
  type RefPoolGeom,
} from '../reference/naive-pool.js';
import { checkClose } from '../reference/tolerance.js';

const SEED = 20261125;
const ALIASES: Record<number, [LayoutName, LayoutName]> = {
  1: ['NCW', 'NWC'],
  2: ['NCHW', 'NHWC'],
  3: ['NCDHW', 'NDHWC'],
};
const CHANNELS_LAST = new Set<LayoutName | undefined>(['channels_last', 'NWC', 'NHWC', 'NDHWC']);
const LIMITS = { 1: { k: 6, extra: 7 }, 2: { k: 4, extra: 4 }, 3: { k: 3, extra: 3 } } as const;

type Values = 'random' | 'ties' | 'special' | 'neginf';

interface Case {
  inputShape: number[];
  params: PoolingParams;
  dtype: Dt;
  values: Values;
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 3 }).chain((rank) => {
  const lim = LIMITS[rank as 1 | 2 | 3];
  const dim = fc.record({
    k: fc.integer({ min: 1, max: lim.k }),
    stride: fc.integer({ min: 1, max: 3 }),
    padFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    dil: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 })),
    extra: fc.integer({ min: 0, max: lim.extra }),
  });
  return fc
    .record({
      mode: fc.constantFrom<'max' | 'avg'>('max', 'avg'),
      layout: fc.constantFrom<LayoutName | undefined>(undefined, 'channels_first', 'channels_last', ...ALIASES[rank]),
      batch: fc.integer({ min: 1, max: 2 }),
      channels: fc.integer({ min: 1, max: 3 }),
      dims: fc.array(dim, { minLength: rank, maxLength: rank }),
      strideForm: fc.constantFrom('default', 'int', 'perdim'),
      padForm: fc.constantFrom('omit', 'int', 'perdim'),
      kernelInt: fc.boolean(),
      dilForm: fc.constantFrom('omit', 'int', 'perdim'),
      cip: fc.constantFrom<boolean | undefined>(undefined, true, false),
      dtype: fc.constantFrom<Dt>('float32', 'float64'),
      values: fc.constantFrom<Values>('random', 'random', 'ties', 'special', 'neginf'),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
    .map((r): Case => {
      const dims = r.dims.map((x) => ({ ...x }));
      if (r.kernelInt) dims.forEach((x) => (x.k = dims[0].k));
      if (r.mode === 'avg' || r.dilForm === 'omit') dims.forEach((x) => (x.dil = 1));
      if (r.dilForm === 'int') dims.forEach((x) => (x.dil = dims[0].dil));
      if (r.strideForm === 'int') dims.forEach((x) => (x.stride = dims[0].stride));
      if (r.strideForm === 'default') dims.forEach((x) => (x.stride = x.k));
      const pads = dims.map((x) => Math.min(Math.floor(x.k / 2), Math.floor(x.padFrac * (Math.floor(x.k / 2) + 1))));
      if (r.padForm === 'omit') pads.fill(0);
      if (r.padForm === 'int') pads.fill(Math.min(...pads));
      const inSp = dims.map((x, i) => Math.max(1, x.dil * (x.k - 1) + 1 - 2 * pads[i]) + x.extra);
      const params: PoolingParams = { mode: r.mode, kernel_size: r.kernelInt ? dims[0].k : dims.map((x) => x.k) };
      if (r.strideForm === 'int') params.stride = dims[0].stride;
      if (r.strideForm === 'perdim') params.stride = dims.map((x) => x.stride);
      if (r.padForm === 'int') params.padding = pads[0];
      if (r.padForm === 'perdim') params.padding = pads;
      if (r.mode === 'max' && r.dilForm === 'int') params.dilation = dims[0].dil;
      if (r.mode === 'max' && r.dilForm === 'perdim') params.dilation = dims.map((x) => x.dil);
      if (r.mode === 'avg' && r.cip !== undefined) params.count_include_pad = r.cip;
      if (r.layout !== undefined) params.layout = r.layout;
      const cl = CHANNELS_LAST.has(r.layout);
      const inputShape = cl ? [r.batch, ...inSp, r.channels] : [r.batch, r.channels, ...inSp];
      return { inputShape, params, dtype: r.dtype, values: r.values, seed: r.seed };
    });
});

function geometries(c: Case, withGradOutput: boolean): { g: PoolingGeometry; rg: RefPoolGeom } {
  const rg = refPoolGeometry(c.inputShape, c.params);
  const g = resolvePooling(
    {
      input: { dtype: c.dtype, shape: c.inputShape },
      grad_output: withGradOutput ? { dtype: c.dtype, shape: rg.outputShape } : undefined,
    },
    c.params,
  );
  assert.deepEqual(g.window.outputShape, rg.outputShape, 'output shape');
  return { g, rg };
}

/** Input values of the case's kind (and a random grad_output). */
function data(c: Case, rg: RefPoolGeom): { x: Real; dy: Real } {
  const rand = rng(c.seed);
  const n = numel(rg.inputShape);
  const x = randomTensor(n, c.dtype, rand);
  const specials = [NaN, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    if (c.values === 'ties') x[i] = Math.floor(rand() * 5) - 2;
    if (c.values === 'special' && rand() < 0.15) x[i] = specials[Math.floor(rand() * 3)];
    if (c.values === 'neginf' && rand() < 0.7) x[i] = -Infinity;
  }
  return { x, dy: randomTensor(numel(rg.outputShape), c.dtype, rand) };
}

const describeCase = (c: Case) => JSON.stringify(c);

function assertClose(got: Real, r: RefResult, c: Case, what: string): void {
  const rep = checkClose(got, r.ref, r.absBound, r.nTerms, c.dtype, { float64Reference: true });
  assert.ok(rep.ok, `${what}: ${rep.message}\n  case: ${describeCase(c)}`);
}

function assertExact(got: Real, want: ArrayLike<number>, c: Case, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const ok = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : got[i] === want[i];
    assert.ok(ok, `${what}[${i}]: got ${got[i]}, want ${want[i]}\n  case: ${describeCase(c)}`);
  }
}

const runs = (numRuns: number) => ({ seed: SEED, numRuns, includeErrorInReport: true });

test('forward matches the reference on random geometries (max exactly, avg within tolerance)', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { g, rg } = geometries(c, false);
      const { x } = data(c, rg);
      const y = alloc(c.dtype, numel(rg.outputShape)).fill(12345);
      poolForward(g.window, g, x, y);
      const ref = referencePoolForward(rg, x);
      if (c.params.mode === 'max') assertExact(y, ref.ref, c, 'max output');
      else assertClose(y, ref, c, 'avg output');
    }),
    runs(1500),
  );
});

test('backward matches the reference on random geometries (max: first maximum, NaN wins, -inf windows)', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { g, rg } = geometries(c, true);
      const { x, dy } = data(c, rg);
      const dx = alloc(c.dtype, numel(rg.inputShape)).fill(NaN); // overwritten, never accumulated into
      poolBackward(g.window, g, x, dy, dx);
      assertClose(dx, referencePoolBackward(rg, x, dy), c, `${c.params.mode} grad_input`);
    }),
    runs(1500),
  );
});

test('the generator covers ties, non-finite values, every parameter form and layout', () => {
  const seen = new Map<string, number>();
  const add = (f: string) => seen.set(f, (seen.get(f) ?? 0) + 1);
  for (const c of fc.sample(caseArb, { seed: SEED, numRuns: 1500 })) {
    const p = c.params;
    add(`rank${c.inputShape.length - 2}`);
    add(`${p.mode}`);
    add(`values:${c.values}`);
    add(`layout:${p.layout ?? 'default'}`);
    add(`stride:${p.stride === undefined ? 'default' : typeof p.stride}`);
    add(`padding:${p.padding === undefined ? 'omit' : typeof p.padding}`);
    add(c.dtype);
    if (p.mode === 'max' && p.dilation !== undefined && [p.dilation].flat().some((v) => v > 1)) add('dilation');
    if (p.mode === 'avg') add(`cip:${p.count_include_pad}`);
    if ([p.padding ?? 0].flat().some((v) => v > 0)) add('padded');
  }
  const must = [
    'rank1',
    'rank2',
    'rank3',
    'max',
    'avg',
    'values:random',
    'values:ties',
    'values:special',
    'values:neginf',
    'layout:default',
    'layout:channels_first',
    'layout:channels_last',
    'layout:NCW',
    'layout:NWC',
    'layout:NCHW',
    'layout:NHWC',
    'layout:NCDHW',
    'layout:NDHWC',
    'stride:default',
    'stride:number',
    'stride:object',
    'padding:omit',
    'padding:number',
    'padding:object',
    'float32',
    'float64',
    'dilation',
    'cip:undefined',
    'cip:true',
    'cip:false',
    'padded',
  ];
  const missing = must.filter((f) => (seen.get(f) ?? 0) < 10);
  assert.deepEqual(
    missing,
    [],
    `drawn fewer than 10 times: ${missing.join(', ')}; seen ${JSON.stringify(Object.fromEntries(seen))}`,
  );
});

/** Hand-picked geometries, including ones with many output positions per channel. */
const FIXED: { name: string; input: number[]; params: PoolingParams }[] = [
  {
    name: '3-D max k4 s1 p2 (2197 positions, tiled)',
    input: [1, 2, 12, 12, 12],
    params: { mode: 'max', kernel_size: 4, stride: 1, padding: 2 },
  },
  {
    name: '3-D NDHWC avg k[4,3,4] s1 p[2,1,1] excluding padding',
    input: [2, 10, 9, 11, 3],
    params: {
      mode: 'avg',
      kernel_size: [4, 3, 4],
      stride: 1,
      padding: [2, 1, 1],
      count_include_pad: false,
      layout: 'NDHWC',
    },
  },
  {
    name: '1-D max k6 s1 p3 dilation 2 (long)',
    input: [1, 3, 3000],
    params: { mode: 'max', kernel_size: 6, stride: 1, padding: 3, dilation: 2 },
  },
  {
    name: '2-D NHWC avg k3 s2 p1 (ImageNet style)',
    input: [2, 33, 31, 4],
    params: { mode: 'avg', kernel_size: 3, stride: 2, padding: 1, layout: 'NHWC' },
  },
  {
    name: '2-D max k3 s2 p1 (ImageNet style)',
    input: [2, 4, 33, 31],
    params: { mode: 'max', kernel_size: 3, stride: 2, padding: 1 },
  },
];

for (const f of FIXED) {
  for (const dtype of ['float32', 'float64'] as Dt[]) {
    test(`tiles under the smallest tile budget give the reference: ${f.name}, ${dtype}`, () => {
      const c: Case = { inputShape: f.input, params: f.params, dtype, values: 'ties', seed: 3 };
      const { g, rg } = geometries(c, true);
      const { x, dy } = data(c, rg);
      const fwd = referencePoolForward(rg, x);
      const bwd = referencePoolBackward(rg, x, dy);
      for (const budget of [1 << 16, DEFAULT_TILE_BUDGET_BYTES]) {
        const y = alloc(dtype, numel(rg.outputShape)).fill(NaN);
        const dx = alloc(dtype, numel(rg.inputShape)).fill(NaN);
        setTileBudget(budget);
        try {
          poolForward(g.window, g, x, y);
          poolBackward(g.window, g, x, dy, dx);
        } finally {
          setTileBudget(DEFAULT_TILE_BUDGET_BYTES);
        }
        if (f.params.mode === 'max') assertExact(y, fwd.ref, c, `output (budget ${budget})`);
        else assertClose(y, fwd, c, `output (budget ${budget})`);
        assertClose(dx, bwd, c, `grad_input (budget ${budget})`);
      }
    });
  }
}

test('PyTorch corner cases of max pooling', () => {
  const run = (input: number[], values: number[], params: PoolingParams, dyValues?: number[]) => {
    const g = resolvePooling({ input: { dtype: 'float64', shape: input } }, params);
    const x = Float64Array.from(values);
    const y = new Float64Array(numel(g.window.outputShape));
    poolForward(g.window, g, x, y);
    const dx = new Float64Array(x.length);
    poolBackward(g.window, g, x, Float64Array.from(dyValues ?? Array(y.length).fill(1)), dx);
    return { y: Array.from(y), dx: Array.from(dx) };
  };
  // ties: the first maximum in row-major window order takes the gradient
  assert.deepEqual(run([1, 1, 2, 2], [5, 5, 5, 5], { mode: 'max', kernel_size: 2 }), { y: [5], dx: [1, 0, 0, 0] });
  // a NaN is the maximum; with two NaNs the last one (PyTorch's `val > max || isnan(val)`)
  assert.deepEqual(run([1, 1, 4], [1, NaN, 3, NaN], { mode: 'max', kernel_size: 4 }).dx, [0, 0, 0, 1]);
  assert.ok(Number.isNaN(run([1, 1, 4], [1, NaN, 3, 2], { mode: 'max', kernel_size: 4 }).y[0]));
  // a window of -inf only: output -inf, gradient to its first element inside the input (not the padding)
  assert.deepEqual(
    run([1, 1, 3], [-Infinity, -Infinity, -Infinity], { mode: 'max', kernel_size: 3, stride: 1, padding: 1 }),
    {
      y: [-Infinity, -Infinity, -Infinity],
      dx: [2, 1, 0],
    },
  );
  // dilation can make a window of padding only: -inf out, no gradient anywhere
  assert.deepEqual(run([1, 1, 1], [7], { mode: 'max', kernel_size: 2, dilation: 2, padding: 1 }), {
    y: [-Infinity],
    dx: [0],
  });
  // padding never wins over negative values
  assert.deepEqual(run([1, 1, 2], [-3, -4], { mode: 'max', kernel_size: 2, stride: 1, padding: 1 }).y, [-3, -3, -4]);
});

test('avg pooling divisors: count_include_pad true divides by the window, false by its elements inside the input', () => {
  const run = (cip: boolean) => {
    const g = resolvePooling(
      { input: { dtype: 'float64', shape: [1, 1, 3] } },
      { mode: 'avg', kernel_size: 3, stride: 1, padding: 1, count_include_pad: cip },
    );
    const y = new Float64Array(3);
    poolForward(g.window, g, Float64Array.from([3, 6, 9]), y);
    const dx = new Float64Array(3);
    poolBackward(g.window, g, new Float64Array(3), Float64Array.from([1, 1, 1]), dx);
    return { y: Array.from(y), dx: Array.from(dx) };
  };
  assert.deepEqual(run(true), { y: [3, 6, 5], dx: [2 / 3, 1, 2 / 3] });
  assert.deepEqual(run(false), { y: [4.5, 6, 7.5], dx: [1 / 2 + 1 / 3, 1 / 2 + 1 / 3 + 1 / 2, 1 / 3 + 1 / 2] });
});

test('batch ranges write only their images and add up to the whole batch', () => {
  for (const mode of ['max', 'avg'] as const) {
    const c: Case = {
      inputShape: [5, 3, 7, 6],
      params: { mode, kernel_size: 3, stride: 2, padding: 1 },
      dtype: 'float32',
      values: 'random',
      seed: 11,
    };
    const { g, rg } = geometries(c, true);
    const { x, dy } = data(c, rg);
    const y = alloc('float32', numel(rg.outputShape));
    const dx = alloc('float32', numel(rg.inputShape));
    poolForward(g.window, g, x, y);
    poolBackward(g.window, g, x, dy, dx);
    const ys = alloc('float32', y.length).fill(NaN);
    const dxs = alloc('float32', dx.length).fill(NaN);
    for (const range of [
      [0, 2],
      [2, 3],
      [3, 5],
    ] as const) {
      poolForward(g.window, g, x, ys, range);
      poolBackward(g.window, g, x, dy, dxs, range);
    }
    assert.deepEqual(ys, y, `${mode} output`);
    assert.deepEqual(dxs, dx, `${mode} grad_input`);
    const partial = alloc('float32', y.length).fill(NaN);
    poolForward(g.window, g, x, partial, [1, 2]);
    const perImage = y.length / 5;
    assert.ok(
      partial.subarray(0, perImage).every(Number.isNaN) && partial.subarray(2 * perImage).every(Number.isNaN),
      'images outside the range untouched',
    );
  }
});

/**
 * Finite differences of L(x) = sum(pool(x) * R) in float64: avg pooling is linear, so the
 * central difference is exact up to rounding; max pooling is piecewise linear, and with all
 * values at least 2h apart no perturbation changes a window's maximum.
 */
const FD: { name: string; input: number[]; params: PoolingParams }[] = [
  { name: '1-D avg k3 s2 p1', input: [2, 2, 9], params: { mode: 'avg', kernel_size: 3, stride: 2, padding: 1 } },
  {
    name: '1-D NWC avg k4 s1 p2 excluding padding',
    input: [1, 8, 3],
    params: { mode: 'avg', kernel_size: 4, stride: 1, padding: 2, count_include_pad: false, layout: 'NWC' },
  },
  {
    name: '2-D avg k[3,2] s[1,2] p[1,1]',
    input: [1, 2, 5, 6],
    params: { mode: 'avg', kernel_size: [3, 2], stride: [1, 2], padding: [1, 1] },
  },
  {
    name: '3-D NDHWC avg k2 excluding padding',
    input: [1, 3, 4, 5, 2],
    params: { mode: 'avg', kernel_size: 2, stride: 1, padding: 1, count_include_pad: false, layout: 'NDHWC' },
  },
  {
    name: '1-D max k3 s1 p1 dilation 2',
    input: [2, 2, 9],
    params: { mode: 'max', kernel_size: 3, stride: 1, padding: 1, dilation: 2 },
  },
  {
    name: '2-D NHWC max k3 s2 p1',
    input: [1, 7, 6, 2],
    params: { mode: 'max', kernel_size: 3, stride: 2, padding: 1, layout: 'NHWC' },
  },
  {
    name: '2-D max overlapping k[2,3] s1',
    input: [2, 1, 5, 5],
    params: { mode: 'max', kernel_size: [2, 3], stride: 1 },
  },
  {
    name: '3-D max k2 s[1,2,1] p1',
    input: [1, 2, 3, 4, 4],
    params: { mode: 'max', kernel_size: 2, stride: [1, 2, 1], padding: 1 },
  },
];
const H = 2 ** -10;

for (const f of FD) {
  test(`finite differences: ${f.name}`, () => {
    const g0 = resolvePooling({ input: { dtype: 'float64', shape: f.input } }, f.params);
    const g = resolvePooling(
      { input: { dtype: 'float64', shape: f.input }, grad_output: { dtype: 'float64', shape: g0.window.outputShape } },
      f.params,
    );
    const rand = rng(99 + f.name.length);
    const n = numel(f.input);
    // distinct values 0.25 apart (> 2h), shuffled: no ties, and no perturbation reorders them
    const order = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
    const x = Float64Array.from(order, (v) => v * 0.25 - n / 8);
    const R = randomTensor(numel(g.window.outputShape), 'float64', rand) as Float64Array;
    const y = new Float64Array(R.length);
    const loss = () => {
      poolForward(g.window, g, x, y);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * R[i];
      return s;
    };
    const dx = new Float64Array(n).fill(NaN);
    poolBackward(g.window, g, x, R, dx);
    let nonZero = 0;
    for (let i = 0; i < n; i++) {
      const keep = x[i];
      x[i] = keep + H;
      const lp = loss();
      x[i] = keep - H;
      const lm = loss();
      x[i] = keep;
      const fd = (lp - lm) / (2 * H);
      assert.ok(
        Math.abs(fd - dx[i]) <= 1e-9 * Math.max(1, Math.abs(fd)),
        `grad_input[${i}]: backward ${dx[i]}, finite difference ${fd}`,
      );
      if (dx[i] !== 0) nonZero++;
    }
    assert.ok(nonZero > 0, 'degenerate: every gradient is zero');
  });
}
