/**
 * POST /conv/transpose end to end through the real worker pool: wire forms and both response
 * encodings, both dtypes and layouts, bias, output_padding; every error as problem+json with
 * its status and errors[].path; work limits (413) from shapes; metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import {
  assertProblem,
  flopsComputed,
  packBin,
  packTyped,
  postJson,
  rawBody,
  tensor,
  testApp,
  unpackr,
  values,
  type ConvdApp,
  type DType,
} from '../service/helpers.js';

/**
 * conv_transpose1d(x [1, 2, 3], w [2, 1, 3], b [1], stride 2, padding 1, output_padding 1)
 * = [2.25, 5.75, 2.75, 6.75, 3.25, 0.25] (checked by hand from the definition).
 */
const example = (dtype: DType = 'float32', form: 'array' | 'base64' | 'bin' | 'typed' = 'array') => ({
  input: tensor(dtype, [1, 2, 3], [1, 2, 3, 4, 5, 6], form),
  weight: tensor(dtype, [2, 1, 3], [1, 0, -1, 0.5, 0.5, 0.5], form),
  bias: tensor(dtype, [1], [0.25], form),
  stride: 2,
  padding: 1,
  output_padding: 1,
});
const EXPECTED = [2.25, 5.75, 2.75, 6.75, 3.25, 0.25];

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

describe('answers', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    test(`JSON -> JSON, ${dtype}`, async () => {
      const res = await postJson(convd, '/conv/transpose', example(dtype));
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { output: { dtype, shape: [1, 1, 6], data: EXPECTED } });
    });

    for (const form of ['bin', 'typed'] as const) {
      test(`msgpack ${form} -> msgpack, ${dtype}`, async () => {
        const res = await request(convd.app.server)
          .post('/conv/transpose')
          .set('content-type', 'application/msgpack')
          .buffer(true)
          .parse(rawBody)
          .send((form === 'bin' ? packBin : packTyped).pack(example(dtype, form)));
        assert.equal(res.status, 200);
        const payload = unpackr.unpack(res.body);
        assert.ok(payload.output.data instanceof Uint8Array, 'msgpack data is a bin');
        assert.deepEqual(
          [payload.output.dtype, payload.output.shape, values(payload.output)],
          [dtype, [1, 1, 6], EXPECTED],
        );
      });
    }
  }

  test('base64 in and out', async () => {
    const res = await postJson(convd, '/conv/transpose', { ...example('float64', 'base64'), encoding: 'base64' });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.body.output.data, 'string');
    assert.deepEqual(values(res.body.output), EXPECTED);
  });

  test('[[before, after]] padding (ONNX pads): [[1, 1]] is padding 1, [[2, 0]] trims two positions at the start', async () => {
    const symmetric = await postJson(convd, '/conv/transpose', { ...example('float64'), padding: [[1, 1]] });
    assert.equal(symmetric.status, 200, symmetric.text);
    assert.deepEqual(symmetric.body.output.data, EXPECTED);
    // padding 0 and output_padding 1 give 8 positions (EXPECTED is positions 1..6); [[2, 0]] keeps 2..7
    const full = await postJson(convd, '/conv/transpose', { ...example('float64'), padding: 0 });
    const shifted = await postJson(convd, '/conv/transpose', { ...example('float64'), padding: [[2, 0]] });
    assert.equal(shifted.status, 200, shifted.text);
    assert.deepEqual(full.body.output.shape, [1, 1, 8]);
    assert.deepEqual(shifted.body.output.data, full.body.output.data.slice(2));
  });

  test('2-D channels_last, stride 2, groups 2 (depthwise, no bias)', async () => {
    // each input pixel stamps its weight's 2x2 block: stride 2 with k 2 tiles without overlap
    const res = await postJson(convd, '/conv/transpose', {
      input: tensor('float32', [1, 1, 2, 2], [1, 10, 2, 20]),
      weight: tensor('float32', [2, 2, 1, 2], [1, 1, 1, 1, 1, 1, 1, -1]),
      stride: 2,
      groups: 2,
      layout: 'NHWC',
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.output.shape, [1, 2, 4, 2]);
    assert.deepEqual(res.body.output.data, [1, 10, 1, 10, 2, 20, 2, 20, 1, 10, 1, -10, 2, 20, 2, -20]);
  });
});

