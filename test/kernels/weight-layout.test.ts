/**
 * weight_layout through the worker's runners (workers/runners.ts, the permutation in
 * workers/kernels/weight-layout.ts): a weight sent in the other layout family than the data's
 * (OI* beside channels_last, *IO beside channels_first) gives the naive reference's output for
 * that weight read in its own layout, and grad_weight comes back in the request's weight_layout.
 * The test permutes with its own index arithmetic (axes [A, B, *k] <-> [*k, B, A]).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { weightLayoutName, type Layout } from '../../src/shared/geometry/common.js';
import { resolveConv, type ConvGeometry } from '../../src/shared/geometry/conv.js';
import type { TaskFor } from '../../src/shared/task.js';
import { numel } from '../../src/shared/tensor.js';
import { runners } from '../../workers/runners.js';
import { randomTensor, rng } from '../reference/data.js';
import { refGeometry, referenceBackward, referenceForward, type RefResult } from '../reference/naive-conv.js';
import { checkClose } from '../reference/tolerance.js';

/** `data` of `shape` with its axes in `order` (output axis j is input axis order[j]). */
function permuteAxes(shape: number[], data: ArrayLike<number>, order: number[]) {
  const outShape = order.map((axis) => shape[axis]);
  const strides = shape.map((_, i) => numel(shape.slice(i + 1)));
  const out = new Float64Array(data.length);
  for (let to = 0; to < data.length; to++) {
    let rest = to;
    let from = 0;
    for (let j = 0; j < order.length; j++) {
      const stride = numel(outShape.slice(j + 1));
      const index = Math.floor(rest / stride);
      rest -= index * stride;
      from += index * strides[order[j]];
    }
    out[to] = data[from];
  }
  return { shape: outShape, data: out };
}

/** A weight of layout family `from` in the other one: [A, B, *k] <-> [*k, B, A]. */
function otherFamily(shape: number[], data: ArrayLike<number>, from: Layout) {
  const d = shape.length - 2;
  const kernelAxes = Array.from({ length: d }, (_, i) => i);
  const order = from === 'channels_first' ? [...kernelAxes.map((i) => i + 2), 1, 0] : [d + 1, d, ...kernelAxes];
  return permuteAxes(shape, data, order);
}

const view = (b: unknown) => new Float64Array(b as ArrayBuffer);

interface Case {
  layout: Layout;
  input: number[];
  weight: number[];
  params: { stride: number; padding: number; groups: number };
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    d: fc.integer({ min: 1, max: 3 }),
    layout: fc.constantFrom<Layout>('channels_first', 'channels_last'),
    groups: fc.integer({ min: 1, max: 2 }),
    cinG: fc.integer({ min: 1, max: 3 }),
    coutG: fc.integer({ min: 1, max: 3 }),
    k: fc.integer({ min: 1, max: 3 }),
    extent: fc.integer({ min: 3, max: 5 }),
    stride: fc.integer({ min: 1, max: 2 }),
    padding: fc.integer({ min: 0, max: 1 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  .map((r) => {
    const spatial = Array<number>(r.d).fill(r.extent);
    const kernel = Array<number>(r.d).fill(r.k);
    const cin = r.cinG * r.groups;
    const cout = r.coutG * r.groups;
    const last = r.layout === 'channels_last';
    return {
      layout: r.layout,
      input: last ? [2, ...spatial, cin] : [2, cin, ...spatial],
      // the weight in its data layout's own family: what the reference reads
      weight: last ? [...kernel, r.cinG, cout] : [cout, r.cinG, ...kernel],
      params: { stride: r.stride, padding: r.padding, groups: r.groups },
      seed: r.seed,
    };
  });

function assertClose(got: ArrayLike<number>, r: RefResult, what: string) {
  const rep = checkClose(got, r.ref, r.absBound, r.nTerms, 'float64', { float64Reference: true });
  assert.ok(rep.ok, `${what}: ${rep.message}`);
}

test('a weight in the other layout family gives the same output and its grad_weight in that family', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const rand = rng(c.seed);
      const x = randomTensor(numel(c.input), 'float64', rand);
      const wNative = randomTensor(numel(c.weight), 'float64', rand);
      const sent = otherFamily(c.weight, wNative, c.layout);
      const other: Layout = c.layout === 'channels_first' ? 'channels_last' : 'channels_first';
      const meta = (shape: number[]) => ({ dtype: 'float64' as const, shape });
      const params = { ...c.params, layout: c.layout, weight_layout: weightLayoutName(other, c.input.length) };
      const g: ConvGeometry = resolveConv({ input: meta(c.input), weight: meta(sent.shape) }, params);
      assert.equal(g.weightLayout, other);
      assert.deepEqual(g.weightShape, sent.shape);

      const rg = refGeometry(c.input, c.weight, { ...c.params, layout: c.layout });
      const output = new Float64Array(numel(g.outputShape));
      const tensors = { input: x.buffer, weight: sent.data.buffer };
      runners.conv_forward({ op: 'conv_forward', geometry: g, tensors, results: {} }, { output }, view);
      assertClose(output, referenceForward(rg, x, wNative, null), 'output');

      const dy = randomTensor(output.length, 'float64', rand);
      const gradWeight = new Float64Array(sent.data.length).fill(NaN);
      const task: TaskFor<'conv_backward'> = {
        op: 'conv_backward',
        geometry: g,
        tensors: { ...tensors, grad_output: dy.buffer },
        results: {},
      };
      runners.conv_backward(task, { grad_weight: gradWeight }, view);
      const ref = referenceBackward(rg, x, wNative, dy).weight;
      // the reference's grad_weight, in the request's weight_layout
      const inRequestLayout = (a: ArrayLike<number>) => otherFamily(c.weight, a, c.layout).data;
      assertClose(
        gradWeight,
        { ref: inRequestLayout(ref.ref), absBound: inRequestLayout(ref.absBound), nTerms: ref.nTerms },
        'grad_weight',
      );
    }),
    { seed: 20261204, numRuns: 200, includeErrorInReport: true },
  );
});

test("the test's permutation: [C_out, C_in, kH, kW] -> [kH, kW, C_in, C_out]", () => {
  // w[o, i, h, w] = 1000 o + 100 i + 10 h + w, shape [2, 1, 2, 3]
  const shape = [2, 1, 2, 3];
  const data = Float64Array.from({ length: 12 }, (_, f) => {
    const [o, h, w] = [Math.floor(f / 6), Math.floor((f % 6) / 3), f % 3];
    return 1000 * o + 10 * h + w;
  });
  const hwio = otherFamily(shape, data, 'channels_first');
  assert.deepEqual(hwio.shape, [2, 3, 1, 2]);
  // [h, w, i, o]: (0, 1, 0, 1) is at ((0 * 3 + 1) * 1 + 0) * 2 + 1 = 3
  assert.equal(hwio.data[3], 1001);
  assert.deepEqual(otherFamily(hwio.shape, hwio.data, 'channels_last').data, data);
});
