/**
 * Trust in the naive reference: it must reproduce the independent conformance results (within
 * the README rule in the case's dtype), reproduce their abs-bounds, and map padded positions
 * exactly as PyTorch does. Also checks that the tolerance helper does reject wrong answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadValidCases, decodeB64, caseParams, ConformanceCase, rng, randomTensor } from '../reference/data.js';
import { checkClose } from '../reference/tolerance.js';
import {
  refGeometry,
  mapPadded,
  referenceForward,
  referenceBackward,
  naiveForward,
  naiveBackward,
  prod,
} from '../reference/naive-conv.js';

const cases = loadValidCases();

function runReference(c: ConformanceCase) {
  const r = c.request;
  const dt = r.input.dtype;
  const g = refGeometry(r.input.shape, r.weight.shape, caseParams(c));
  const x = decodeB64(r.input.data_b64, dt);
  const w = decodeB64(r.weight.data_b64, dt);
  if (c.op === 'forward') {
    const b = r.bias ? decodeB64(r.bias.data_b64, dt) : null;
    return { g, out: { output: referenceForward(g, x, w, b) } as Record<string, ReturnType<typeof referenceForward>> };
  }
  const dy = decodeB64(r.grad_output!.data_b64, dt);
  const all = referenceBackward(g, x, w, dy);
  return {
    g,
    out: { grad_input: all.input, grad_weight: all.weight, grad_bias: all.bias } as Record<
      string,
      ReturnType<typeof referenceForward>
    >,
  };
}

test('there are conformance cases to check', () => {
  assert.ok(cases.length >= 100, `only ${cases.length} cases`);
});

for (const c of cases) {
  test(`naive reference reproduces ${c.name}`, () => {
    const { g, out } = runReference(c);
    const dt = c.request.input.dtype;
    for (const key of Object.keys(c.expected)) {
      const exp = c.expected[key];
      const mine = out[key];
      assert.ok(mine, `no reference for ${key}`);
      const shape =
        key === 'output'
          ? g.outputShape
          : key === 'grad_input'
            ? g.inputShape
            : key === 'grad_weight'
              ? g.weightShape
              : [g.cout];
      assert.deepEqual(shape, exp.shape, `${key} shape`);
      const ref = decodeB64(exp.data_b64, 'float64');
      const bound = decodeB64(c.abs_bound[key].data_b64, 'float64');
      const n = c.n_terms[key];
      const rep = checkClose(mine.ref, ref, bound, n, dt, { float64Reference: true });
      assert.ok(rep.ok, `${key}: ${rep.message}`);
      // the tolerance machinery the property tests use: same abs-bound, never more terms
      const rb = checkClose(mine.absBound, bound, bound, n, 'float64', { float64Reference: true });
      assert.ok(rb.ok, `${key} abs_bound: ${rb.message}`);
      assert.ok(mine.nTerms <= n, `${key}: my n_terms ${mine.nTerms} > case ${n}`);
    }
  });
}

test('mapPadded follows PyTorch for every mode', () => {
  const n = 5; // input 0 1 2 3 4, pad 3 before / 3 after (circular), 2 (reflect: pad < n)
  const row = (mode: 'zeros' | 'reflect' | 'replicate' | 'circular', pad: number) =>
    Array.from({ length: n + 2 * pad }, (_, p) => mapPadded(p, pad, n, mode));
  assert.deepEqual(row('reflect', 4), [4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0]);
  assert.deepEqual(row('reflect', 2), [2, 1, 0, 1, 2, 3, 4, 3, 2]);
  assert.deepEqual(row('replicate', 2), [0, 0, 0, 1, 2, 3, 4, 4, 4]);
  assert.deepEqual(row('circular', 5), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
  assert.deepEqual(row('circular', 2), [3, 4, 0, 1, 2, 3, 4, 0, 1]);
  assert.deepEqual(row('zeros', 1), [-1, 0, 1, 2, 3, 4, -1]);
});

test('naive backward is the adjoint of naive forward (<conv(x,w), dy> identities)', () => {
  const rand = rng(7);
  const configs = [
    {
      x: [2, 3, 7],
      w: [4, 3, 3],
      p: { stride: 2, padding: [[2, 1]] as [number, number][], padding_mode: 'reflect' as const },
    },
    {
      x: [1, 5, 4, 6],
      w: [3, 3, 2, 3],
      p: { groups: 3, padding: 2, padding_mode: 'circular' as const, layout: 'NHWC' as const },
    },
    {
      x: [1, 2, 4, 3, 5],
      w: [3, 2, 2, 2, 2],
      p: { dilation: [1, 2, 2], padding: 'same' as const, stride: 2, padding_mode: 'replicate' as const },
    },
  ];
  for (const cfg of configs) {
    const g = refGeometry(cfg.x, cfg.w, cfg.p);
    const x = randomTensor(prod(g.inputShape), 'float64', rand);
    const w = randomTensor(prod(g.weightShape), 'float64', rand);
    const b = randomTensor(g.cout, 'float64', rand);
    const dy = randomTensor(prod(g.outputShape), 'float64', rand);
    const y = naiveForward(g, x, w, b);
    const y0 = naiveForward(g, x, w, null);
    const gr = naiveBackward(g, x, w, dy);
    const dot = (a: ArrayLike<number>, c: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i] * c[i];
      return s;
    };
    const lhs = dot(y0, dy);
    assert.ok(Math.abs(lhs - dot(x, gr.input)) <= 1e-10 * (1 + Math.abs(lhs)), 'input adjoint');
    assert.ok(Math.abs(lhs - dot(w, gr.weight)) <= 1e-10 * (1 + Math.abs(lhs)), 'weight adjoint');
    assert.ok(Math.abs(dot(y, dy) - lhs - dot(b, gr.bias)) <= 1e-10 * (1 + Math.abs(lhs)), 'bias adjoint');
  }
});

test('tolerance helper rejects wrong answers', () => {
  const zero = [0, 0];
  assert.ok(checkClose([1, 2], [1, 2], zero, 1, 'float64').ok);
  assert.ok(
    !checkClose([1, 2 + 2 ** -51], [1, 2], zero, 1, 'float64').ok,
    'exact where abs_bound = 0... but eps*|ref| allows one rounding',
  );
  assert.ok(checkClose([1, 2 + 2 ** -52], [1, 2], zero, 1, 'float64').ok, 'one final rounding is allowed');
  assert.ok(!checkClose([5e-324, 0], [0, 0], zero, 0, 'float64').ok, 'abs_bound 0 with no terms means exactly 0');
  assert.ok(!checkClose([NaN, 1], [1, 1], [1, 1], 3, 'float32').ok, 'NaN where finite expected');
  assert.ok(!checkClose([1, 1], [NaN, 1], [1, 1], 3, 'float32').ok, 'finite where NaN expected');
  assert.ok(!checkClose([-Infinity], [Infinity], [Infinity], 3, 'float32').ok, 'sign of infinity');
  assert.ok(checkClose([NaN, Infinity], [NaN, Infinity], [NaN, Infinity], 3, 'float32').ok);
  const r = checkClose([1, 1.5], [1, 1], [1, 1], 2, 'float32');
  assert.equal(r.worst?.index, 1);
  assert.match(r.message, /index 1: got 1.5, ref 1/);
});
