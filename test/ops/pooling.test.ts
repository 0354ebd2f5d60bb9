/**
 * POST /pool/forward and /pool/backward end to end through the real worker pool: every wire
 * form and both response encodings, both dtypes and layouts; every error as problem+json with
 * its status and errors[].path; work limits (413) from shapes; metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import {
  assertProblem,
  packBin,
  postJson,
  rawBody,
  tensor,
  testApp,
  unpackr,
  values,
  type ConvdApp,
  type DType,
} from '../service/helpers.js';

/** 1x1x4x4 = 1..16; max k2 -> [6, 8, 14, 16]. */
const X = Array.from({ length: 16 }, (_, i) => i + 1);
const input = (dtype: DType = 'float32', form: 'array' | 'base64' | 'bin' = 'array') =>
  tensor(dtype, [1, 1, 4, 4], X, form);

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

describe('answers', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    test(`max forward, JSON -> JSON, ${dtype}`, async () => {
      const res = await postJson(convd, '/pool/forward', { input: input(dtype), mode: 'max', kernel_size: 2 });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { output: { dtype, shape: [1, 1, 2, 2], data: [6, 8, 14, 16] } });
    });

    test(`max backward, msgpack bin -> msgpack, ${dtype}`, async () => {
      const body = {
        input: input(dtype, 'bin'),
        mode: 'max',
        kernel_size: 2,
        grad_output: tensor(dtype, [1, 1, 2, 2], [1, 2, 3, 4], 'bin'),
      };
      const res = await request(convd.app.server)
        .post('/pool/backward')
        .set('content-type', 'application/msgpack')
        .buffer(true)
        .parse(rawBody)
        .send(packBin.pack(body));
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'], /^application\/msgpack/);
      const payload = unpackr.unpack(res.body);
      assert.deepEqual(Object.keys(payload), ['grad_input']);
      assert.ok(payload.grad_input.data instanceof Uint8Array, 'msgpack data is a bin');
      assert.deepEqual(payload.grad_input.shape, [1, 1, 4, 4]);
      assert.deepEqual(values(payload.grad_input), [0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4]);
    });
  }

  test('avg forward with padding, count_include_pad false, base64 in and out', async () => {
    const res = await postJson(convd, '/pool/forward', {
      input: input('float64', 'base64'),
      mode: 'avg',
      kernel_size: 3,
      stride: 1,
      padding: 1,
      count_include_pad: false,
      encoding: 'base64',
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.body.output.data, 'string');
    assert.deepEqual(values(res.body.output).slice(0, 4), [
      (1 + 2 + 5 + 6) / 4,
      (1 + 2 + 3 + 5 + 6 + 7) / 6,
      (2 + 3 + 4 + 6 + 7 + 8) / 6,
      (3 + 4 + 7 + 8) / 4,
    ]);
  });

  test('avg backward spreads the gradient (count_include_pad default true), channels_last 1-D', async () => {
    const res = await postJson(convd, '/pool/backward', {
      input: tensor('float32', [1, 3, 2], [1, 2, 3, 4, 5, 6]),
      mode: 'avg',
      kernel_size: 2,
      stride: 1,
      padding: 1,
      layout: 'NWC',
      grad_output: tensor('float32', [1, 4, 2], [2, 4, 2, 4, 2, 4, 2, 4]),
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.grad_input, { dtype: 'float32', shape: [1, 3, 2], data: [2, 4, 2, 4, 2, 4] });
  });

  test('return_indices answers the indices beside the output, in the request layout (NHWC)', async () => {
    // 1x4x4x1 of 1..16 in NHWC is the same image as NCHW
    const res = await postJson(convd, '/pool/forward', {
      input: tensor('float64', [1, 4, 4, 1], X),
      mode: 'max',
      kernel_size: 3,
      stride: 2,
      ceil_mode: true,
      return_indices: true,
      layout: 'NHWC',
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body), ['output', 'indices']);
    assert.deepEqual(res.body.output.data, [11, 12, 15, 16]);
    assert.deepEqual(res.body.indices, { dtype: 'float64', shape: [1, 2, 2, 1], data: [10, 11, 14, 15] });
  });

  test('storage_order 1 answers column-major indices (ONNX maxpool_with_argmax_2d_precomputed_strides), NHWC too', async () => {
    const image = Array.from({ length: 25 }, (_, i) => i + 1);
    for (const layout of ['NCHW', 'NHWC']) {
      const res = await postJson(convd, '/pool/forward', {
        input: tensor('float32', layout === 'NHWC' ? [1, 5, 5, 1] : [1, 1, 5, 5], image),
        mode: 'max',
        kernel_size: 2,
        stride: 2,
        return_indices: true,
        storage_order: 1,
        layout,
      });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.output.data, [7, 9, 17, 19]);
      assert.deepEqual(res.body.indices.data, [6, 16, 8, 18], layout);
    }
    // the backward takes the forward's fields, storage_order among them, and needs no indices
    const bwd = await postJson(convd, '/pool/backward', {
      input: tensor('float32', [1, 1, 5, 5], image),
      mode: 'max',
      kernel_size: 2,
      stride: 2,
      return_indices: true,
      storage_order: 1,
      grad_output: tensor('float32', [1, 1, 2, 2], [1, 2, 3, 4]),
    });
    assert.equal(bwd.status, 200, bwd.text);
    const dx = bwd.body.grad_input.data as number[];
    assert.deepEqual([dx[6], dx[8], dx[16], dx[18]], [1, 2, 3, 4]);
  });

  test('every field at its default value is accepted, with every mode', async () => {
    const defaults = {
      stride: 2,
      padding: 0,
      dilation: 1,
      ceil_mode: false,
      divisor_override: null,
      return_indices: false,
      storage_order: 0,
      lp_abs: false,
    };
    for (const mode of ['max', 'avg', 'lp']) {
      const res = await postJson(convd, '/pool/forward', { input: input(), mode, kernel_size: 2, ...defaults });
      assert.equal(res.status, 200, `${mode}: ${res.text}`);
      assert.deepEqual(Object.keys(res.body), ['output']);
    }
    const avg = await postJson(convd, '/pool/forward', {
      input: input(),
      mode: 'avg',
      kernel_size: 2,
      count_include_pad: true,
      ...defaults,
    });
    assert.deepEqual(avg.body.output.data, [3.5, 5.5, 11.5, 13.5]);
  });

  test('backward of avg with dilation, ceil_mode, divisor_override and "same" padding', async () => {
    // 1-D [1, 1, 5], k 2, dilation 2 (window 3), stride 2, "same": out 3, total padding 2 (1 before, 1 after)
    const res = await postJson(convd, '/pool/backward', {
      input: tensor('float32', [1, 1, 5], [1, 2, 3, 4, 5]),
      mode: 'avg',
      kernel_size: 2,
      dilation: 2,
      stride: 2,
      padding: 'same',
      ceil_mode: true,
      divisor_override: 2,
      return_indices: false,
      grad_output: tensor('float32', [1, 1, 3], [2, 4, 6]),
    });
    assert.equal(res.status, 200, res.text);
    // windows {-1, 1}, {1, 3}, {3, 5}: each inside element gets dy / 2
    assert.deepEqual(res.body.grad_input.data, [0, 1 + 2, 0, 2 + 3, 0]);
  });

  test('lp forward and backward (p 2): the Euclidean norm and x / norm', async () => {
    const body = { input: tensor('float64', [1, 1, 4], [3, 4, 6, 8]), mode: 'lp', p: 2, kernel_size: 2 };
    const fwdRes = await postJson(convd, '/pool/forward', body);
    assert.deepEqual(fwdRes.body.output.data, [5, 10]);
    const bwdRes = await postJson(convd, '/pool/backward', {
      ...body,
      grad_output: tensor('float64', [1, 1, 2], [1, 1]),
    });
    const want = [3 / 5, 4 / 5, 6 / 10, 8 / 10];
    (bwdRes.body.grad_input.data as number[]).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-15, `${v}`));
  });

  test("lp_abs: ONNX LpPool's |x|^p forward and backward, beside PyTorch's x^p", async () => {
    const body = { input: tensor('float64', [1, 1, 4], [-3, 4, 1, -2]), mode: 'lp', p: 3, kernel_size: 2 };
    const onnx = await postJson(convd, '/pool/forward', { ...body, lp_abs: true });
    assert.equal(onnx.status, 200, onnx.text);
    assert.deepEqual(onnx.body.output.data, [Math.pow(27 + 64, 1 / 3), Math.pow(1 + 8, 1 / 3)]);
    const torch = await postJson(convd, '/pool/forward', { ...body, lp_abs: false });
    assert.deepEqual(torch.body.output.data, [Math.pow(-27 + 64, 1 / 3), 'NaN']);
    const bwd = await postJson(convd, '/pool/backward', {
      ...body,
      lp_abs: true,
      grad_output: tensor('float64', [1, 1, 2], [1, 1]),
    });
    assert.equal(bwd.status, 200, bwd.text);
    // dy S^(1/p - 1) |x|^(p - 1) sign(x)
    const want = [
      -9 * Math.pow(91, -2 / 3),
      16 * Math.pow(91, -2 / 3),
      1 * Math.pow(9, -2 / 3),
      -4 * Math.pow(9, -2 / 3),
    ];
    (bwd.body.grad_input.data as number[]).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-15, `${v}`));
  });

  test('a NaN in the window is the max; -Infinity pads', async () => {
    const res = await postJson(convd, '/pool/forward', {
      input: tensor('float64', [1, 1, 3], [-5, 'NaN' as unknown as number, -7].map(Number)),
      mode: 'max',
      kernel_size: 2,
      stride: 1,
      padding: 1,
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.output.data, [-5, 'NaN', 'NaN', -7]);
  });
});

