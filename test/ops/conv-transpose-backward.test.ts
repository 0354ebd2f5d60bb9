/**
 * POST /conv/transpose/backward end to end through the real worker pool: the documented
 * answer, grads subsets, both wires, the identity with the convolution's own endpoints (its
 * grad_input is POST /conv/forward of grad_output with the same weight and parameters, its
 * grad_weight POST /conv/backward's grad_weight with input and grad_output swapped), every
 * error as problem+json, limits and metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import {
  assertProblem,
  flopsComputed,
  packBin,
  postJson,
  rawBody,
  tensor,
  testApp,
  unpackr,
  values,
  type ConvdApp,
} from '../service/helpers.js';

/** conv_transpose2d(x [1, 1, 2, 2], ones [1, 1, 2, 2], stride 2) with grad_output 1..16. */
const example = () => ({
  input: tensor('float64', [1, 1, 2, 2], [1, 2, 3, 4]),
  weight: tensor('float64', [1, 1, 2, 2], [1, 1, 1, 1]),
  stride: 2,
  grad_output: tensor(
    'float64',
    [1, 1, 4, 4],
    Array.from({ length: 16 }, (_, i) => i + 1),
  ),
});

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

describe('answers', () => {
  test('all three gradients by default (worked by hand from the definition)', async () => {
    const res = await postJson(convd, '/conv/transpose/backward', example());
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      // each input pixel's 2x2 block of grad_output, summed
      grad_input: { dtype: 'float64', shape: [1, 1, 2, 2], data: [14, 22, 46, 54] },
      // grad_weight[a, b] = sum over i, j of input[i, j] * grad_output[2i + a, 2j + b]
      grad_weight: { dtype: 'float64', shape: [1, 1, 2, 2], data: [78, 88, 118, 128] },
      grad_bias: { dtype: 'float64', shape: [1], data: [136] },
    });
  });

  test('grads picks the gradients, in any order; [] answers {}', async () => {
    const res = await postJson(convd, '/conv/transpose/backward', { ...example(), grads: ['bias', 'input'] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['grad_bias', 'grad_input']);
    const none = await postJson(convd, '/conv/transpose/backward', { ...example(), grads: [] });
    assert.equal(none.status, 200, none.text);
    assert.deepEqual(none.body, {});
  });

  test('msgpack in and out', async () => {
    const res = await request(convd.app.server)
      .post('/conv/transpose/backward')
      .set('content-type', 'application/msgpack')
      .buffer(true)
      .parse(rawBody)
      .send(packBin.pack({ ...example(), grads: ['weight'] }));
    assert.equal(res.status, 200);
    const payload = unpackr.unpack(res.body as Buffer);
    assert.ok(payload.grad_weight.data instanceof Uint8Array, 'msgpack data is a bin');
    assert.deepEqual(values(payload.grad_weight), [78, 88, 118, 128]);
  });

  test("equals the convolution's endpoints with roles swapped (channels_last, groups, output_padding)", async () => {
    const rand = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed));
    // transposed: input [2, 3, 2, 4] NHWC (C_in 4), weight [*k 2x3, C_out/groups 3, C_in 4], groups 2 -> C_out 6
    const params = { stride: [2, 1], padding: [1, 1], dilation: [1, 2], groups: 2, layout: 'NHWC' };
    const input = tensor('float64', [2, 3, 2, 4], rand(48, 1));
    const weight = tensor('float64', [2, 3, 3, 4], rand(72, 2));
    // out = (3 - 1) * 2 - 2 + 1 + 1 + 1 = 5 (output_padding 1 < stride 2), (2 - 1) * 1 - 2 + 4 + 0 + 1 = 4
    const gradOutput = tensor('float64', [2, 5, 4, 6], rand(240, 3));
    const back = await postJson(convd, '/conv/transpose/backward', {
      ...params,
      input,
      weight,
      output_padding: [1, 0],
      grad_output: gradOutput,
    });
    assert.equal(back.status, 200, back.text);
    // the convolution it transposes: input shaped like the transposed output, the same weight,
    // padding [1, 0] after on the dim output_padding extends
    const convPadding = [
      [1, 0],
      [1, 1],
    ];
    const forward = await postJson(convd, '/conv/forward', {
      ...params,
      padding: convPadding,
      input: gradOutput,
      weight,
    });
    assert.equal(forward.status, 200, forward.text);
    const conv = await postJson(convd, '/conv/backward', {
      ...params,
      padding: convPadding,
      input: gradOutput,
      weight,
      grad_output: input,
      grads: ['weight'],
    });
    assert.equal(conv.status, 200, conv.text);
    const close = (got: number[], want: number[], what: string) => {
      assert.equal(got.length, want.length, what);
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-12 * (1 + Math.abs(want[i])), `${what}[${i}]`));
    };
    assert.deepEqual(back.body.grad_input.shape, input.shape);
    close(back.body.grad_input.data, forward.body.output.data, 'grad_input vs /conv/forward');
    assert.deepEqual(back.body.grad_weight.shape, weight.shape);
    close(back.body.grad_weight.data, conv.body.grad_weight.data, 'grad_weight vs /conv/backward');
  });
});

