/**
 * unfold / fold kernels (workers/kernels/unfold.ts):
 *   - against the naive direct-definition reference (test/reference/naive-unfold.ts) on random
 *     geometries: rank 1-3, both layouts and the letter aliases, kernel / stride / padding /
 *     dilation as ints or per dim, float32 and float64, batch ranges;
 *   - the adjoint identity <unfold(x), c> = <x, fold(c)>, and fold's geometry resolved from
 *     unfold's columns being unfold's own;
 *   - finite differences: unfold's gradient is fold of grad_output and fold's is unfold of it;
 *   - numbers from PyTorch 1.13 (F.unfold / F.fold, committed in test/fixtures/torch).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import type { LayoutName } from '../../src/shared/geometry/common.js';
import { resolveFold, resolveUnfold, type UnfoldParams } from '../../src/shared/geometry/unfold.js';
import { numel } from '../../src/shared/tensor.js';
import { fold, unfold } from '../../workers/kernels/unfold.js';
import { CHANNELS_LAST, LAYOUT_ALIASES } from '../reference/arbitraries.js';
import { alloc, randomTensor, rng, toDtype, type Dt } from '../reference/data.js';
import { assertFiniteDifferences, dot } from '../reference/finite-differences.js';
import { foldTerms, naiveFold, naiveUnfold, refUnfoldGeometry, type RefUnfoldGeom } from '../reference/naive-unfold.js';
import { checkClose } from '../reference/tolerance.js';

const SEED = 20261203;

interface Case {
  imageShape: number[];
  params: UnfoldParams;
  dtype: Dt;
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 3 }).chain((d) =>
  fc
    .record({
      layout: fc.constantFrom<LayoutName | undefined>(
        undefined,
        'channels_first',
        'channels_last',
        ...LAYOUT_ALIASES[d],
      ),
      batch: fc.integer({ min: 1, max: 3 }),
      channels: fc.integer({ min: 1, max: 3 }),
      dims: fc.array(
        fc.record({
          in: fc.integer({ min: 1, max: d === 3 ? 4 : 6 }),
          k: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 3 }),
          pad: fc.integer({ min: 0, max: 2 }),
          dil: fc.integer({ min: 1, max: 2 }),
        }),
        { minLength: d, maxLength: d },
      ),
      ints: fc.boolean(),
      dtype: fc.constantFrom<Dt>('float32', 'float64'),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
    .filter((r) =>
      r.dims.every(
        (x) =>
          (r.ints ? r.dims[0] : x).pad * 2 + x.in >=
          (r.ints ? r.dims[0] : x).dil * ((r.ints ? r.dims[0] : x).k - 1) + 1,
      ),
    )
    .map((r): Case => {
      const per = (key: 'k' | 'stride' | 'pad' | 'dil') => (r.ints ? r.dims[0][key] : r.dims.map((x) => x[key]));
      const spatial = r.dims.map((x) => x.in);
      const params: UnfoldParams = {
        kernel_size: per('k'),
        stride: per('stride'),
        padding: per('pad'),
        dilation: per('dil'),
      };
      if (r.layout !== undefined) params.layout = r.layout;
      const cl = CHANNELS_LAST.has(r.layout);
      return {
        imageShape: cl ? [r.batch, ...spatial, r.channels] : [r.batch, r.channels, ...spatial],
        params,
        dtype: r.dtype,
        seed: r.seed,
      };
    }),
);

function geometries(c: Case) {
  const g = resolveUnfold({ input: { dtype: c.dtype, shape: c.imageShape } }, c.params);
  const cl = CHANNELS_LAST.has(c.params.layout);
  const rank = c.imageShape.length;
  const rg = refUnfoldGeometry(
    c.imageShape[0],
    cl ? c.imageShape[rank - 1] : c.imageShape[1],
    cl ? c.imageShape.slice(1, rank - 1) : c.imageShape.slice(2),
    { ...c.params, channelsLast: cl },
  );
  assert.deepEqual(g.outputShape, rg.columnsShape, 'columns shape');
  assert.deepEqual(g.inputShape, rg.imageShape, 'image shape');
  return { g, rg };
}

const abs = (a: ArrayLike<number>) => Float64Array.from(a, Math.abs);

function assertFold(got: ArrayLike<number>, rg: RefUnfoldGeom, cols: ArrayLike<number>, c: Case): void {
  const rep = checkClose(got, naiveFold(rg, cols), naiveFold(rg, abs(cols)), foldTerms(rg), c.dtype, {
    float64Reference: true,
  });
  assert.ok(rep.ok, `fold: ${rep.message}\n  case: ${JSON.stringify(c)}`);
}

test('unfold and fold match the naive reference on random geometries', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { g, rg } = geometries(c);
      const rand = rng(c.seed);
      const x = randomTensor(numel(rg.imageShape), c.dtype, rand);
      const cols = alloc(c.dtype, numel(rg.columnsShape)).fill(NaN);
      unfold(g, x, cols);
      // a copy: exact
      assert.deepEqual(cols, toDtype(naiveUnfold(rg, x), c.dtype), `unfold of ${JSON.stringify(c)}`);
      const r = randomTensor(cols.length, c.dtype, rand);
      const image = alloc(c.dtype, x.length).fill(NaN);
      fold(g, r, image);
      assertFold(image, rg, r, c);
    }),
    { seed: SEED, numRuns: 500, includeErrorInReport: true },
  );
});

test('fold is the adjoint of unfold: <unfold(x), c> = <x, fold(c)>; fold resolves to the same geometry', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const { g } = geometries(c);
      const rand = rng(c.seed + 1);
      const x = randomTensor(numel(g.inputShape), 'float64', rand);
      const r = randomTensor(numel(g.outputShape), 'float64', rand);
      const cols = new Float64Array(r.length);
      const image = new Float64Array(x.length);
      unfold(g, x, cols);
      fold(g, r, image);
      const lhs = dot(cols, r);
      const rhs = dot(x, image);
      assert.ok(Math.abs(lhs - rhs) <= 1e-12 * (1 + Math.abs(lhs)), `${lhs} vs ${rhs}`);
      const back = resolveFold(
        { input: { dtype: c.dtype, shape: g.outputShape } },
        { ...c.params, output_size: g.inSpatial },
      );
      assert.deepEqual({ ...back, dtype: g.dtype }, g);
    }),
    { seed: SEED + 1, numRuns: 300, includeErrorInReport: true },
  );
});

test('batch ranges write only their images and add up to the whole', () => {
  const c: Case = {
    imageShape: [4, 3, 5, 2],
    params: { kernel_size: 2, padding: 1, layout: 'NHWC' },
    dtype: 'float64',
    seed: 3,
  };
  const { g } = geometries(c);
  const rand = rng(9);
  const x = randomTensor(numel(g.inputShape), 'float64', rand);
  const r = randomTensor(numel(g.outputShape), 'float64', rand);
  const wholeCols = new Float64Array(r.length);
  const wholeImage = new Float64Array(x.length);
  unfold(g, x, wholeCols);
  fold(g, r, wholeImage);
  const cols = new Float64Array(r.length).fill(NaN);
  const image = new Float64Array(x.length).fill(NaN);
  for (const range of [
    [0, 1],
    [1, 4],
  ] as const) {
    unfold(g, x, cols, range);
    fold(g, r, image, range);
  }
  assert.deepEqual(cols, wholeCols);
  assert.deepEqual(image, wholeImage);
});

const FD_CASES: Case[] = [
  { imageShape: [2, 2, 5], params: { kernel_size: 3, stride: 2, padding: 1 }, dtype: 'float64', seed: 1 },
  {
    imageShape: [1, 4, 3, 2],
    params: { kernel_size: [2, 2], dilation: [2, 1], padding: [1, 0], layout: 'NHWC' },
    dtype: 'float64',
    seed: 2,
  },
  { imageShape: [1, 1, 3, 2, 3], params: { kernel_size: 2, stride: [1, 2, 1] }, dtype: 'float64', seed: 3 },
];

for (const c of FD_CASES) {
  test(`finite differences: unfold's gradient is fold, fold's is unfold (${JSON.stringify(c.params)})`, () => {
    const { g } = geometries(c);
    const rand = rng(c.seed);
    const x = randomTensor(numel(g.inputShape), 'float64', rand) as Float64Array;
    const cols = randomTensor(numel(g.outputShape), 'float64', rand) as Float64Array;
    const rCols = randomTensor(cols.length, 'float64', rand) as Float64Array;
    const rImage = randomTensor(x.length, 'float64', rand) as Float64Array;
    const unfolded = new Float64Array(cols.length);
    const folded = new Float64Array(x.length);
    const gradX = new Float64Array(x.length);
    fold(g, rCols, gradX);
    assertFiniteDifferences({ input: x }, { input: gradX }, () => {
      unfold(g, x, unfolded);
      return dot(unfolded, rCols);
    });
    const gradCols = new Float64Array(cols.length);
    unfold(g, rImage, gradCols);
    assertFiniteDifferences({ input: cols }, { input: gradCols }, () => {
      fold(g, cols, folded);
      return dot(folded, rImage);
    });
  });
}

test('PyTorch 1.13 F.unfold / F.fold: kernel (2, 3), dilation (1, 2), padding (1, 0), stride (2, 1)', () => {
  const fixture = JSON.parse(
    readFileSync(new URL('../../../test/fixtures/torch/unfold-fold.json', import.meta.url), 'utf8'),
  ) as {
    input_shape: number[];
    params: UnfoldParams;
    unfold_shape: number[];
    unfold: number[];
    fold_shape: number[];
    fold: number[];
  };
  // torch.arange(n).reshape(input_shape) * 0.5 - 3, and torch.linspace(-1, 1, columns) for fold
  const n = numel(fixture.input_shape);
  const x = Float64Array.from({ length: n }, (_, i) => i * 0.5 - 3);
  const g = resolveUnfold({ input: { dtype: 'float64', shape: fixture.input_shape } }, fixture.params);
  assert.deepEqual(g.outputShape, fixture.unfold_shape);
  const cols = new Float64Array(numel(g.outputShape));
  unfold(g, x, cols);
  assert.deepEqual(Array.from(cols), fixture.unfold);
  const m = cols.length;
  const c = Float64Array.from({ length: m }, (_, i) => -1 + (2 * i) / (m - 1));
  const image = new Float64Array(n);
  fold(g, c, image);
  assert.deepEqual(g.inputShape, fixture.fold_shape);
  image.forEach((v, i) => assert.ok(Math.abs(v - fixture.fold[i]) <= 1e-12, `fold[${i}]: ${v} vs ${fixture.fold[i]}`));
});