describe('400 with errors[].path', () => {
  const fwd = { input: input(), mode: 'max', kernel_size: 2 };
  const bwd = { ...fwd, grad_output: tensor('float32', [1, 1, 2, 2], [1, 1, 1, 1]) };
  const cases: { name: string; op?: 'backward'; body: object; path: string; detail?: RegExp }[] = [
    // schema
    { name: 'missing mode', body: { input: input(), kernel_size: 2 }, path: 'mode', detail: /"max"\|"avg"\|"lp"/ },
    { name: 'unknown mode', body: { ...fwd, mode: 'min' }, path: 'mode', detail: /min/ },
    { name: 'missing kernel_size', body: { input: input(), mode: 'max' }, path: 'kernel_size' },
    { name: 'kernel_size 0', body: { ...fwd, kernel_size: 0 }, path: 'kernel_size' },
    { name: 'negative stride of one dim', body: { ...fwd, stride: [1, 0] }, path: 'stride[1]' },
    { name: 'negative padding', body: { ...fwd, padding: -1 }, path: 'padding' },
    {
      name: 'a padding pair of three',
      body: {
        ...fwd,
        padding: [
          [0, 1, 1],
          [0, 1],
        ],
      },
      path: 'padding',
    },
    { name: 'unknown padding name', body: { ...fwd, padding: 'same_upper' }, path: 'padding', detail: /same_lower/ },
    { name: 'ceil_mode not a boolean', body: { ...fwd, ceil_mode: 1 }, path: 'ceil_mode' },
    { name: 'divisor_override 0', body: { ...fwd, mode: 'avg', divisor_override: 0 }, path: 'divisor_override' },
    { name: 'p of 0', body: { ...fwd, mode: 'lp', p: 0 }, path: 'p' },
    {
      name: 'count_include_pad not a boolean',
      body: { ...fwd, mode: 'avg', count_include_pad: 'yes' },
      path: 'count_include_pad',
    },
    { name: 'a conv field', body: { ...fwd, weight: input() }, path: 'weight', detail: /not a field/ },
    { name: 'missing grad_output', op: 'backward', body: fwd, path: 'grad_output', detail: /required/ },
    { name: 'rank 2 input', body: { ...fwd, input: tensor('float32', [4, 4], X) }, path: 'input.shape' },
    {
      name: 'non-numeric data',
      body: { ...fwd, input: { ...input(), data: ['x', ...X.slice(1)] } },
      path: 'input.data[0]',
    },
    // geometry
    {
      name: 'padding past the window',
      body: { ...fwd, kernel_size: 3, padding: 3 },
      path: 'padding',
      detail: /padding is 3 but kernel_size 3 with dilation 1 allows at most 2 .*PyTorch allows kernel_size \/\/ 2 = 1/,
    },
    {
      name: 'padding past the window in one dim',
      body: { ...fwd, kernel_size: [2, 3], padding: [1, 3] },
      path: 'padding[1]',
      detail: /padding\[1\] is 3 but kernel_size\[1\] 3 with dilation 1 allows at most 2/,
    },
    {
      name: 'one side of a padding pair past the window',
      body: {
        ...fwd,
        padding: [
          [0, 1],
          [2, 0],
        ],
      },
      path: 'padding[1][0]',
      detail: /padding\[1\]\[0\] is 2 but kernel_size 2 with dilation 1 allows at most 1/,
    },
    {
      name: 'divisor_override with max',
      body: { ...fwd, divisor_override: 2 },
      path: 'divisor_override',
      detail: /average pooling only/,
    },
    { name: 'p with avg', body: { ...fwd, mode: 'avg', p: 2 }, path: 'p', detail: /lp pooling only/ },
    {
      name: 'lp_abs with max',
      body: { ...fwd, lp_abs: true },
      path: 'lp_abs',
      detail: /lp_abs is true but it applies to lp pooling only \(mode is max\)/,
    },
    { name: 'lp_abs not a boolean', body: { ...fwd, mode: 'lp', lp_abs: 1 }, path: 'lp_abs' },
    {
      name: 'return_indices with lp',
      body: { ...fwd, mode: 'lp', return_indices: true },
      path: 'return_indices',
      detail: /max pooling only/,
    },
    {
      name: 'storage_order 1 without return_indices',
      body: { ...fwd, storage_order: 1 },
      path: 'storage_order',
      detail: /storage_order is 1 but return_indices is false/,
    },
    {
      name: 'storage_order 1 without return_indices, backward',
      op: 'backward',
      body: { ...bwd, storage_order: 1 },
      path: 'storage_order',
      detail: /return_indices is false/,
    },
    {
      name: 'storage_order 1 with avg',
      body: { ...fwd, mode: 'avg', storage_order: 1 },
      path: 'storage_order',
      detail: /max pooling only \(mode is avg\)/,
    },
    { name: 'storage_order 2', body: { ...fwd, return_indices: true, storage_order: 2 }, path: 'storage_order' },
    {
      name: 'count_include_pad with max',
      body: { ...fwd, count_include_pad: false },
      path: 'count_include_pad',
      detail: /average pooling only/,
    },
    {
      name: 'kernel_size of another rank',
      body: { ...fwd, kernel_size: [2, 2, 2] },
      path: 'kernel_size',
      detail: /3 values but the pooling has 2 spatial dims/,
    },
    {
      name: 'output extent < 1',
      body: { ...fwd, kernel_size: [5, 2] },
      path: 'input.shape[2]',
      detail: /output extent of spatial dim 0 is 0 < 1/,
    },
    { name: 'layout alias of another rank', body: { ...fwd, layout: 'NCW' }, path: 'layout' },
    {
      name: 'grad_output shape',
      op: 'backward',
      body: { ...bwd, grad_output: tensor('float32', [1, 1, 3, 3], Array(9).fill(1)) },
      path: 'grad_output.shape',
      detail: /\[1, 1, 2, 2\]/,
    },
    {
      name: 'grad_output dtype',
      op: 'backward',
      body: { ...bwd, grad_output: tensor('float64', [1, 1, 2, 2], [1, 1, 1, 1]) },
      path: 'grad_output.dtype',
    },
    // data lengths, after geometry and limits
    {
      name: 'input data one short',
      body: { ...fwd, input: { ...input(), data: X.slice(1) } },
      path: 'input.data',
      detail: /has 15 values .* needs 16/,
    },
    {
      name: 'grad_output data one short',
      op: 'backward',
      body: { ...bwd, grad_output: tensor('float32', [1, 1, 2, 2], [1, 1, 1]) },
      path: 'grad_output.data',
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = await postJson(convd, c.op === 'backward' ? '/pool/backward' : '/pool/forward', c.body);
      assertProblem(res, 400, c.path);
      if (c.detail) assert.match(res.body.detail, c.detail);
    });
  }
});