describe('400 with errors[].path', () => {
  const ex = example();
  const cases: { name: string; body: object; path: string; detail?: RegExp }[] = [
    { name: 'missing grad_output', body: { input: ex.input, weight: ex.weight }, path: 'grad_output' },
    { name: 'grads repeated', body: { ...ex, grads: ['weight', 'weight'] }, path: 'grads' },
    { name: 'grads unknown', body: { ...ex, grads: ['output'] }, path: 'grads[0]' },
    {
      name: 'grad_output of the wrong shape',
      body: { ...ex, grad_output: tensor('float64', [1, 1, 3, 3], Array(9).fill(1)) },
      path: 'grad_output.shape',
      detail: /grad_output.shape is \[1, 1, 3, 3\] but the forward output is \[1, 1, 4, 4\]/,
    },
    {
      name: 'grad_output of another dtype',
      body: { ...ex, grad_output: tensor('float32', [1, 1, 4, 4], Array(16).fill(1)) },
      path: 'grad_output.dtype',
    },
    {
      name: 'bias shape',
      body: { ...ex, bias: tensor('float64', [2], [0, 0]) },
      path: 'bias.shape',
      detail: /must be \[1\]/,
    },
    {
      name: 'grad_output data one short',
      body: { ...ex, grad_output: { ...ex.grad_output, data: ex.grad_output.data.slice(1) } },
      path: 'grad_output.data',
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = await postJson(convd, '/conv/transpose/backward', c.body);
      assertProblem(res, 400, c.path);
      if (c.detail) assert.match(res.body.detail, c.detail);
    });
  }
});

test('413: FLOPs of the requested gradients, from shapes', async () => {
  const small = await testApp({ config: { maxFlops: 10_000 } });
  try {
    // each GEMM pass: 2 * N 1 * C_in 4 * 40 positions * C_out/groups 4 * k 9 = 11520
    const body = {
      input: tensor('float32', [1, 4, 40], []),
      weight: tensor('float32', [4, 4, 9], []),
      padding: 4,
      grad_output: tensor('float32', [1, 4, 40], []),
    };
    const res = await postJson(small, '/conv/transpose/backward', { ...body, grads: ['weight'] });
    assertProblem(res, 413);
    assert.match(res.body.detail, /needs 11520 FLOPs; the limit is 10000/);
    // grad_bias alone: one addition per grad_output element
    const bias = await postJson(small, '/conv/transpose/backward', {
      ...body,
      input: tensor('float32', [1, 4, 40], Array(160).fill(0)),
      weight: tensor('float32', [4, 4, 9], Array(144).fill(0)),
      grad_output: tensor('float32', [1, 4, 40], Array(160).fill(1)),
      grads: ['bias'],
    });
    assert.equal(bias.status, 200, bias.text);
    assert.deepEqual(bias.body.grad_bias.data, [40, 40, 40, 40]);
  } finally {
    await small.app.close();
  }
});

test('metrics count its FLOPs under op="transpose_backward"', async () => {
  const flops = () => flopsComputed(convd, 'transpose_backward');
  const before = await flops();
  await postJson(convd, '/conv/transpose/backward', example());
  // grad_input and grad_weight: 2 * N 1 * C_in 1 * 4 positions * C_out/groups 1 * k 4 = 32 each; grad_bias 16
  assert.equal((await flops()) - before, 80);
});
