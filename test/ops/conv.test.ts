/**
 * POST /conv/forward and /conv/backward end to end through the real worker pool and kernels,
 * in every request data form and both response encodings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import {
  EXAMPLE,
  exampleBackward,
  exampleForward,
  packBin,
  packTyped,
  rawBody,
  assertProblem,
  postJson,
  tensor,
  testApp,
  unpackr,
  values,
  type ConvdApp,
  type DType,
  type Form,
} from '../service/helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

/** POSTs `body` as JSON or msgpack and returns the decoded answer and its content type. */
async function post(path: string, body: object, opts: { send: 'json' | 'msgpack' | 'msgpack-typed'; accept?: string }) {
  const isJson = opts.send === 'json';
  const req = request(convd.app.server)
    .post(path)
    .set('content-type', isJson ? 'application/json' : 'application/msgpack')
    .buffer(true)
    .parse(rawBody);
  if (opts.accept) req.set('accept', opts.accept);
  const res = await req.send(
    isJson ? JSON.stringify(body) : (opts.send === 'msgpack' ? packBin : packTyped).pack(body),
  );
  const type = String(res.headers['content-type']);
  const payload = type.startsWith('application/msgpack')
    ? unpackr.unpack(res.body)
    : JSON.parse(res.body.toString('utf8'));
  return { status: res.status, type, payload };
}

const WIRE_VARIANTS: {
  name: string;
  form: Form;
  send: 'json' | 'msgpack' | 'msgpack-typed';
  accept?: string;
  extra?: object;
}[] = [
  { name: 'msgpack bin -> msgpack', form: 'bin', send: 'msgpack' },
  {
    name: 'msgpack typed-array extension -> msgpack',
    form: 'typed',
    send: 'msgpack-typed',
    accept: 'application/msgpack',
  },
  { name: 'msgpack bin -> JSON', form: 'bin', send: 'msgpack', accept: 'application/json' },
  { name: 'JSON arrays -> JSON', form: 'array', send: 'json', accept: 'application/json' },
  {
    name: 'JSON base64 -> JSON base64',
    form: 'base64',
    send: 'json',
    accept: 'application/json',
    extra: { encoding: 'base64' },
  },
  { name: 'JSON arrays -> msgpack (default)', form: 'array', send: 'json' },
];

for (const dtype of ['float32', 'float64'] as DType[]) {
  describe(`forward and backward, ${dtype}`, () => {
    for (const v of WIRE_VARIANTS) {
      test(`forward: ${v.name}`, async () => {
        const bias = tensor(dtype, [1], [0.5], v.form);
        const res = await post('/conv/forward', { ...exampleForward(dtype, v.form), bias, ...v.extra }, v);
        assert.equal(res.status, 200, JSON.stringify(res.payload));
        assert.deepEqual(Object.keys(res.payload), ['output']);
        assert.equal(res.payload.output.dtype, dtype);
        assert.deepEqual(res.payload.output.shape, EXAMPLE.output.shape);
        assert.deepEqual(values(res.payload.output), [-3.5, -3.5, -3.5, -3.5]);
        if (v.send !== 'json' && !v.accept?.includes('json'))
          assert.ok(res.payload.output.data instanceof Uint8Array, 'msgpack data is a bin');
        if (v.extra) assert.equal(typeof res.payload.output.data, 'string', 'base64 asked, base64 answered');
      });

      test(`backward: ${v.name}`, async () => {
        const res = await post('/conv/backward', { ...exampleBackward(dtype, v.form), ...v.extra }, v);
        assert.equal(res.status, 200, JSON.stringify(res.payload));
        assert.deepEqual(Object.keys(res.payload).sort(), ['grad_bias', 'grad_input', 'grad_weight']);
        assert.deepEqual(res.payload.grad_input.shape, EXAMPLE.input.shape);
        assert.deepEqual(values(res.payload.grad_input), EXAMPLE.gradInput);
        assert.deepEqual(res.payload.grad_weight.shape, EXAMPLE.weight.shape);
        assert.deepEqual(values(res.payload.grad_weight), EXAMPLE.gradWeight);
        assert.deepEqual(res.payload.grad_bias.shape, [1]);
        assert.deepEqual(values(res.payload.grad_bias), EXAMPLE.gradBias);
      });
    }
  });
}

