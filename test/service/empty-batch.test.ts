/**
 * An empty batch (N = 0) for every operation answers as PyTorch does (fixtures/empty/torch-empty.json,
 * written by fixtures/empty/generate.py with torch 1.13): 200, each result of PyTorch's shape,
 * per-sample results empty and grad_weight / grad_bias zeros, in the request dtype, without a
 * task: the server here has a pool whose every task fails. Other zero extents stay 400s.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { OPS } from '../../src/ops/index.js';
import { halfValuesOf } from '../reference/half.js';
import { fakePool, packBin, testApp, unpackr, type ConvdApp } from './helpers.js';

interface Case {
  name: string;
  path: string;
  shapes: Record<string, number[]>;
  fields: Record<string, unknown>;
  torch: Record<string, { shape: number[]; zeros: boolean }>;
}
const { cases } = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/empty/torch-empty.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

let convd: ConvdApp;
let pool: ReturnType<typeof fakePool>['pool'];
before(async () => {
  ({ pool } = fakePool({ blockMs: 0, fail: true }));
  convd = await testApp({ pool });
});
after(async () => {
  await convd.app.close();
  await pool.close();
});

test('the fixtures cover every operation of the registry (add a case to test/fixtures/empty/generate.py for a new one)', () => {
  const covered = new Set(cases.map((c) => c.path));
  for (const op of OPS) assert.ok(covered.has(op.route.path), `${op.route.path} has an empty-batch case`);
});

for (const c of cases) {
  test(`${c.path} ${c.name}: N = 0 answers PyTorch's shapes, empty or zeros, without a task`, async () => {
    for (const [dtype, wire] of [
      ['float32', 'json'],
      ['float64', 'msgpack'],
      ['bfloat16', 'msgpack'],
    ] as const) {
      const body: Record<string, unknown> = { ...c.fields };
      for (const [field, shape] of Object.entries(c.shapes))
        body[field] = { dtype, shape, data: Array<number>(count(shape)).fill(0.5) };
      const res = await convd.app.inject({
        method: 'POST',
        url: c.path,
        headers: { 'content-type': `application/${wire}`, accept: `application/${wire}` },
        payload: wire === 'json' ? JSON.stringify(body) : packBin.pack(body),
      });
      assert.equal(res.statusCode, 200, `${dtype}: ${res.body}`);
      const answer = (wire === 'json' ? res.json() : unpackr.unpack(res.rawPayload)) as Record<
        string,
        { dtype: string; shape: number[]; data: number[] | Uint8Array }
      >;
      assert.deepEqual(Object.keys(answer), Object.keys(c.torch), `${dtype}: the results PyTorch gives`);
      for (const [field, want] of Object.entries(c.torch)) {
        const got = answer[field];
        assert.equal(got.dtype, dtype);
        assert.deepEqual(got.shape, want.shape, `${dtype} ${field}.shape`);
        const data = got.data;
        const values = Array.isArray(data)
          ? data
          : dtype === 'bfloat16'
            ? halfValuesOf(dtype, data)
            : Array.from(new (dtype === 'float64' ? Float64Array : Float32Array)(Uint8Array.from(data).buffer));
        assert.equal(values.length, count(want.shape), `${dtype} ${field}: prod(shape) values`);
        assert.equal(
          values.every((v) => v === 0),
          want.zeros,
          `${dtype} ${field}: zeros`,
        );
      }
    }
  });
}

test('the pool here fails every task: a batch of one answers 500', async () => {
  const res = await convd.app.inject({
    method: 'POST',
    url: '/conv/forward',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    payload: JSON.stringify({
      input: { dtype: 'float32', shape: [1, 1, 3], data: [1, 2, 3] },
      weight: { dtype: 'float32', shape: [1, 1, 1], data: [1] },
    }),
  });
  assert.equal(res.statusCode, 500);
});

test('an empty batch still has its shapes, parameters and data checked: a 400 as for any batch', async () => {
  const post = (body: unknown) =>
    convd.app.inject({
      method: 'POST',
      url: '/conv/forward',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      payload: JSON.stringify(body),
    });
  const weight = { dtype: 'float32', shape: [2, 3, 3], data: Array<number>(18).fill(1) };
  const cases = [
    // the kernel does not fit the input, as PyTorch refuses too
    [{ input: { dtype: 'float32', shape: [0, 3, 2], data: [] }, weight }, 'invalid-geometry', 'input.shape'],
    [{ input: { dtype: 'float32', shape: [0, 2, 5], data: [] }, weight }, 'invalid-geometry', 'weight.shape[1]'],
    [{ input: { dtype: 'float32', shape: [0, 3, 5], data: [1] }, weight }, 'invalid-tensor-data', 'input.data'],
    // only the batch may be 0: PyTorch 1.13 answers C_in = 0 with a wrong shape and refuses the other zero extents
    [{ input: { dtype: 'float32', shape: [1, 0, 5], data: [] }, weight }, 'schema-violation', 'input.shape[1]'],
    [{ input: { dtype: 'float32', shape: [0, 3, 0], data: [] }, weight }, 'schema-violation', 'input.shape[2]'],
    [
      { input: { dtype: 'float32', shape: [0, 3, 5], data: [] }, weight: { ...weight, shape: [0, 3, 3], data: [] } },
      'invalid-geometry',
      'weight.shape[0]',
    ],
    [
      {
        ...{ input: { dtype: 'float32', shape: [0, 3, 5], data: [] }, weight },
        bias: { dtype: 'float32', shape: [0], data: [] },
      },
      'schema-violation',
      'bias.shape[0]',
    ],
  ] as const;
  for (const [body, type, path] of cases) {
    const res = await post(body);
    assert.equal(res.statusCode, 400, res.body);
    const problem = res.json<{ type: string; errors: { path: string }[] }>();
    assert.equal(problem.type, `urn:convd:problem:${type}`, res.body);
    assert.ok(
      problem.errors.some((e) => e.path.startsWith(path)),
      `${path}: ${res.body}`,
    );
  }
});
