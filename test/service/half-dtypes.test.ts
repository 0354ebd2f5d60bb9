/**
 * float16 and bfloat16 requests, for every operation of the registry and every wire form: the
 * answer must be the float32 answer to the same (rounded) operands, each element rounded once to
 * the request dtype, to nearest with ties to even (the rounding from its definition,
 * test/reference/half.ts). The operands are each operation's documented request examples with
 * their values scaled off the grid, so that both the operands and the results need rounding.
 * Run with JSON parsed and written on the event loop and on the JSON threads. Then the bad
 * requests a 2-byte dtype brings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { answerBytes } from '../../src/admission/estimate.js';
import { reserveWork, type WorkNeed } from '../../src/limits.js';
import { OPS } from '../../src/ops/index.js';
import { halfBytes, halfValue, halfValuesOf, nearestHalf, nearestHalfBits, type Half } from '../reference/half.js';
import { packBin, packTyped, testApp, unpackr, type ConvdApp } from './helpers.js';

const HALVES: readonly Half[] = ['float16', 'bfloat16'];
type WireTensor = { dtype: string; shape: number[]; data: unknown };
type Body = Record<string, unknown>;

/** How a request travels and how its answer comes back. */
const FORMS = {
  'JSON numbers, JSON answer': { body: 'json', data: 'array', accept: 'application/json' },
  'JSON base64, base64 answer': { body: 'json', data: 'base64', accept: 'application/json' },
  'msgpack bin, msgpack answer': { body: 'msgpack', data: 'bin', accept: 'application/msgpack' },
  'msgpack numbers, JSON answer': { body: 'msgpack', data: 'array', accept: 'application/json' },
  'msgpack base64, msgpack answer': { body: 'msgpack', data: 'base64', accept: 'application/msgpack' },
} as const;
type Form = (typeof FORMS)[keyof typeof FORMS];

const isTensor = (v: unknown): v is WireTensor =>
  typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v;
const jsonNumber = (v: number) => (Number.isFinite(v) ? v : String(v));

function float32Values(t: WireTensor): number[] {
  if (Array.isArray(t.data)) return t.data.map(Number);
  return Array.from(new Float32Array(Uint8Array.from(Buffer.from(t.data as string, 'base64')).buffer));
}

/** Off the grid of both dtypes, and different per element: the operands need rounding. */
const offGrid = (values: number[]) => values.map((v, i) => v * 1.0137 + (i % 7) * 0.0291 - 0.05);

/** The example with its tensors' values `offGrid`, as `dtype` in `form`, and the same rounded operands as float32. */
function requests(example: Body, dtype: Half, form: Form): { half: Body; float32: Body } {
  const half: Body = {};
  const float32: Body = {};
  for (const [key, value] of Object.entries(example)) {
    if (key === 'encoding') continue;
    if (!isTensor(value)) {
      half[key] = float32[key] = value;
      continue;
    }
    const values = offGrid(float32Values(value));
    const bytes = halfBytes(dtype, values);
    const data = { array: values.map(jsonNumber), base64: bytes.toString('base64'), bin: bytes }[form.data];
    half[key] = { dtype, shape: value.shape, data };
    float32[key] = { dtype: 'float32', shape: value.shape, data: values.map((v) => nearestHalf(dtype, v)) };
  }
  if (form.data === 'base64') half.encoding = 'base64';
  return { half, float32 };
}

async function post(convd: ConvdApp, path: string, body: Body, form: Pick<Form, 'body' | 'accept'>) {
  const res = await convd.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': `application/${form.body}`, accept: form.accept },
    payload: form.body === 'json' ? JSON.stringify(body) : packBin.pack(body),
  });
  assert.equal(res.statusCode, 200, res.body);
  return (form.accept === 'application/json' ? res.json() : unpackr.unpack(res.rawPayload)) as Record<
    string,
    WireTensor
  >;
}