describe('adaptive and global pooling', () => {
  test('adaptive avg forward: overlapping windows; global max with indices (channels_last)', async () => {
    const avg = await postJson(convd, '/pool/adaptive/forward', {
      input: tensor('float64', [1, 1, 5], [1, 2, 3, 4, 5]),
      mode: 'avg',
      output_size: 3,
    });
    assert.equal(avg.status, 200, avg.text);
    assert.deepEqual(avg.body.output, { dtype: 'float64', shape: [1, 1, 3], data: [1.5, 3, 4.5] });
    const max = await postJson(convd, '/pool/adaptive/forward', {
      input: tensor('float32', [1, 2, 2, 2], [1, 8, 5, 2, 7, 3, 4, 6]),
      mode: 'max',
      output_size: 1,
      return_indices: true,
      layout: 'NHWC',
    });
    assert.equal(max.status, 200, max.text);
    assert.deepEqual(max.body, {
      output: { dtype: 'float32', shape: [1, 1, 1, 2], data: [7, 8] },
      indices: { dtype: 'float32', shape: [1, 1, 1, 2], data: [2, 0] },
    });
    // column-major: (h, w) = (1, 0) of channel 0 is 1 + 2 * 0 = 1; (0, 0) stays 0
    const ordered = await postJson(convd, '/pool/adaptive/forward', {
      input: tensor('float32', [1, 2, 2, 2], [1, 8, 5, 2, 7, 3, 4, 6]),
      mode: 'max',
      output_size: 1,
      return_indices: true,
      storage_order: 1,
      layout: 'NHWC',
    });
    assert.equal(ordered.status, 200, ordered.text);
    assert.deepEqual(ordered.body.indices.data, [1, 0]);
    // ONNX GlobalLpPool: (sum |x|^p)^(1/p) over each channel
    const global = await postJson(convd, '/pool/adaptive/forward', {
      input: tensor('float64', [1, 1, 2, 2], [-1, 2, -2, 1]),
      mode: 'lp',
      p: 3,
      lp_abs: true,
      output_size: 1,
    });
    assert.equal(global.status, 200, global.text);
    assert.deepEqual(global.body.output.data, [Math.pow(18, 1 / 3)]);
  });

  test('adaptive backward, msgpack: overlapping windows add up', async () => {
    const body = {
      input: tensor('float64', [1, 1, 5], [1, 2, 3, 4, 5], 'bin'),
      mode: 'avg',
      output_size: 3,
      grad_output: tensor('float64', [1, 1, 3], [2, 3, 4], 'bin'),
    };
    const res = await request(convd.app.server)
      .post('/pool/adaptive/backward')
      .set('content-type', 'application/msgpack')
      .buffer(true)
      .parse(rawBody)
      .send(packBin.pack(body));
    assert.equal(res.status, 200);
    // windows [0, 2), [1, 4), [3, 5): 2 / 2, 3 / 3, 4 / 2
    assert.deepEqual(values(unpackr.unpack(res.body).grad_input), [1, 1 + 1, 1, 1 + 2, 2]);
  });

  const fwd = { input: input(), mode: 'avg', output_size: 2 };
  const cases: { name: string; path?: string; body: object; at: string; detail?: RegExp }[] = [
    { name: 'missing output_size', body: { input: input(), mode: 'avg' }, at: 'output_size' },
    { name: 'output_size 0', body: { ...fwd, output_size: 0 }, at: 'output_size' },
    {
      name: 'output_size of another rank',
      body: { ...fwd, output_size: [1, 2, 3] },
      at: 'output_size',
      detail: /3 values/,
    },
    { name: 'p with max', body: { ...fwd, mode: 'max', p: 2 }, at: 'p', detail: /lp pooling only/ },
    { name: 'lp_abs with avg', body: { ...fwd, lp_abs: true }, at: 'lp_abs', detail: /lp pooling only/ },
    {
      name: 'storage_order 1 without return_indices',
      body: { ...fwd, mode: 'max', storage_order: 1 },
      at: 'storage_order',
      detail: /return_indices is false/,
    },
    { name: 'a window field', body: { ...fwd, kernel_size: 2 }, at: 'kernel_size', detail: /not a field/ },
    {
      name: 'grad_output shape',
      path: '/pool/adaptive/backward',
      body: { ...fwd, grad_output: tensor('float32', [1, 1, 3, 3], Array(9).fill(1)) },
      at: 'grad_output.shape',
      detail: /\[1, 1, 2, 2\]/,
    },
  ];
  for (const c of cases) {
    test(`400: ${c.name}`, async () => {
      const res = await postJson(convd, c.path ?? '/pool/adaptive/forward', c.body);
      assertProblem(res, 400, c.at);
      if (c.detail) assert.match(res.body.detail, c.detail);
    });
  }
});

