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
import {
  resolvePooling,
  type PoolingGeometry,
  type PoolingMode,
  type PoolingParams,
} from '../../src/shared/geometry/pooling.js';
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

const PAD_FORMS = ['omit', 'int', 'perdim', 'pairs', 'valid', 'same', 'same_lower'] as const;

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 3 }).chain((rank) => {
  const lim = LIMITS[rank as 1 | 2 | 3];
  const dim = fc.record({
    k: fc.integer({ min: 1, max: lim.k }),
    stride: fc.integer({ min: 1, max: 3 }),
    beforeFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    afterFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    dil: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 })),
    extra: fc.integer({ min: 0, max: lim.extra }),
  });
  return fc
    .record({
      mode: fc.constantFrom<PoolingMode>('max', 'avg', 'lp'),
      layout: fc.constantFrom<LayoutName | undefined>(undefined, 'channels_first', 'channels_last', ...ALIASES[rank]),
      batch: fc.integer({ min: 1, max: 2 }),
      channels: fc.integer({ min: 1, max: 3 }),
      dims: fc.array(dim, { minLength: rank, maxLength: rank }),
      strideForm: fc.constantFrom('default', 'int', 'perdim'),
      padForm: fc.constantFrom(...PAD_FORMS),
      // PyTorch's padding range (kernel_size // 2) or ONNX's (the window extent less one)
      padRange: fc.constantFrom('pytorch', 'onnx'),
      kernelInt: fc.boolean(),
      dilForm: fc.constantFrom('omit', 'int', 'perdim'),
      ceil: fc.constantFrom<boolean | undefined>(undefined, false, true),
      cip: fc.constantFrom<boolean | undefined>(undefined, true, false),
      divisor: fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer({ min: -3, max: 6 })),
      power: fc.constantFrom(undefined, 1, 2, 3, 1.5),
      lpAbs: fc.constantFrom<boolean | undefined>(undefined, false, true),
      indices: fc.constantFrom<boolean | undefined>(undefined, false, true),
      dtype: fc.constantFrom<Dt>('float32', 'float64'),
      values: fc.constantFrom<Values>('random', 'random', 'ties', 'special', 'neginf'),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
    .map((r): Case => {
      const dims = r.dims.map((x) => ({ ...x }));
      if (r.kernelInt) dims.forEach((x) => (x.k = dims[0].k));
      if (r.dilForm === 'omit') dims.forEach((x) => (x.dil = 1));
      if (r.dilForm === 'int') dims.forEach((x) => (x.dil = dims[0].dil));
      if (r.strideForm === 'int') dims.forEach((x) => (x.stride = dims[0].stride));
      if (r.strideForm === 'default') dims.forEach((x) => (x.stride = x.k));
      const most = (x: (typeof dims)[number]) => (r.padRange === 'pytorch' ? Math.floor(x.k / 2) : x.dil * (x.k - 1));
      const side = (x: (typeof dims)[number], frac: number) => Math.min(most(x), Math.floor(frac * (most(x) + 1)));
      const befores = dims.map((x) => side(x, x.beforeFrac));
      const afters = r.padForm === 'pairs' ? dims.map((x) => side(x, x.afterFrac)) : befores.slice();
      if (r.padForm === 'omit' || r.padForm === 'valid') [befores, afters].forEach((a) => a.fill(0));
      if (r.padForm === 'int') [befores, afters].forEach((a) => a.fill(Math.min(...befores)));
      // SAME pads fit any extent; otherwise the padded input must hold one window
      const same = r.padForm === 'same' || r.padForm === 'same_lower';
      const inSp = dims.map((x, i) => Math.max(1, same ? 1 : x.dil * (x.k - 1) + 1 - befores[i] - afters[i]) + x.extra);
      const params: PoolingParams = { mode: r.mode, kernel_size: r.kernelInt ? dims[0].k : dims.map((x) => x.k) };
      if (r.strideForm === 'int') params.stride = dims[0].stride;
      if (r.strideForm === 'perdim') params.stride = dims.map((x) => x.stride);
      if (r.padForm === 'int') params.padding = befores[0];
      if (r.padForm === 'perdim') params.padding = befores;
      if (r.padForm === 'pairs') params.padding = befores.map((b, i): [number, number] => [b, afters[i]]);
      if (r.padForm === 'valid' || r.padForm === 'same' || r.padForm === 'same_lower') params.padding = r.padForm;
      if (r.dilForm === 'int') params.dilation = dims[0].dil;
      if (r.dilForm === 'perdim') params.dilation = dims.map((x) => x.dil);
      if (r.ceil !== undefined) params.ceil_mode = r.ceil;
      if (r.mode === 'avg' && r.cip !== undefined) params.count_include_pad = r.cip;
      if (r.mode === 'avg' && r.divisor !== 0 && r.divisor !== undefined) params.divisor_override = r.divisor;
      if (r.mode === 'lp' && r.power !== undefined) params.p = r.power;
      // lp_abs (ONNX LpPool's |x|^p) with lp; false goes with any mode
      if ((r.mode === 'lp' && r.lpAbs !== undefined) || r.lpAbs === false) params.lp_abs = r.lpAbs;
      if (r.mode === 'max' && r.indices !== undefined) params.return_indices = r.indices;
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
    // x^p of a negative x is NaN for a fractional p (as in PyTorch): keep those cases informative
    // (not with lp_abs, which takes |x| itself: there negative inputs are the point)
    if (c.params.mode === 'lp' && !Number.isInteger(rg.p) && !rg.lpAbs) x[i] = Math.abs(x[i]);
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

test('forward matches the reference on random geometries (max and its indices exactly, avg and lp within tolerance)', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { g, rg } = geometries(c, false);
      const { x } = data(c, rg);
      const y = alloc(c.dtype, numel(rg.outputShape)).fill(12345);
      const indices = g.returnIndices ? alloc(c.dtype, y.length).fill(12345) : undefined;
      poolForward(g.window, g, x, y, undefined, indices);
      const ref = referencePoolForward(rg, x);
      if (c.params.mode === 'max') assertExact(y, ref.ref, c, 'max output');
      else assertClose(y, ref, c, `${c.params.mode} output`);
      if (indices) assertExact(indices, ref.indices, c, 'indices');
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

/** Max pooling with return_indices in storage order 0 or 1 (ONNX MaxPool storage_order), from the same geometries. */
const indexedArb: fc.Arbitrary<Case> = fc
  .tuple(
    caseArb.filter((c) => c.params.mode === 'max'),
    fc.constantFrom<number | undefined>(undefined, 0, 1),
  )
  .map(([c, order]) => ({
    ...c,
    params: { ...c.params, return_indices: true, ...(order !== undefined && { storage_order: order }) },
  }));

test('max indices in both storage orders match the reference (1-D, 2-D, 3-D, both layouts)', () => {
  fc.assert(
    fc.property(indexedArb, (c) => {
      const { g, rg } = geometries(c, false);
      assert.equal(g.storageOrder, c.params.storage_order ?? 0);
      const { x } = data(c, rg);
      const y = alloc(c.dtype, numel(rg.outputShape)).fill(12345);
      const indices = alloc(c.dtype, y.length).fill(12345);
      poolForward(g.window, g, x, y, undefined, indices);
      const ref = referencePoolForward(rg, x);
      assertExact(y, ref.ref, c, 'max output');
      assertExact(indices, ref.indices, c, `indices (storage_order ${g.storageOrder})`);
    }),
    runs(600),
  );
  const seen = new Map<string, number>();
  for (const c of fc.sample(indexedArb, { seed: SEED, numRuns: 600 })) {
    const key = `rank${c.inputShape.length - 2}:order${c.params.storage_order ?? 0}:${CHANNELS_LAST.has(c.params.layout) ? 'last' : 'first'}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const missing = [1, 2, 3].flatMap((r) =>
    [0, 1].flatMap((o) => ['first', 'last'].map((l) => `rank${r}:order${o}:${l}`)),
  );
  assert.deepEqual(
    missing.filter((k) => (seen.get(k) ?? 0) < 10),
    [],
    `drawn fewer than 10 times; seen ${JSON.stringify(Object.fromEntries(seen))}`,
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
    const pairs = Array.isArray(p.padding) && Array.isArray(p.padding[0]);
    add(
      `padding:${p.padding === undefined ? 'omit' : typeof p.padding === 'string' ? p.padding : pairs ? 'pairs' : typeof p.padding}`,
    );
    add(c.dtype);
    const w = resolvePooling({ input: { dtype: c.dtype, shape: c.inputShape } }, p).window;
    const pads = [...w.padBefore, ...w.padAfter];
    if (pads.some((v, i) => v > Math.floor(w.kernel[i % w.kernel.length] / 2))) add('onnx-pads');
    if (pads.some((v) => v > 0)) add('padded');
    if (w.padBefore.some((v, i) => v !== w.padAfter[i])) add('asymmetric');
    if (p.ceil_mode) {
      const floor = resolvePooling({ input: { dtype: c.dtype, shape: c.inputShape } }, { ...p, ceil_mode: false });
      if (floor.window.outSpatial.some((v, i) => v < w.outSpatial[i])) add('ceil-grows');
    }
    if (p.dilation !== undefined && [p.dilation].flat().some((v) => v > 1)) add(`dilation:${p.mode}`);
    if (p.ceil_mode !== undefined) add(`ceil:${p.ceil_mode}`);
    if (p.mode === 'avg') add(`cip:${p.count_include_pad}`);
    if (p.mode === 'avg' && p.divisor_override) add('divisor_override');
    if (p.mode === 'lp') add(`p:${p.p}`);
    if (p.mode === 'lp' && p.lp_abs)
      add(`lp_abs:${Number.isInteger(p.p ?? 2) && (p.p ?? 2) % 2 === 0 ? 'even' : 'odd-or-fractional'}`);
    if (p.return_indices) add('return_indices');
  }
  const must = [
    'rank1',
    'rank2',
    'rank3',
    'max',
    'avg',
    'lp',
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
    'padding:pairs',
    'padding:valid',
    'padding:same',
    'padding:same_lower',
    'onnx-pads',
    'asymmetric',
    'ceil-grows',
    'float32',
    'float64',
    'dilation:max',
    'dilation:avg',
    'dilation:lp',
    'ceil:true',
    'ceil:false',
    'cip:undefined',
    'cip:true',
    'cip:false',
    'divisor_override',
    'p:undefined',
    'p:1',
    'p:2',
    'p:3',
    'p:1.5',
    'lp_abs:even',
    'lp_abs:odd-or-fractional',
    'return_indices',
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
  {
    name: '2-D avg dilation 2, ceil_mode, [before, after] padding',
    input: [1, 2, 7, 6],
    params: {
      mode: 'avg',
      kernel_size: [2, 3],
      stride: 2,
      dilation: 2,
      ceil_mode: true,
      padding: [
        [2, 0],
        [1, 3],
      ],
    },
  },
  {
    name: '1-D avg divisor_override -3, "same_lower"',
    input: [2, 1, 8],
    params: { mode: 'avg', kernel_size: 4, stride: 3, padding: 'same_lower', divisor_override: -3 },
  },
  {
    name: '3-D NDHWC avg ceil_mode excluding padding',
    input: [1, 4, 5, 3, 2],
    params: {
      mode: 'avg',
      kernel_size: 2,
      stride: [3, 2, 2],
      ceil_mode: true,
      count_include_pad: false,
      layout: 'NDHWC',
    },
  },
  {
    name: '2-D max "same", ceil_mode, dilation [1, 2]',
    input: [1, 2, 6, 7],
    params: { mode: 'max', kernel_size: 3, stride: 2, padding: 'same', ceil_mode: true, dilation: [1, 2] },
  },
  { name: '1-D lp p 2 k3 s2', input: [2, 2, 9], params: { mode: 'lp', p: 2, kernel_size: 3, stride: 2 } },
  {
    name: '2-D NHWC lp p 3 ceil_mode, padding [[0, 1], [1, 1]]',
    input: [1, 5, 6, 2],
    params: {
      mode: 'lp',
      p: 3,
      kernel_size: 2,
      ceil_mode: true,
      padding: [
        [0, 1],
        [1, 1],
      ],
      layout: 'NHWC',
    },
  },
  {
    name: '3-D lp p 1.5 dilation 2 "same"',
    input: [1, 1, 4, 5, 5],
    params: { mode: 'lp', p: 1.5, kernel_size: 2, dilation: 2, padding: 'same' },
  },
  // lp_abs on inputs of both signs (none 0, where |x| has its kink)
  {
    name: '1-D lp_abs p 3 k3 s2',
    input: [2, 2, 9],
    params: { mode: 'lp', p: 3, lp_abs: true, kernel_size: 3, stride: 2 },
  },
  {
    name: '2-D NHWC lp_abs p 1.5 padding 1 ceil_mode',
    input: [1, 5, 6, 2],
    params: {
      mode: 'lp',
      p: 1.5,
      lp_abs: true,
      kernel_size: 3,
      stride: 2,
      padding: 1,
      ceil_mode: true,
      layout: 'NHWC',
    },
  },
  {
    name: '3-D lp_abs p 1 dilation 2',
    input: [1, 2, 4, 4, 5],
    params: { mode: 'lp', p: 1, lp_abs: true, kernel_size: 2, stride: 1, dilation: 2 },
  },
  {
    name: '2-D lp_abs p 4 "same_lower"',
    input: [1, 1, 5, 5],
    params: { mode: 'lp', p: 4, lp_abs: true, kernel_size: 2, stride: 1, padding: 'same_lower' },
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
    // lp: positive values, so that every S > 0 and x^p is defined for a fractional p; lp_abs:
    // both signs, none within 1/16 of 0
    const shift = f.params.mode !== 'lp' ? n / 8 : f.params.lp_abs ? n / 8 - 1 / 16 : -1;
    const x = Float64Array.from(order, (v) => v * 0.25 - shift);
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
    // avg and max are piecewise linear: exact up to rounding; lp's central difference errs by O(h^2)
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
      assert.ok(
        Math.abs(fd - dx[i]) <= tolerance * Math.max(1, Math.abs(fd)),
        `grad_input[${i}]: backward ${dx[i]}, finite difference ${fd}`,
      );
      if (dx[i] !== 0) nonZero++;
    }
    assert.ok(nonZero > 0, 'degenerate: every gradient is zero');
  });
}

/**
 * The adjoint identity <pool_backward(dy), v> = d/dt <pool(x + t v), dy> at t = 0, exact for
 * avg (linear: the right side is <dy, pool(v)>) and, for lp, its linearisation at x measured by
 * a central difference; random geometries from the property generator, float64.
 */
test('adjoint identity: avg exactly, lp through its linearisation', () => {
  const linearCases = caseArb.filter((c) => c.params.mode !== 'max');
  fc.assert(
    fc.property(linearCases, (c64) => {
      const c: Case = { ...c64, dtype: 'float64', values: 'random' };
      const { g, rg } = geometries(c, true);
      const rand = rng(c.seed);
      const n = numel(rg.inputShape);
      // lp: x in [1, 2), so S > 0 and every power is smooth; v a random direction
      const x = Float64Array.from({ length: n }, () => (c.params.mode === 'lp' ? 1 + rand() : rand() * 2 - 1));
      const v = Float64Array.from({ length: n }, () => rand() * 2 - 1);
      const dy = Float64Array.from({ length: numel(rg.outputShape) }, () => rand() * 2 - 1);
      const dx = new Float64Array(n);
      poolBackward(g.window, g, x, dy, dx);
      const left = dx.reduce((sum, d, i) => sum + d * v[i], 0);
      const pooled = (t: number) => {
        const y = new Float64Array(dy.length);
        poolForward(g.window, g, c.params.mode === 'avg' ? v : x.map((xi, i) => xi + t * v[i]), y);
        return y.reduce((sum, yi, i) => sum + yi * dy[i], 0);
      };
      const h = 1e-5;
      const right = c.params.mode === 'avg' ? pooled(0) : (pooled(h) - pooled(-h)) / (2 * h);
      // an average over a window with no input element (dilation, count_include_pad false) is 0 / 0
      fc.pre(Number.isFinite(right));
      const scale = Math.max(1, Math.abs(left), Math.abs(right));
      assert.ok(
        Math.abs(left - right) <= (c.params.mode === 'avg' ? 1e-12 : 1e-6) * scale,
        `<backward(dy), v> = ${left} but ${c.params.mode === 'avg' ? '<dy, pool(v)>' : 'the directional derivative'} = ${right}\n  case: ${describeCase(c)}`,
      );
    }),
    runs(300),
  );
});

/**
 * Cases from the ONNX operator specification's examples (onnx/backend/test/case/node:
 * maxpool.py, averagepool.py, lppool.py, globalaveragepool.py, globalmaxpool.py), on the
 * 1..n inputs they use; LpPool's and the global pools' published cases draw random inputs,
 * so those here are ours, on the same geometries. ONNX's AveragePool defaults to
 * count_include_pad = 0, stated where it matters. MaxPool's Indices are flat over the whole
 * tensor, ours over the channel: for N = C = 1 they are the same numbers, in either
 * storage_order.
 */
const iota = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const ONNX: { name: string; input: number[]; x?: number[]; params: PoolingParams; y: number[]; indices?: number[] }[] =
  [
    {
      name: 'maxpool_2d_ceil',
      input: [1, 1, 4, 4],
      params: { mode: 'max', kernel_size: 3, stride: 2, ceil_mode: true },
      y: [11, 12, 15, 16],
    },
    {
      name: 'maxpool_2d_dilations',
      input: [1, 1, 4, 4],
      params: { mode: 'max', kernel_size: 2, stride: 1, dilation: 2 },
      y: [11, 12, 15, 16],
    },
    {
      name: 'maxpool_2d_precomputed_same_upper',
      input: [1, 1, 5, 5],
      params: { mode: 'max', kernel_size: 3, stride: 2, padding: 'same' },
      y: [7, 9, 10, 17, 19, 20, 22, 24, 25],
    },
    {
      name: 'maxpool_2d_precomputed_pads (with Indices: maxpool_with_argmax_2d_precomputed_pads)',
      input: [1, 1, 5, 5],
      params: { mode: 'max', kernel_size: 5, stride: 1, padding: 2, return_indices: true },
      y: [13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25],
      indices: [12, 13, 14, 14, 14, 17, 18, 19, 19, 19, 22, 23, 24, 24, 24, 22, 23, 24, 24, 24, 22, 23, 24, 24, 24],
    },
    {
      name: 'maxpool_with_argmax_2d_precomputed_strides (storage_order 1)',
      input: [1, 1, 5, 5],
      params: { mode: 'max', kernel_size: 2, stride: 2, return_indices: true, storage_order: 1 },
      y: [7, 9, 17, 19],
      indices: [6, 16, 8, 18],
    },
    {
      name: 'maxpool_2d_precomputed_strides with Indices in storage_order 0',
      input: [1, 1, 5, 5],
      params: { mode: 'max', kernel_size: 2, stride: 2, return_indices: true, storage_order: 0 },
      y: [7, 9, 17, 19],
      indices: [6, 8, 16, 18],
    },
    {
      name: 'maxpool_2d_uint8-style 1-D: maxpool_1d_default geometry, k2',
      input: [1, 1, 5],
      params: { mode: 'max', kernel_size: 2, stride: 1 },
      y: [2, 3, 4, 5],
    },
    {
      name: 'averagepool_2d_ceil (count_include_pad 0)',
      input: [1, 1, 4, 4],
      params: { mode: 'avg', kernel_size: 3, stride: 2, ceil_mode: true, count_include_pad: false },
      y: [6, 7.5, 12, 13.5],
    },
    {
      name: 'averagepool_2d_dilations (ceil_mode)',
      input: [1, 1, 4, 4],
      params: { mode: 'avg', kernel_size: 2, stride: 1, dilation: 2, ceil_mode: true },
      y: [6, 7, 10, 11],
    },
    {
      name: 'averagepool_2d_precomputed_same_upper (count_include_pad 0)',
      input: [1, 1, 5, 5],
      params: { mode: 'avg', kernel_size: 3, stride: 2, padding: 'same', count_include_pad: false },
      y: [4, 5.5, 7, 11.5, 13, 14.5, 19, 20.5, 22],
    },
    {
      name: 'averagepool_2d_precomputed_pads_count_include_pad',
      input: [1, 1, 5, 5],
      params: { mode: 'avg', kernel_size: 5, stride: 1, padding: 2, count_include_pad: true },
      y: [
        2.52, 3.6, 4.8, 4.08, 3.24, 4.56, 6.4, 8.4, 7.04, 5.52, 7.2, 10, 13, 10.8, 8.4, 6.96, 9.6, 12.4, 10.24, 7.92,
        6.12, 8.4, 10.8, 8.88, 6.84,
      ],
    },
    {
      name: 'averagepool_2d_precomputed_strides',
      input: [1, 1, 5, 5],
      params: { mode: 'avg', kernel_size: 2, stride: 2 },
      y: [4, 6, 14, 16],
    },
    {
      name: 'averagepool_2d_pads geometry with pads 2 > kernel_size // 2 (count_include_pad 0)',
      input: [1, 1, 3, 3],
      params: { mode: 'avg', kernel_size: 3, stride: 3, padding: 2, count_include_pad: false },
      // windows start at -2 and 1: rows/cols {0} and {1, 2}
      y: [1, 2.5, 5.5, 7],
    },
    {
      name: 'lppool_2d_same_lower geometry (p 2) on 1..4',
      input: [1, 1, 2, 2],
      params: { mode: 'lp', p: 2, kernel_size: 2, stride: 1, padding: 'same_lower' },
      // pads before: windows end at (0,0), (0,1), (1,0), (1,1)
      y: [1, Math.sqrt(5), Math.sqrt(10), Math.sqrt(30)],
    },
    {
      name: 'lppool_1d_default geometry (p 3, k 2)',
      input: [1, 1, 3],
      x: [1, 2, 3],
      params: { mode: 'lp', p: 3, kernel_size: 2, stride: 1 },
      y: [Math.cbrt(9), Math.cbrt(35)],
    },
    {
      name: 'globalaveragepool_precomputed (a kernel over every spatial position)',
      input: [1, 1, 3, 3],
      params: { mode: 'avg', kernel_size: 3 },
      y: [5],
    },
    {
      name: 'globalmaxpool_precomputed',
      input: [1, 1, 3, 3],
      params: { mode: 'max', kernel_size: 3 },
      y: [9],
    },
  ];

for (const o of ONNX) {
  test(`ONNX operator spec: ${o.name}`, () => {
    const g = resolvePooling({ input: { dtype: 'float64', shape: o.input } }, o.params);
    const x = Float64Array.from(o.x ?? iota(numel(o.input)));
    const y = new Float64Array(numel(g.window.outputShape));
    const indices = g.returnIndices ? new Float64Array(y.length) : undefined;
    poolForward(g.window, g, x, y, undefined, indices);
    assert.equal(y.length, o.y.length, 'output size');
    y.forEach((v, i) => assert.ok(Math.abs(v - o.y[i]) <= 1e-12 * Math.abs(o.y[i]), `y[${i}] = ${v}, ONNX ${o.y[i]}`));
    if (o.indices) assert.deepEqual(Array.from(indices!), o.indices);
    const ref = referencePoolForward(refPoolGeometry(o.input, o.params), x);
    assert.deepEqual(Array.from(y), Array.from(ref.ref), 'the naive reference agrees');
  });
}

/**
 * ONNX LpPool (lppool.py) sums |x|^p: lp_abs. lppool_2d_dilations publishes its numbers (on
 * 1..16, where both forms agree); the other published cases draw random inputs, so these are
 * their geometries on our inputs of both signs, the expected values summed by hand from
 * (sum |x|^p)^(1/p), beside what PyTorch's form (lp_abs false) answers.
 */
const cbrt = (v: number) => Math.pow(v, 1 / 3);
const LP_ONNX: { name: string; input: number[]; x?: number[]; params: PoolingParams; y: number[]; torch: number[] }[] =
  [
    {
      name: 'lppool_2d_dilations (p 2, dilations 2, published)',
      input: [1, 1, 4, 4],
      params: { mode: 'lp', p: 2, kernel_size: 2, stride: 1, dilation: 2 },
      y: [14.560219778561036, 16.24807680927192, 21.633307652783937, 23.49468024894146],
      torch: [14.560219778561036, 16.24807680927192, 21.633307652783937, 23.49468024894146],
    },
    {
      name: 'lppool_1d_default geometry (p 3, k 2) on [1, -2, 3, -1]',
      input: [1, 1, 4],
      x: [1, -2, 3, -1],
      params: { mode: 'lp', p: 3, kernel_size: 2, stride: 1 },
      y: [cbrt(1 + 8), cbrt(8 + 27), cbrt(27 + 1)],
      torch: [NaN, cbrt(-8 + 27), cbrt(27 - 1)],
    },
    {
      name: 'lppool_2d_default geometry (p 4, k 2x2): even p, negative inputs, both forms agree',
      input: [1, 1, 3, 3],
      x: [1, -2, 0, -1, 2, -3, 0, 1, -1],
      params: { mode: 'lp', p: 4, kernel_size: 2, stride: 1 },
      y: [34, 113, 18, 99].map((v) => Math.pow(v, 1 / 4)),
      torch: [34, 113, 18, 99].map((v) => Math.pow(v, 1 / 4)),
    },
    {
      name: 'lppool_3d_default geometry (p 3, k 2x2x2)',
      input: [1, 1, 2, 2, 2],
      x: [1, -1, 2, -2, 1, -1, 1, -3],
      params: { mode: 'lp', p: 3, kernel_size: 2, stride: 1 },
      y: [cbrt(1 + 1 + 8 + 8 + 1 + 1 + 1 + 27)],
      torch: [NaN], // 1 - 1 + 8 - 8 + 1 - 1 + 1 - 27 = -26
    },
    {
      name: 'lppool_2d_pads geometry (p 3, k 3, pads 2 > kernel_size // 2) on [[-2, 1]]',
      input: [1, 1, 1, 2],
      x: [-2, 1],
      params: { mode: 'lp', p: 3, kernel_size: 3, stride: 1, padding: 2 },
      // along W the windows hold {-2}, {-2, 1}, {-2, 1}, {1}; every row alike
      y: Array<number[]>(3)
        .fill([2, cbrt(9), cbrt(9), 1])
        .flat(),
      torch: Array<number[]>(3).fill([NaN, NaN, NaN, 1]).flat(), // cbrt(-8), cbrt(-7)
    },
  ];

for (const o of LP_ONNX) {
  test(`ONNX operator spec, LpPool: ${o.name}: lp_abs answers ONNX's, without it PyTorch's`, () => {
    const x = Float64Array.from(o.x ?? iota(numel(o.input)));
    for (const lpAbs of [true, false]) {
      const params = { ...o.params, lp_abs: lpAbs };
      const g = resolvePooling({ input: { dtype: 'float64', shape: o.input } }, params);
      const y = new Float64Array(numel(g.window.outputShape));
      poolForward(g.window, g, x, y);
      const want = lpAbs ? o.y : o.torch;
      assert.equal(y.length, want.length, 'output size');
      y.forEach((v, i) =>
        assert.ok(
          Number.isNaN(want[i]) ? Number.isNaN(v) : Math.abs(v - want[i]) <= 1e-12 * Math.abs(want[i]),
          `lp_abs ${lpAbs}: y[${i}] = ${v}, want ${want[i]}`,
        ),
      );
      assertExact(y, referencePoolForward(refPoolGeometry(o.input, params), x).ref, { params } as Case, 'reference');
    }
  });
}

test("lp_abs and PyTorch's form agree on non-negative inputs (forward; backward where x > 0)", () => {
  fc.assert(
    fc.property(
      caseArb.filter((c) => c.params.mode === 'lp'),
      (c) => {
        const { rg } = geometries(c, true);
        const { x, dy } = data(c, rg);
        for (let i = 0; i < x.length; i++) x[i] = Math.abs(x[i]) || 0.5; // > 0: |x| has its kink at 0
        const run = (lp_abs: boolean) => {
          const { g } = geometries({ ...c, params: { ...c.params, lp_abs } }, true);
          const y = alloc(c.dtype, numel(rg.outputShape));
          const dx = alloc(c.dtype, x.length);
          poolForward(g.window, g, x, y);
          poolBackward(g.window, g, x, dy, dx);
          return { y, dx };
        };
        const [onnx, torch] = [run(true), run(false)];
        assertExact(onnx.y, torch.y, c, 'output');
        assertExact(onnx.dx, torch.dx, c, 'grad_input');
      },
    ),
    runs(400),
  );
});

test("lp_abs at S = 0 and at x = 0: output 0 and gradient 0, as PyTorch's form at S = 0", () => {
  const run = (input: number[], values: number[], p: number, dyValues: number[]) => {
    const params: PoolingParams = { mode: 'lp', p, lp_abs: true, kernel_size: 2 };
    const g = resolvePooling({ input: { dtype: 'float64', shape: input } }, params);
    const x = Float64Array.from(values);
    const y = new Float64Array(numel(g.window.outputShape));
    poolForward(g.window, g, x, y);
    const dx = new Float64Array(x.length);
    poolBackward(g.window, g, x, Float64Array.from(dyValues), dx);
    return { y: Array.from(y), dx: Array.from(dx) };
  };
  // a window of zeros (S = 0): 0 out, no gradient; beside it S = 1 + 8 = 9
  const a = run([1, 1, 4], [0, 0, 1, -2], 3, [1, 1]);
  assert.deepEqual(a.y, [0, cbrt(9)]);
  const slope = Math.pow(9, 1 / 3 - 1);
  assert.deepEqual(a.dx, [0, 0, slope * 1, slope * -4]);
  // x = 0 beside a non-zero: sign(0) = 0 even where |0|^(p - 1) is infinite (p < 1)
  for (const p of [0.5, 1, 3]) {
    const b = run([1, 1, 2], [0, -2], p, [1]);
    assert.equal(b.dx[0], 0, `p ${p}: the gradient at x = 0`);
    const S = Math.pow(2, p);
    assert.ok(Math.abs(b.dx[1] - -Math.pow(S, 1 / p - 1) * Math.pow(2, p - 1)) < 1e-12, `p ${p}: ${b.dx[1]}`);
  }
});

test("storage_order 1 in 3-D is ONNX's h + w * H + d * H * W over its (h, w, d): d + D * (h + H * w) over ours", () => {
  // [1, 1, 2, 3, 4]: the maximum at (d, h, w) = (1, 2, 0); row-major (1 * 3 + 2) * 4 + 0 = 20
  const shape = [1, 1, 2, 3, 4];
  const x = new Float64Array(24).fill(-1);
  x[20] = 5;
  const run = (storage_order: number, layout?: LayoutName) => {
    const input = layout === 'NDHWC' ? [1, 2, 3, 4, 1] : shape;
    const g = resolvePooling(
      { input: { dtype: 'float64', shape: input } },
      { mode: 'max', kernel_size: [2, 3, 4], return_indices: true, storage_order, layout },
    );
    const y = new Float64Array(1);
    const indices = new Float64Array(1);
    poolForward(g.window, g, x, y, undefined, indices);
    return [y[0], indices[0]];
  };
  assert.deepEqual(run(0), [5, 20]);
  assert.deepEqual(run(1), [5, 1 + 2 * 2 + 0 * 2 * 3]);
  // C = 1: NDHWC holds the same values in the same order, and indices do not depend on the layout
  assert.deepEqual(run(1, 'NDHWC'), [5, 5]);
});
