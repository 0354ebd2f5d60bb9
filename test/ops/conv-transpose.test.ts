/**
 * POST /conv/transpose end to end through the real worker pool: wire forms and both response
 * encodings, both dtypes and layouts, bias, output_padding; every error as problem+json with
 * its status and errors[].path; work limits (413) from shapes; metrics.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

/** ONNX's ConvTranspose backend tests (onnx/backend/test/case/node/convtranspose.py): x = 0..8 as [1, 1, 3, 3], W ones [1, 2, 3, 3]. */
const ONNX_X = tensor('float32', [1, 1, 3, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
const ONNX_W = tensor('float32', [1, 2, 3, 3], Array(18).fill(1));
/** Both output channels of an ONNX expected output are the same rows. */
const twice = (rows: number[][]) => [...rows.flat(), ...rows.flat()];
/** test_convtranspose_output_shape, test_convtranspose_pad and test_convtranspose_kernel_shape: [1, 2, 10, 8]. */
const ONNX_10X8 = twice([
  ...Array(3).fill([0, 0, 1, 1, 3, 2, 2, 0]),
  ...Array(3).fill([3, 3, 7, 4, 9, 5, 5, 0]),
  ...Array(3).fill([6, 6, 13, 7, 15, 8, 8, 0]),
  Array(8).fill(0),
] as number[][]);

describe('ONNX ConvTranspose auto_pad and output_shape, PyTorch output_size', () => {
  const onnx: { name: string; fields: object; shape: number[]; data: number[] }[] = [
    {
      name: 'test_convtranspose_autopad_same: auto_pad SAME_UPPER is "same"',
      fields: { padding: 'same', stride: [2, 2] },
      shape: [1, 2, 6, 6],
      data: twice([
        [0, 0, 1, 1, 3, 2],
        [0, 0, 1, 1, 3, 2],
        [3, 3, 8, 5, 12, 7],
        [3, 3, 7, 4, 9, 5],
        [9, 9, 20, 11, 24, 13],
        [6, 6, 13, 7, 15, 8],
      ]),
    },
    {
      name: 'test_convtranspose_output_shape: output_shape with auto_pad NOTSET is "same_lower" + output_size',
      fields: { padding: 'same_lower', stride: [3, 2], output_size: [10, 8] },
      shape: [1, 2, 10, 8],
      data: ONNX_10X8,
    },
    {
      name: 'test_convtranspose_kernel_shape: output_shape and output_padding',
      fields: { padding: 'same_lower', stride: [3, 2], output_size: [10, 8], output_padding: [1, 1] },
      shape: [1, 2, 10, 8],
      data: ONNX_10X8,
    },
    {
      name: 'test_convtranspose_pad: output_padding alone, and as PyTorch output_size',
      fields: { stride: [3, 2], output_size: [10, 8] },
      shape: [1, 2, 10, 8],
      data: ONNX_10X8,
    },
    {
      name: 'test_convtranspose_pads: pads [1, 2, 1, 2] are [[1, 1], [2, 2]]',
      fields: {
        stride: [3, 2],
        padding: [
          [1, 1],
          [2, 2],
        ],
      },
      shape: [1, 2, 7, 3],
      data: twice([
        [1, 1, 3],
        [1, 1, 3],
        [7, 4, 9],
        [7, 4, 9],
        [7, 4, 9],
        [13, 7, 15],
        [13, 7, 15],
      ]),
    },
  ];
  for (const c of onnx) {
    test(c.name, async () => {
      const res = await postJson(convd, '/conv/transpose', { input: ONNX_X, weight: ONNX_W, ...c.fields });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.output.shape, c.shape);
      assert.deepEqual(res.body.output.data, c.data);
    });
  }

  test('test_convtranspose_dilations: dilation 2, 2x2 kernel', async () => {
    const res = await postJson(convd, '/conv/transpose', {
      input: tensor('float32', [1, 1, 3, 3], [3, 8, 1, 9, 5, 7, 3, 2, 6]),
      weight: tensor('float32', [1, 1, 2, 2], [7, 2, 1, 9]),
      dilation: 2,
      padding: 'valid',
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.body.output.data,
      [21, 56, 13, 16, 2, 63, 35, 67, 10, 14, 24, 22, 76, 76, 21, 9, 5, 88, 45, 63, 3, 2, 33, 18, 54],
    );
  });

  test('an odd total padding: "same" drops the last position of the unpadded output, "same_lower" the first', async () => {
    // 1-D, in 3, k 3, stride 2: the unpadded output has 7 positions, in * stride = 6
    const body = { ...example('float64'), padding: 0, output_padding: 0 };
    const full = await postJson(convd, '/conv/transpose', body);
    const upper = await postJson(convd, '/conv/transpose', { ...body, padding: 'same' });
    const lower = await postJson(convd, '/conv/transpose', { ...body, padding: 'same_lower' });
    assert.equal(full.body.output.data.length, 7);
    assert.deepEqual(upper.body.output.data, full.body.output.data.slice(0, 6));
    assert.deepEqual(lower.body.output.data, full.body.output.data.slice(1));
  });

  test('"same" above the unpadded extent pads nothing and ends in zeros (onnxruntime)', async () => {
    // k 1, stride 3: the unpadded output [1, 0, 0, 2] is 4 long, in * stride = 6
    const res = await postJson(convd, '/conv/transpose', {
      input: tensor('float64', [1, 1, 2], [1, 2]),
      weight: tensor('float64', [1, 1, 1], [1]),
      stride: 3,
      padding: 'same',
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.output.data, [1, 0, 0, 2, 0, 0]);
  });

  test('output_size as an int, per dim and as the whole output shape give the same answer', async () => {
    const body = { ...example('float64'), output_padding: 0 };
    for (const output_size of [6, [6], [1, 1, 6]]) {
      const res = await postJson(convd, '/conv/transpose', { ...body, output_size });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.output.data, EXPECTED, JSON.stringify(output_size));
    }
  });
});

interface TorchTransposeCase {
  fields: Record<string, unknown>;
  input: { shape: number[]; data: number[] };
  weight: { shape: number[]; data: number[] };
  bias: number[];
  output: { shape: number[]; data: number[] };
  grad_output: number[];
  grad_input: number[];
  grad_weight: number[];
  grad_bias: number[];
}

describe('PyTorch ConvTranspose*d(x, output_size): test/fixtures/torch/conv-transpose.json', () => {
  const fixture = JSON.parse(
    readFileSync(new URL('../../../test/fixtures/torch/conv-transpose.json', import.meta.url), 'utf8'),
  ) as { torch: string; cases: TorchTransposeCase[] };
  const close = (got: number[], want: number[], what: string) => {
    assert.equal(got.length, want.length, `${what}: length`);
    want.forEach((w, i) =>
      assert.ok(Math.abs(got[i] - w) <= 1e-12 * Math.max(1, Math.abs(w)), `${what}[${i}]: ${got[i]} vs torch ${w}`),
    );
  };
  for (const c of fixture.cases) {
    test(`torch ${fixture.torch}: ${JSON.stringify(c.fields)} on [${c.input.shape.join(', ')}], forward and backward`, async () => {
      const operands = {
        input: tensor('float64', c.input.shape, c.input.data),
        weight: tensor('float64', c.weight.shape, c.weight.data),
        ...c.fields,
      };
      const forward = await postJson(convd, '/conv/transpose', {
        ...operands,
        bias: tensor('float64', [c.bias.length], c.bias),
      });
      assert.equal(forward.status, 200, forward.text);
      assert.deepEqual(forward.body.output.shape, c.output.shape);
      close(forward.body.output.data, c.output.data, 'output');
      const backward = await postJson(convd, '/conv/transpose/backward', {
        ...operands,
        grad_output: tensor('float64', c.output.shape, c.grad_output),
      });
      assert.equal(backward.status, 200, backward.text);
      close(backward.body.grad_input.data, c.grad_input, 'grad_input');
      close(backward.body.grad_weight.data, c.grad_weight, 'grad_weight');
      close(backward.body.grad_bias.data, c.grad_bias, 'grad_bias');
    });
  }
});

describe('400 with errors[].path', () => {
  const ex = example();
  const cases: { name: string; body: object; path: string; detail?: RegExp }[] = [
    // schema
    { name: 'padding "full"', body: { ...ex, padding: 'full' }, path: 'padding' },
    { name: 'output_size 0', body: { ...ex, output_size: 0 }, path: 'output_size' },
    { name: 'padding pair of three', body: { ...ex, padding: [[1, 0, 1]] }, path: 'padding' },
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
    {
      name: 'padding of another rank',
      body: { ...ex, padding: [1, 1] },
      path: 'padding',
      detail: /2 entries but the transposed convolution has 1 spatial dims/,
    },
    {
      name: 'output_size outside what output_padding can reach',
      body: { ...ex, output_padding: 0, output_size: 8 },
      path: 'output_size',
      detail:
        /output_size is 8 but must be from 5 to 6: the output_padding it sets, from 0 to max\(stride 2, dilation 1\) - 1, added to 5 \(spatial dim 0\)/,
    },
    {
      name: 'output_size and an output_padding that disagree',
      body: { ...ex, output_size: [5] },
      path: 'output_size[0]',
      detail: /output_size\[0\] is 5, which sets output_padding 0, but output_padding is 1; send one of the two/,
    },
    {
      name: 'output_size of another rank',
      body: { ...ex, output_size: [6, 6] },
      path: 'output_size',
      detail: /2 values but the transposed convolution has 1 spatial dims \(give 1, or the whole output shape of 3\)/,
    },
    {
      name: 'output_size as a whole shape with other channels',
      body: { ...ex, output_size: [1, 2, 6] },
      path: 'output_size[1]',
      detail: /output_size\[1\] is 2 but the output has 1 channels/,
    },
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
    output_size: undefined,
    dilation: 1,
    groups: 1,
    layout: 'channels_first',
    encoding: 'array',
  });
  assert.ok(Object.keys(op.requestBody.content['application/json'].examples).length > 0);
});