describe('413: work limits from shapes, before any allocation', () => {
  let small: ConvdApp;
  before(async () => {
    small = await testApp({ config: { maxTensorElements: 1000, maxOutputBytes: 1024, maxFlops: 10_000 } });
  });
  after(() => small.app.close());

  test('elements of one tensor', async () => {
    const res = await postJson(small, '/pool/forward', {
      input: tensor('float32', [1, 1, 40, 40], []),
      mode: 'max',
      kernel_size: 2,
    });
    assertProblem(res, 413, 'input.shape');
    assert.match(res.body.detail, /1600 elements; the limit is 1000/);
  });

  test('output bytes (backward: grad_input is input-sized)', async () => {
    const res = await postJson(small, '/pool/backward', {
      input: tensor('float64', [1, 1, 200], []),
      mode: 'avg',
      kernel_size: 4,
      grad_output: tensor('float64', [1, 1, 50], []),
    });
    assertProblem(res, 413);
    assert.match(res.body.detail, /outputs would take 1600 bytes; the limit is 1024 bytes/);
  });

  test('FLOPs', async () => {
    const res = await postJson(small, '/pool/forward', {
      input: tensor('float32', [1, 1, 30, 30], []),
      mode: 'max',
      kernel_size: 5,
      stride: 1,
    });
    assertProblem(res, 413);
    assert.match(res.body.detail, /needs 16900 FLOPs; the limit is 10000/);
  });
});

