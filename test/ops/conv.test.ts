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