test('backward answers exactly the requested grads', async () => {
  for (const grads of [['weight'], ['bias', 'input'], []]) {
    const res = await post(
      '/conv/backward',
      { ...exampleBackward(), grads },
      { send: 'json', accept: 'application/json' },
    );
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.payload).sort(), grads.map((g) => `grad_${g}`).sort());
  }
});

test('backward checks a bias shape but ignores its values', async () => {
  const bias = tensor('float32', [1], [1e30]);
  const res = await post(
    '/conv/backward',
    { ...exampleBackward(), bias, grads: ['bias'] },
    { send: 'json', accept: 'application/json' },
  );
  assert.deepEqual(values(res.payload.grad_bias), EXAMPLE.gradBias);
});

test('non-finite values travel as "NaN" / "Infinity" / "-Infinity" in JSON', async () => {
  const input = tensor('float64', [1, 1, 3], [Number.NaN, 1, Number.POSITIVE_INFINITY]);
  const weight = tensor('float64', [1, 1, 1], [-1]);
  const res = await post('/conv/forward', { input, weight }, { send: 'json', accept: 'application/json' });
  assert.equal(res.status, 200);
  assert.deepEqual(res.payload.output.data, ['NaN', -1, '-Infinity']);
});

describe('weight_layout: a PyTorch [C_out, C_in, kH, kW] weight beside channels_last data', () => {
  // input [1, 2, 3, 3] NCHW and its NHWC copy; weight [C_out 2, C_in 2, 2, 2]
  const nchw = Array.from({ length: 18 }, (_, i) => (i % 7) - 3);
  const nhwc = Array.from({ length: 18 }, (_, f) => {
    const [h, w, c] = [Math.floor(f / 6), Math.floor((f % 6) / 2), f % 2];
    return nchw[c * 9 + h * 3 + w];
  });
  const oihw = Array.from({ length: 16 }, (_, i) => (i % 5) - 2);
  const toNhwc = (data: number[], channels: number, hw: number) =>
    Array.from({ length: data.length }, (_, f) => data[(f % channels) * hw + Math.floor(f / channels)]);

  test('forward: NHWC with weight_layout "OIHW" is the NCHW answer, channels last', async () => {
    const first = await postJson(convd, '/conv/forward', {
      input: tensor('float64', [1, 2, 3, 3], nchw),
      weight: tensor('float64', [2, 2, 2, 2], oihw),
    });
    const last = await postJson(convd, '/conv/forward', {
      input: tensor('float64', [1, 3, 3, 2], nhwc),
      weight: tensor('float64', [2, 2, 2, 2], oihw),
      layout: 'NHWC',
      weight_layout: 'OIHW',
    });
    assert.equal(last.status, 200, last.text);
    assert.deepEqual(last.body.output.shape, [1, 2, 2, 2]);
    assert.deepEqual(last.body.output.data, toNhwc(first.body.output.data, 2, 4));
  });

  test('backward: grad_weight comes back in the weight_layout sent', async () => {
    const dy = Array.from({ length: 8 }, (_, i) => i - 3.5);
    const first = await postJson(convd, '/conv/backward', {
      input: tensor('float64', [1, 2, 3, 3], nchw),
      weight: tensor('float64', [2, 2, 2, 2], oihw),
      grad_output: tensor('float64', [1, 2, 2, 2], dy),
      grads: ['weight', 'input'],
    });
    const last = await postJson(convd, '/conv/backward', {
      input: tensor('float64', [1, 3, 3, 2], nhwc),
      weight: tensor('float64', [2, 2, 2, 2], oihw),
      grad_output: tensor('float64', [1, 2, 2, 2], toNhwc(dy, 2, 4)),
      layout: 'NHWC',
      weight_layout: 'OIHW',
      grads: ['weight', 'input'],
    });
    assert.equal(last.status, 200, last.text);
    assert.deepEqual(last.body.grad_weight, first.body.grad_weight);
    assert.deepEqual(last.body.grad_input.data, toNhwc(first.body.grad_input.data, 2, 9));
  });

  test('a weight whose shape does not fit gets the weight_layout hint; a name of another rank is refused', async () => {
    const res = await postJson(convd, '/conv/forward', {
      input: tensor('float32', [1, 5, 5, 3], Array(75).fill(1)),
      weight: tensor('float32', [4, 3, 2, 2], Array(48).fill(1)),
      layout: 'NHWC',
    });
    assertProblem(res, 400, 'weight.shape[2]');
    assert.match(res.body.detail, /the weight looks \[C_out, C_in\/groups, kH, kW\]: send weight_layout: "OIHW"/);
    const rank = await postJson(convd, '/conv/forward', {
      input: tensor('float32', [1, 5, 5, 3], Array(75).fill(1)),
      weight: tensor('float32', [4, 3, 2, 2], Array(48).fill(1)),
      layout: 'NHWC',
      weight_layout: 'OIW',
    });
    assertProblem(rank, 400, 'weight_layout');
    assert.match(
      rank.body.detail,
      /weight_layout OIW is for rank-3 weights but the weight has rank 4; OIHW is its rank-4 name/,
    );
    const unknown = await postJson(convd, '/conv/forward', { ...exampleForward(), weight_layout: 'oihw' });
    assertProblem(unknown, 400, 'weight_layout');
  });
});