test('metrics count pooling FLOPs and output bytes by op', async () => {
  await postJson(convd, '/pool/forward', { input: input(), mode: 'avg', kernel_size: 2 });
  await postJson(convd, '/pool/backward', {
    input: input(),
    mode: 'max',
    kernel_size: 2,
    grad_output: tensor('float32', [1, 1, 2, 2], [1, 1, 1, 1]),
  });
  const text = (await request(convd.app.server).get('/metrics').expect(200)).text;
  assert.match(text, /convd_flops_computed_total\{op="pool_forward"\} \d+/);
  assert.match(text, /convd_output_bytes_computed_total\{op="pool_backward"\} \d+/);
  assert.match(
    text,
    /convd_http_request_duration_seconds_count\{method="POST",route="\/pool\/forward",status="200"\} \d+/,
  );
});

test('the OpenAPI document describes both pooling endpoints: tags, defaults and examples', async () => {
  const doc = JSON.parse((await request(convd.app.server).get('/openapi.json').expect(200)).text);
  for (const path of ['/pool/forward', '/pool/backward']) {
    const op = doc.paths[path].post;
    assert.deepEqual(op.tags, ['pooling']);
  }
  const forward = doc.components.schemas.PoolForwardRequest;
  assert.deepEqual(forward.required, ['input', 'mode', 'kernel_size']);
  assert.deepEqual(
    [
      forward.properties.padding.default,
      forward.properties.dilation.default,
      forward.properties.stride.default,
      forward.properties.ceil_mode.default,
      forward.properties.divisor_override.default,
      forward.properties.return_indices.default,
      forward.properties.storage_order.default,
      forward.properties.lp_abs.default,
    ],
    [0, 1, undefined, false, null, false, 0, false],
  );
  for (const path of ['/pool/forward', '/pool/backward'])
    assert.ok(Object.keys(doc.paths[path].post.requestBody.content['application/json'].examples).length > 0);
});
