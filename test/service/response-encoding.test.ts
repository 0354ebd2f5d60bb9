/**
 * msgpack answers (wire/response.ts writes them as a small header per tensor, then the result's
 * own bytes, now out of reused memory): for every operation's documented requests, in float32
 * and float64, channels_first and channels_last, msgpackr decodes the answer to the JSON
 * answer's fields, dtypes, shapes and values, each tensor's data a plain bin (no extension).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { OPS } from '../../src/ops/index.js';
import {
  packBin,
  postJson,
  rawBody,
  testApp,
  typedArray,
  unpackr,
  values,
  type ConvdApp,
  type DType,
} from './helpers.js';

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

const jsonNumber = (v: number) => (Number.isFinite(v) ? v : String(v));

type Tensor = { dtype: DType; shape: number[]; data: unknown };
const isTensor = (v: unknown): v is Tensor =>
  typeof v === 'object' && v !== null && 'shape' in v && 'data' in v && 'dtype' in v;

/** `body` with every tensor in `dtype`, its data as a number array (JSON) or a bin (msgpack). */
function inForm(body: Record<string, unknown>, dtype: DType, bin: boolean): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(body).map(([key, v]) => {
      if (!isTensor(v)) return [key, v];
      const numbers = values(v);
      return [
        key,
        { ...v, dtype, data: bin ? Buffer.from(typedArray(dtype, numbers).buffer) : numbers.map(jsonNumber) },
      ];
    }),
  );
}

/**
 * `body` as channels_last: the same values under channels_last shapes ([N, *spatial, C]; a
 * weight's two leading dims moved to the end, reversed), or null when it names a layout itself.
 */
function channelsLast(body: Record<string, unknown>): Record<string, unknown> | null {
  if ('layout' in body) return null;
  const shapeOf: Record<string, (s: number[]) => number[]> = {
    input: (s) => [s[0], ...s.slice(2), s[1]],
    grad_output: (s) => [s[0], ...s.slice(2), s[1]],
    weight: (s) => [...s.slice(2), s[1], s[0]],
  };
  return {
    ...Object.fromEntries(
      Object.entries(body).map(([key, v]) => [
        key,
        isTensor(v) && shapeOf[key] ? { ...v, shape: shapeOf[key](v.shape) } : v,
      ]),
    ),
    layout: 'channels_last',
  };
}

for (const op of OPS) {
  test(`${op.route.path}: msgpack answers decode to the JSON answers, data as bins, both dtypes and layouts`, async () => {
    const answered = { channels_first: 0, channels_last: 0 };
    for (const [name, example] of Object.entries(op.examples.requests)) {
      for (const dtype of ['float32', 'float64'] as const) {
        for (const layout of ['channels_first', 'channels_last'] as const) {
          const base = layout === 'channels_first' ? example.request : channelsLast(example.request);
          if (!base) continue;
          const json = await postJson(convd, op.route.path, inForm(base, dtype, false));
          const res = await request(convd.app.server)
            .post(op.route.path)
            .set('content-type', 'application/msgpack')
            .send(packBin.pack(inForm(base, dtype, true)))
            .buffer(true)
            .parse(rawBody);
          assert.equal(json.status, 200, `${name} ${dtype} ${layout}: ${json.text}`);
          assert.equal(res.status, 200, `${name} ${dtype} ${layout}`);
          answered[layout]++;
          const bytes = res.body as Buffer;
          const decoded = unpackr.unpack(bytes) as Record<string, Tensor>;
          const fromJson = json.body as Record<string, Tensor>;
          assert.deepEqual(Object.keys(decoded), Object.keys(fromJson));
          for (const [field, t] of Object.entries(decoded)) {
            // a bin decodes to a view of the answer's own bytes; msgpackr's typed-array extension would not
            assert.ok(Buffer.isBuffer(t.data) && t.data.buffer === bytes.buffer, `${field}.data is a bin`);
            assert.equal(t.dtype, dtype);
            assert.deepEqual(t.shape, fromJson[field].shape);
            assert.deepEqual(values(t), values(fromJson[field]), `${name} ${dtype} ${field}`);
          }
        }
      }
    }
    assert.equal(answered.channels_first, 2 * Object.keys(op.examples.requests).length, 'every example, both dtypes');
    assert.ok(answered.channels_last > 0, 'channels_last too');
  });
}