describe('padding "same_lower" (ONNX auto_pad SAME_LOWER)', () => {
  const x = Array.from({ length: 25 }, (_, i) => i);
  const ones = tensor('float32', [1, 1, 3, 3], Array(9).fill(1));

  test("ONNX Conv's conv_with_autopad_same example: 5x5, 3x3 ones, strides 2", async () => {
    const res = await postJson(convd, '/conv/forward', {
      input: tensor('float32', [1, 1, 5, 5], x),
      weight: ones,
      stride: 2,
      padding: 'same_lower',
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.output, {
      dtype: 'float32',
      shape: [1, 1, 3, 3],
      data: [12, 27, 24, 63, 108, 81, 72, 117, 84],
    });
  });

  test('an odd total padding puts its extra position before; "same" puts it after', async () => {
    // 1-D, in 4, k 2, stride 1: total padding 1
    const body = { input: tensor('float32', [1, 1, 4], [1, 2, 3, 4]), weight: tensor('float32', [1, 1, 2], [1, 10]) };
    const lower = await postJson(convd, '/conv/forward', { ...body, padding: 'same_lower' });
    const upper = await postJson(convd, '/conv/forward', { ...body, padding: 'same' });
    assert.equal(lower.status, 200, lower.text);
    // [0, 1, 2, 3, 4]: windows (0, 1), (1, 2), ...
    assert.deepEqual(lower.body.output.data, [10, 21, 32, 43]);
    // [1, 2, 3, 4, 0]
    assert.deepEqual(upper.body.output.data, [21, 32, 43, 4]);
    const explicit = await postJson(convd, '/conv/forward', { ...body, padding: [[1, 0]] });
    assert.deepEqual(explicit.body.output.data, lower.body.output.data);
    const back = await postJson(convd, '/conv/backward', {
      ...body,
      padding: 'same_lower',
      grad_output: tensor('float32', [1, 1, 4], [1, 1, 1, 1]),
      grads: ['input'],
    });
    assert.equal(back.status, 200, back.text);
    // each x[i] meets w[1] at output i and w[0] at output i + 1 (when it exists)
    assert.deepEqual(back.body.grad_input.data, [11, 11, 11, 10]);
  });
});
