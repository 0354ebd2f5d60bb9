/**
 * Every valid conformance case run directly against the kernels (geometry from resolveConv),
 * checked with the README tolerance rule, on each kernel engine passed explicitly:
 *   ts    in the case's dtype and again in the other dtype (float64 accumulation);
 *   wasm  in float32 (float32 cases as they are, float64 cases re-run in float32), and
 *         wasm-f64 in float64;
 *   native  likewise in float32 (native: oneDNN where it plans the call; native-blas: im2col +
 *         sgemm throughout) and float64 (native-f64).
 * One test per (case, dtype, engine). The wasm engine must be available: if it does not load,
 * every wasm test fails (never skipped). Each run also checks that the kernels (GEMM or, on the
 * depthwise path, direct) went through the engine it passed.
 *
 * Re-running in the other dtype:
 *  - float32 case as float64: the inputs convert exactly, so the case's reference and abs-bound
 *    hold as they are; the rule is applied with eps = 2^-53.
 *  - float64 case as float32: the inputs are rounded to float32, which moves each product by at
 *    most (2 eps + eps^2) of its absolute value; the rule (eps = 2^-24) gets that term added
 *    (see ToleranceOptions.roundedInputs).
 * Non-finite references (NaN / Infinity cases) must be matched exactly in both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConv } from '../../src/shared/geometry/conv.js';
import { numel } from '../../src/shared/tensor.js';
import type { ConvOperands } from '../../src/shared/geometry/conv.js';
import type { Real } from '../../src/shared/tensor.js';
import { convForward, convBackward } from '../../workers/kernels/conv.js';
import { loadValidCases, decodeB64, caseParams, toDtype, alloc, ConformanceCase, Dt } from '../reference/data.js';
import { checkClose } from '../reference/tolerance.js';
import { counting, engineNamed, NATIVE_SKIP, wasmEngine, type EngineName } from '../reference/engines.js';

const cases = loadValidCases();

const GRAD_KEY = { input: 'grad_input', weight: 'grad_weight', bias: 'grad_bias' } as const;

function runCase(c: ConformanceCase, dtype: Dt, engineName: EngineName): void {
  const counted = counting(engineNamed(engineName));
  const r = c.request;
  const caseDt = r.input.dtype;
  const load = (t: { data_b64: string }) => toDtype(decodeB64(t.data_b64, caseDt), dtype);
  const meta = (t: { shape: number[] }) => ({ dtype, shape: t.shape });
  const operands: ConvOperands = { input: meta(r.input), weight: meta(r.weight) };
  if (r.bias) operands.bias = meta(r.bias);
  if (c.op === 'backward') operands.grad_output = meta(r.grad_output!);
  const g = resolveConv(operands, caseParams(c));
  assert.equal(g.dtype, dtype);

  const x = load(r.input);
  const w = load(r.weight);
  const results: Record<string, Real> = {};
  const shapes: Record<string, number[]> = {};
  if (c.op === 'forward') {
    const y = alloc(dtype, numel(g.outputShape)).fill(NaN);
    convForward(g, x, w, r.bias ? load(r.bias) : null, y, counted.engine);
    results.output = y;
    shapes.output = g.outputShape;
  } else {
    const dy = load(r.grad_output!);
    const wanted = r.grads ?? (['input', 'weight', 'bias'] as const);
    const out: { input?: Real; weight?: Real; bias?: Real } = {};
    const sizes = { input: g.inputShape, weight: g.weightShape, bias: [g.outChannels] };
    for (const k of wanted) out[k] = alloc(dtype, numel(sizes[k])).fill(NaN);
    convBackward(g, x, w, dy, out, counted.engine);
    assert.deepEqual(
      Object.keys(out).sort(),
      [...wanted].sort(),
      'the kernel must fill exactly the requested gradients',
    );
    for (const k of wanted) {
      results[GRAD_KEY[k]] = out[k]!;
      shapes[GRAD_KEY[k]] = sizes[k];
    }
  }

  assert.deepEqual(Object.keys(results).sort(), Object.keys(c.expected).sort(), 'response keys');
  const usesKernels = c.op === 'forward' || (r.grads ?? ['input']).some((k) => k !== 'bias');
  assert.ok(
    !usesKernels || counted.calls > 0,
    `no kernel (GEMM or direct) ran on the ${engineName} engine passed to the kernel`,
  );
  const rounded = caseDt === 'float64' && dtype === 'float32';
  const problems: string[] = [];
  for (const key of Object.keys(c.expected)) {
    const exp = c.expected[key];
    assert.deepEqual(shapes[key], exp.shape, `${key} shape`);
    const rep = checkClose(
      results[key],
      decodeB64(exp.data_b64, 'float64'),
      decodeB64(c.abs_bound[key].data_b64, 'float64'),
      c.n_terms[key],
      dtype,
      { roundedInputs: rounded },
    );
    if (!rep.ok) problems.push(`${key}: ${rep.message}`);
  }
  assert.equal(problems.length, 0, `${c.name} in ${dtype} on ${engineName}: ${problems.join(' | ')}`);
}

test('conformance cases are present', () => {
  assert.ok(cases.length >= 100, `expected the 120 valid cases, found ${cases.length}`);
});

test('the wasm engine is available', () => {
  assert.equal(wasmEngine().name, 'wasm');
});

for (const c of cases) {
  const dt = c.request.input.dtype;
  const other: Dt = dt === 'float32' ? 'float64' : 'float32';
  test(`conformance ${c.name} (${dt}) [ts]`, () => runCase(c, dt, 'ts'));
  test(`conformance ${c.name} re-run as ${other} [ts]`, () => runCase(c, other, 'ts'));
  const f32 = dt === 'float32' ? '(float32)' : 're-run as float32';
  const f64 = dt === 'float64' ? '(float64)' : 're-run as float64';
  test(`conformance ${c.name} ${f32} [wasm]`, () => runCase(c, 'float32', 'wasm'));
  if (dt === 'float32') test(`conformance ${c.name} ${f32} [wasm-simd]`, () => runCase(c, 'float32', 'wasm-simd'));
  test(`conformance ${c.name} ${f64} [wasm-f64]`, () => runCase(c, 'float64', 'wasm-f64'));
  test(`conformance ${c.name} ${f32} [native]`, { skip: NATIVE_SKIP }, () => runCase(c, 'float32', 'native'));
  test(`conformance ${c.name} ${f32} [native-blas]`, { skip: NATIVE_SKIP }, () => runCase(c, 'float32', 'native-blas'));
  test(`conformance ${c.name} ${f64} [native-f64]`, { skip: NATIVE_SKIP }, () => runCase(c, 'float64', 'native-f64'));
}