describe('400 with errors[].path', () => {
  const ex = example();
  const cases: { name: string; body: object; path: string; detail?: RegExp }[] = [
    // schema
    { name: 'padding "same"', body: { ...ex, padding: 'same' }, path: 'padding' },
    { name: 'padding pair of three', body: { ...ex, padding: [[1, 0, 1]] }, path: 'padding[0]' },
    {
      name: 'padding_mode is a conv field only',
      body: { ...ex, padding_mode: 'reflect' },
      path: 'padding_mode',
      detail: /not a field/,
    },
    { name: 'negative output_padding', body: { ...ex, output_padding: -1 }, path: 'output_padding' },
    { name: 'groups 0', body: { ...ex, groups: 0 }, path: 'groups' },
    { name: 'stride 0 in one dim', body: { ...ex, stride: [0] }, path: 'stride[0]' },
    { name: 'missing weight', body: { input: ex.input }, path: 'weight', detail: /weight is required/ },
    { name: 'bias of rank 2', body: { ...ex, bias: tensor('float32', [1, 1], [0]) }, path: 'bias.shape' },
    // geometry
    {
      name: 'output_padding >= stride and dilation',
      body: { ...ex, output_padding: 2 },
      path: 'output_padding',
      detail: /output_padding is 2 but must be smaller than stride 2 or dilation 1/,
    },
    {
      name: 'weight channels',
      body: { ...ex, weight: tensor('float32', [3, 1, 3], Array(9).fill(1)) },
      path: 'weight.shape[0]',
      detail: /is 3 but input has 2 channels/,
    },
    {
      name: 'groups not dividing C_in',
      body: { ...ex, groups: 3, weight: tensor('float32', [2, 1, 3], Array(6).fill(1)) },
      path: 'groups',
      detail: /does not divide the 2 input channels/,
    },
    {
      name: 'bias shape',
      body: { ...ex, bias: tensor('float32', [2], [0, 0]) },
      path: 'bias.shape',
      detail: /must be \[1\]/,
    },
    {
      name: 'output extent < 1',
      body: { ...ex, stride: 1, output_padding: 0, padding: 3 },
      path: 'padding',
      detail: /output extent of spatial dim 0 is -1 < 1: \(input 3 - 1\) \* stride 1 - 2 \* padding 3/,
    },
    {
      name: 'dtype mismatch',
      body: { ...ex, weight: tensor('float64', [2, 1, 3], Array(6).fill(1)) },
      path: 'weight.dtype',
    },
    {
      name: 'weight of another rank',
      body: { ...ex, weight: tensor('float32', [2, 1, 3, 1], Array(6).fill(1)) },
      path: 'weight.shape',
    },
    {
      name: 'dilation of another rank',
      body: { ...ex, dilation: [1, 1] },
      path: 'dilation',
      detail: /2 values but the transposed convolution has 1 spatial dims/,
    },
    { name: 'layout alias of another rank', body: { ...ex, layout: 'NCHW' }, path: 'layout' },
    // data lengths, after geometry and limits
    {
      name: 'weight data one short',
      body: { ...ex, weight: { ...ex.weight, data: ex.weight.data.slice(1) } },
      path: 'weight.data',
      detail: /has 5 values .* needs 6/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = await postJson(convd, '/conv/transpose', c.body);
      assertProblem(res, 400, c.path);
      if (c.detail) assert.match(res.body.detail, c.detail);
    });
  }
});

describe('413: work limits from shapes, before any allocation', () => {
  let small: ConvdApp;
  before(async () => {
    small = await testApp({ config: { maxTensorElements: 1000, maxOutputBytes: 4096, maxFlops: 10_000 } });
  });
  after(() => small.app.close());

  test('elements of one tensor', async () => {
    const res = await postJson(small, '/conv/transpose', {
      input: tensor('float32', [1, 1, 2000], []),
      weight: tensor('float32', [1, 1, 1], []),
    });
    assertProblem(res, 413, 'input.shape');
  });

  test('output bytes: a small input with a big stride', async () => {
    const res = await postJson(small, '/conv/transpose', {
      input: tensor('float64', [1, 1, 10], []),
      weight: tensor('float64', [1, 1, 3], []),
      stride: 100,
    });
    assertProblem(res, 413);
    assert.match(res.body.detail, /outputs would take 7224 bytes; the limit is 4096 bytes/); // (10 - 1) * 100 + 3 = 903 elements
  });

  test('FLOPs', async () => {
    // 2 * N 1 * C_in 4 * 40 positions * C_out/groups 4 * k 9
    const res = await postJson(small, '/conv/transpose', {
      input: tensor('float32', [1, 4, 40], []),
      weight: tensor('float32', [4, 4, 9], []),
      padding: 4,
    });
    assertProblem(res, 413);
    assert.match(res.body.detail, /needs 11520 FLOPs; the limit is 10000/);
  });

  test('a tiny body declaring a gigantic output answers 413 without allocating', async () => {
    const rss = process.memoryUsage.rss();
    const res = await postJson(small, '/conv/transpose', {
      input: tensor('float32', [1, 1, 1, 2], [1, 1]),
      weight: tensor('float32', [1, 1, 1, 1], [1]),
      stride: 2 ** 30,
    });
    assertProblem(res, 413);
    assert.ok(process.memoryUsage.rss() - rss < 64 * 2 ** 20, 'no big allocation');
  });
});

test('metrics count conv_transpose FLOPs and output bytes', async () => {
  const flops = () => flopsComputed(convd, 'transpose');
  const before = await flops();
  await postJson(convd, '/conv/transpose', example());
  // 2 * N 1 * C_in 2 * 3 positions * C_out/groups 1 * k 3 = 36, plus 6 bias additions
  assert.equal((await flops()) - before, 42);
  const text = (await request(convd.app.server).get('/metrics').expect(200)).text;
  assert.match(text, /convd_output_bytes_computed_total\{op="transpose"\} \d+/);
});

test('the OpenAPI document describes /conv/transpose: defaults and examples', async () => {
  const doc = JSON.parse((await request(convd.app.server).get('/openapi.json').expect(200)).text);
  const op = doc.paths['/conv/transpose'].post;
  const body = doc.components.schemas.ConvTransposeRequest;
  const defaults = Object.fromEntries(
    Object.entries(body.properties).map(([k, v]) => [k, (v as { default?: unknown }).default]),
  );
  assert.deepEqual(defaults, {
    input: undefined,
    weight: undefined,
    bias: undefined,
    stride: 1,
    padding: 0,
    output_padding: 0,
    dilation: 1,
    groups: 1,
    layout: 'channels_first',
    encoding: 'array',
  });
  assert.ok(Object.keys(op.requestBody.content['application/json'].examples).length > 0);
});