/** The values of an answer tensor of `dtype`, whatever its form; the bytes must be 2 per element. */
function answerValues(dtype: Half, t: WireTensor): number[] {
  if (Array.isArray(t.data)) return t.data.map(Number);
  const bytes = typeof t.data === 'string' ? Buffer.from(t.data, 'base64') : (t.data as Uint8Array);
  assert.equal(bytes.byteLength, 2 * t.shape.reduce((a, b) => a * b, 1), 'two bytes an element');
  return halfValuesOf(dtype, bytes);
}

const float32Answer = (t: WireTensor): number[] =>
  Array.from(new Float32Array(Uint8Array.from(t.data as Uint8Array).buffer));

for (const [mode, config] of [
  ['on the event loop', {}],
  ['on the JSON threads', { jsonOffloadBytes: 1 }],
] as const) {
  describe(`float16 and bfloat16 answers are the float32 answers rounded once (JSON ${mode})`, () => {
    let convd: ConvdApp;
    before(async () => {
      convd = await testApp({ config });
    });
    after(() => convd.app.close());

    for (const op of OPS) {
      for (const [name, example] of Object.entries(op.examples.requests)) {
        test(`${op.route.path} "${name}": every wire form, both dtypes`, async () => {
          for (const dtype of HALVES) {
            for (const [formName, form] of Object.entries(FORMS)) {
              const { half, float32 } = requests(example.request, dtype, form);
              const want = await post(convd, op.route.path, float32, { body: 'json', accept: 'application/msgpack' });
              const got = await post(convd, op.route.path, half, form);
              assert.deepEqual(Object.keys(got), Object.keys(want), `${dtype}, ${formName}: the same results`);
              for (const [field, w] of Object.entries(want)) {
                const where = `${dtype}, ${formName}, ${field}`;
                assert.equal(got[field].dtype, dtype, where);
                assert.deepEqual(got[field].shape, w.shape, where);
                if (form.data !== 'array' || form.accept !== 'application/json')
                  assert.equal(typeof got[field].data, form.accept === 'application/json' ? 'string' : 'object', where);
                const values = answerValues(dtype, got[field]);
                float32Answer(w).forEach((v, i) => {
                  const rounded = halfValue(dtype, nearestHalfBits(dtype, v));
                  assert.ok(
                    Object.is(values[i], rounded) || (Number.isNaN(values[i]) && Number.isNaN(rounded)),
                    `${where}[${i}]: float32 ${v} rounds to ${rounded}, not ${values[i]}`,
                  );
                });
              }
            }
          }
        });
      }
    }
  });
}

