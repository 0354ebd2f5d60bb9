/**
 * The generated TypeScript client against a live convd (CONVD_URL, e.g. http://127.0.0.1:8080),
 * on both wires: forward and backward numbers checked against direct loops here, and errors
 * surfacing as ConvdError with the problem+json body.
 *
 *   CONVD_URL=http://127.0.0.1:8080 node --test dist/clients/typescript/test/client.test.js
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvdError, createConvdClient, tensor, type Wire } from '../src/index.js';

const url = process.env.CONVD_URL;
if (!url) throw new Error('set CONVD_URL to a running convd');
const convd = createConvdClient(url);

// a 1-D valid cross-correlation with stride, channels_first, one batch: y[o, t] = b[o] + sum_c,k x[c, t*s + k] w[o, c, k]
function conv1d(x: Float64Array, cin: number, len: number, w: Float64Array, cout: number, k: number, stride: number, bias: Float64Array) {
  const out = Math.floor((len - k) / stride) + 1;
  const y = new Float64Array(cout * out);
  for (let o = 0; o < cout; o++)
    for (let t = 0; t < out; t++) {
      let acc = bias[o];
      for (let c = 0; c < cin; c++) for (let j = 0; j < k; j++) acc += x[c * len + t * stride + j] * w[(o * cin + c) * k + j];
      y[o * out + t] = acc;
    }
  return { y, out };
}

const cin = 3, len = 11, cout = 2, k = 3, stride = 2;
const x = Float64Array.from({ length: cin * len }, (_, i) => Math.sin(i) * 3);
const w = Float64Array.from({ length: cout * cin * k }, (_, i) => (i % 5) - 2.5);
const b = Float64Array.of(0.25, -1);
const want = conv1d(x, cin, len, w, cout, k, stride, b);

for (const wire of ['msgpack', 'json'] as Wire[]) {
  test(`forward over ${wire}: float64 exact, float32 close`, async () => {
    const { output } = await convd.forward(
      { input: tensor([1, cin, len], x), weight: tensor([cout, cin, k], w), bias: tensor([cout], b), stride },
      wire,
    );
    assert.deepEqual(output.shape, [1, cout, want.out]);
    assert.ok(output.data instanceof Float64Array);
    for (let i = 0; i < want.y.length; i++) assert.ok(Math.abs(output.data[i] - want.y[i]) < 1e-12, `output[${i}]`);

    const single = await convd.forward(
      { input: tensor([1, cin, len], Float32Array.from(x)), weight: tensor([cout, cin, k], Float32Array.from(w)), bias: tensor([cout], Float32Array.from(b)), stride },
      wire,
    );
    assert.ok(single.output.data instanceof Float32Array);
    for (let i = 0; i < want.y.length; i++) assert.ok(Math.abs(single.output.data[i] - want.y[i]) < 1e-4, `float32 output[${i}]`);
  });

  test(`backward over ${wire}: the gradients of sum(y * g)`, async () => {
    const g = Float64Array.from({ length: cout * want.out }, (_, i) => 1 + (i % 3));
    const grads = await convd.backward(
      { input: tensor([1, cin, len], x), weight: tensor([cout, cin, k], w), grad_output: tensor([1, cout, want.out], g), stride, grads: ['input', 'weight', 'bias'] },
      wire,
    );
    // reference gradients by the same loops
    const gi = new Float64Array(cin * len);
    const gw = new Float64Array(cout * cin * k);
    const gb = new Float64Array(cout);
    for (let o = 0; o < cout; o++)
      for (let t = 0; t < want.out; t++) {
        const go = g[o * want.out + t];
        gb[o] += go;
        for (let c = 0; c < cin; c++)
          for (let j = 0; j < k; j++) {
            gi[c * len + t * stride + j] += go * w[(o * cin + c) * k + j];
            gw[(o * cin + c) * k + j] += go * x[c * len + t * stride + j];
          }
      }
    assert.deepEqual(grads.grad_input?.shape, [1, cin, len]);
    assert.deepEqual(grads.grad_weight?.shape, [cout, cin, k]);
    assert.deepEqual(grads.grad_bias?.shape, [cout]);
    for (const [name, got, ref] of [
      ['grad_input', grads.grad_input!.data, gi],
      ['grad_weight', grads.grad_weight!.data, gw],
      ['grad_bias', grads.grad_bias!.data, gb],
    ] as const) {
      for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-9, `${name}[${i}] ${got[i]} vs ${ref[i]}`);
    }
  });

  test(`errors over ${wire}: 400 problem+json naming the field`, async () => {
    await assert.rejects(
      convd.forward({ input: tensor([1, 4, 5], new Float32Array(20)), weight: tensor([1, 3, 2], new Float32Array(6)) }, wire),
      (err: unknown) => {
        assert.ok(err instanceof ConvdError);
        assert.equal(err.status, 400);
        assert.ok(typeof err.problem === 'object' && err.problem.status === 400);
        assert.match(String(err.problem.detail), /weight\.shape\[1\]/);
        return true;
      },
    );
  });
}

test('the raw openapi-fetch client reaches the other routes, typed', async () => {
  const { data, response } = await convd.api.GET('/healthz');
  assert.equal(response.status, 200);
  assert.deepEqual(data, { status: 'ok' });
});