describe('bad float16 and bfloat16 requests', () => {
  let convd: ConvdApp;
  before(async () => {
    convd = await testApp({ config: { maxOutputBytes: 15 } });
  });
  after(() => convd.app.close());

  const weight = (dtype: string) => ({ dtype, shape: [1, 1, 1], data: [2] });
  const send = (body: Body, as: 'json' | 'msgpack' = 'msgpack', packr = packBin) =>
    convd.app.inject({
      method: 'POST',
      url: '/conv/forward',
      headers: { 'content-type': `application/${as}`, accept: 'application/json' },
      payload: as === 'json' ? JSON.stringify(body) : packr.pack(body),
    });
  const problem = (
    res: Awaited<ReturnType<typeof send>>,
    status: number,
    type: string,
    path: string,
    detail: RegExp,
  ) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    const p = res.json<{ type: string; detail: string; errors: { path: string; message: string }[] }>();
    assert.equal(p.type, `urn:convd:problem:${type}`);
    assert.ok(
      p.errors.some((e) => e.path === path && detail.test(e.message)),
      `${path} ${detail}: ${JSON.stringify(p.errors)}`,
    );
  };

  for (const dtype of HALVES) {
    test(`${dtype}: a bin or base64 of an odd byte length is a 400 naming the field, the bytes and the element size`, async () => {
      const input = (data: unknown) => ({ input: { dtype, shape: [1, 1, 3], data }, weight: weight(dtype) });
      const detail = new RegExp(`has 5 bytes but shape \\[1, 1, 3\\] of ${dtype} needs 6 \\(3 elements of 2 bytes\\)`);
      problem(await send(input(Buffer.alloc(5))), 400, 'invalid-tensor-data', 'input.data', detail);
      problem(
        await send(input(Buffer.alloc(5).toString('base64')), 'json'),
        400,
        'invalid-tensor-data',
        'input.data',
        /base64 of 5 bytes but .* needs 6 \(3 elements of 2 bytes\)/,
      );
      // float32's 12 bytes for 3 elements: the dtype says 2 bytes each
      problem(await send(input(Buffer.alloc(12))), 400, 'invalid-tensor-data', 'input.data', /has 12 bytes .* needs 6/);
    });

    test(`${dtype}: a typed-array extension of 4- or 8-byte elements is refused, naming both types`, async () => {
      const body = { input: { dtype, shape: [1, 1, 2], data: Float32Array.of(1, 2) }, weight: weight(dtype) };
      problem(
        await send(body, 'msgpack', packTyped),
        400,
        'invalid-tensor-data',
        'input.data',
        new RegExp(`Float32Array .* input\\.dtype is ${dtype}`),
      );
    });

    test(`${dtype}: the outputs count 4 bytes an element against CONVD_MAX_OUTPUT_BYTES, as they are computed`, async () => {
      const body = { input: { dtype, shape: [1, 1, 4], data: [1, 2, 3, 4] }, weight: weight(dtype) };
      problem(
        await send(body),
        413,
        'limit-exceeded',
        'input.shape',
        new RegExp(`would take 16 bytes; the limit is 15 bytes .* of ${dtype} \\(computed in float32\\)`),
      );
      const fits = { input: { dtype, shape: [1, 1, 3], data: [1, 2, 3] }, weight: weight(dtype) };
      assert.equal((await send(fits)).statusCode, 200);
    });
  }

  test('operands of two 2-byte dtypes are a 400 naming the field and both dtypes', async () => {
    const body = { input: { dtype: 'float16', shape: [1, 1, 2], data: [1, 2] }, weight: weight('bfloat16') };
    problem(
      await send(body),
      400,
      'invalid-geometry',
      'weight.dtype',
      /weight\.dtype is bfloat16 but input\.dtype is float16/,
    );
  });

  test('a dtype convd does not have is a schema violation naming dtype', async () => {
    const body = { input: { dtype: 'float8', shape: [1, 1, 2], data: [1, 2] }, weight: weight('float8') };
    problem(await send(body, 'json'), 400, 'schema-violation', 'input.dtype', /float16/);
  });
});

test('the memory budget holds float16 and bfloat16 tensors widened to float32, and their 2-byte answers', () => {
  for (const dtype of HALVES) {
    let need: WorkNeed | undefined;
    const operands = { input: { dtype, shape: [2, 3, 10] }, weight: { dtype, shape: [4, 3, 1] } };
    const work = { flops: 480, splitFlops: 480, outputElements: 80, outputBytes: 80 * 4, workspaceBytes: 0 };
    reserveWork(operands, work, {
      maxTensorElements: 1e6,
      maxOutputBytes: 1e6,
      maxFlops: 1e9,
      reserve: (n) => (need = n),
    });
    assert.deepEqual(need, {
      tensorBytes: (60 + 12) * 4,
      outputBytes: 320,
      outputElements: 80,
      workspaceBytes: 0,
      dtype,
    });
    assert.equal(answerBytes(need, 'msgpack', 'array'), 160, 'msgpack: the 2-byte results');
    assert.equal(
      answerBytes(need, 'json', 'base64'),
      160 + Math.ceil(160 / 3) * 4 + 1024,
      'base64 of the 2-byte results',
    );
  }
});
