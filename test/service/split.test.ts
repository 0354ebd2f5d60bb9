/**
 * Splitting one request across threads (split.ts): with two threads and no FLOPs threshold,
 * every operation's answers equal those of an unsplit server, bit for bit where each image
 * is computed by one thread (output, indices, grad_input) and to rounding where partial sums
 * are added (grad_weight, grad_bias); the split really happens (both threads run a task), and
 * only across idle threads; the threshold weighs pooling, unfold and fold by their element
 * touches (TOUCH_FLOPS each).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { OPS, opAt } from '../../src/ops/index.js';
import { TOUCH_FLOPS } from '../../src/shared/geometry/common.js';
import { OP_REQUESTS } from '../reference/op-requests.js';
import { batchSlices, runSplit } from '../../src/split.js';
import type { Task } from '../../src/shared/task.js';
import { QueueFullError } from '../../src/worker-pool.js';
import { fakePool, tensor, testApp, values, type ConvdApp } from './helpers.js';

let split: ConvdApp;
let whole: ConvdApp;
/** Task counts of the split app's pool calls. */
const runs: number[] = [];
before(async () => {
  split = await testApp({ config: { poolThreads: 2, splitMinFlops: 0 } });
  const runAll = split.pool.runAll.bind(split.pool);
  split.pool.runAll = (tasks, signal) => {
    runs.push(tasks.length);
    return runAll(tasks, signal);
  };
  whole = await testApp({ config: { poolThreads: 1, splitMinFlops: Infinity } });
});
after(async () => {
  await split.app.close();
  await whole.app.close();
});

function body(backward: boolean) {
  const rand = (n: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const [n, c, h, w, co, k] = [5, 3, 7, 6, 4, 3];
  const oh = h - k + 3,
    ow = w - k + 3; // padding 1, stride 1
  return {
    input: tensor('float64', [n, c, h, w], rand(n * c * h * w)),
    weight: tensor(
      'float64',
      [co, c, k, k],
      rand(co * c * k * k).map((v) => v * 0.3),
    ),
    bias: tensor('float64', [co], [0.1, -0.2, 0.3, -0.4]),
    padding: 1,
    padding_mode: 'circular',
    ...(backward
      ? {
          grad_output: tensor(
            'float64',
            [n, co, oh, ow],
            rand(n * co * oh * ow).map((v) => v * 2),
          ),
        }
      : {}),
  };
}

async function post(app: ConvdApp, path: string, payload: object) {
  const res = await request(app.app.server).post(path).set('accept', 'application/json').send(payload);
  assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
  return res.body as Record<string, { dtype: 'float64'; data: unknown; shape: number[] }>;
}

test('batchSlices: one range below the threshold or with one image, else near-equal ranges, one per thread', () => {
  const settings = { poolThreads: 2, splitMinFlops: 1000 };
  assert.deepEqual(batchSlices(8, 999, settings), [[0, 8]]);
  assert.deepEqual(batchSlices(1, 1e9, settings), [[0, 1]]);
  assert.deepEqual(batchSlices(5, 1000, settings), [
    [0, 2],
    [2, 5],
  ]);
  assert.deepEqual(batchSlices(3, 1e9, { poolThreads: 4, splitMinFlops: 0 }), [
    [0, 1],
    [1, 2],
    [2, 3],
  ]);
});

test('batchSlices: cut for the idle threads only; with fewer than two idle, one range', () => {
  const settings = { poolThreads: 4, splitMinFlops: 0 };
  assert.deepEqual(batchSlices(8, 1e9, settings, 4), [
    [0, 2],
    [2, 4],
    [4, 6],
    [6, 8],
  ]);
  assert.deepEqual(batchSlices(8, 1e9, settings, 3), [
    [0, 2],
    [2, 5],
    [5, 8],
  ]);
  assert.deepEqual(batchSlices(8, 1e9, settings, 1), [[0, 8]]);
  assert.deepEqual(batchSlices(8, 1e9, settings, 0), [[0, 8]]);
});

test('a request arriving while the pool is busy runs whole (one task), with the same answer', async () => {
  runs.length = 0;
  const idleThreads = split.pool.idleThreads.bind(split.pool);
  split.pool.idleThreads = () => 1; // one of the two threads taken
  try {
    const [a, b] = await Promise.all([
      post(split, '/conv/forward', body(false)),
      post(whole, '/conv/forward', body(false)),
    ]);
    assert.deepEqual(runs, [1], 'not split');
    assert.deepEqual(values(a.output), values(b.output));
  } finally {
    split.pool.idleThreads = idleThreads;
  }
});

test('a split forward answers exactly what one thread does', async () => {
  runs.length = 0;
  const [a, b] = await Promise.all([
    post(split, '/conv/forward', body(false)),
    post(whole, '/conv/forward', body(false)),
  ]);
  assert.deepEqual(runs, [2], 'the 5 images ran as two slices');
  assert.deepEqual(a.output.shape, b.output.shape);
  assert.deepEqual(values(a.output), values(b.output));
});

test('a split backward: grad_input exact, grad_weight and grad_bias equal to rounding', async () => {
  runs.length = 0;
  const [a, b] = await Promise.all([
    post(split, '/conv/backward', body(true)),
    post(whole, '/conv/backward', body(true)),
  ]);
  assert.deepEqual(runs, [2], 'the 5 images ran as two slices');
  assert.deepEqual(values(a.grad_input), values(b.grad_input));
  for (const name of ['grad_weight', 'grad_bias']) {
    const got = values(a[name]);
    const want = values(b[name]);
    assert.equal(got.length, want.length);
    got.forEach((v, i) =>
      assert.ok(Math.abs(v - want[i]) <= 1e-12 * (1 + Math.abs(want[i])), `${name}[${i}]: ${v} vs ${want[i]}`),
    );
  }
});

test('the slices of a request are admitted together or not at all', async () => {
  const { pool, finished } = fakePool({ threads: 2, maxQueue: 0, blockMs: 300 });
  await pool.started;
  try {
    const task = { tensors: {} } as Task;
    const running = pool.run(task, new AbortController().signal);
    await assert.rejects(
      pool.runAll([task, task], new AbortController().signal),
      QueueFullError,
      'two slices do not fit the one free thread',
    );
    assert.equal(pool.stats().active + pool.stats().queued, 1, 'the refused request left nothing admitted');
    await running;
    await pool.runAll([task, task], new AbortController().signal);
    assert.equal(finished(), 3);
  } finally {
    await pool.close();
  }
});

test('runSplit runs any operation whose kernels take a batch range: pooling and conv_transpose split answer what one thread does', async () => {
  const rand = (n: number) => Array.from({ length: n }, (_, i) => Math.cos(i * 7.31) * 0.5);
  const requests: Record<string, Record<string, unknown>> = {
    '/pool/forward': {
      input: tensor('float64', [5, 3, 6, 6], rand(540)),
      mode: 'max',
      kernel_size: 3,
      stride: 2,
      padding: 1,
    },
    '/pool/backward': {
      input: tensor('float64', [5, 3, 6, 6], rand(540)),
      mode: 'avg',
      kernel_size: 2,
      grad_output: tensor('float64', [5, 3, 3, 3], rand(135)),
    },
    '/conv/transpose': {
      input: tensor('float64', [5, 4, 3, 3], rand(180)),
      weight: tensor('float64', [4, 2, 3, 3], rand(72)),
      bias: tensor('float64', [2], [0.5, -1]),
      stride: 2,
    },
  };
  const pool = split.pool;
  for (const [path, payload] of Object.entries(requests)) {
    const op = opAt(path)!;
    const body = op.request.parse(payload);
    const prepared = () => op.prepare(body, { limits: split.config, idleThreads: () => 2 });
    const whole = await pool.run(prepared().task, new AbortController().signal);
    // the same task with its tensors shared, cut in two ranges
    const task = prepared().task;
    task.tensors = Object.fromEntries(Object.entries(task.tensors).map(([k, b]) => [k, sharedCopy(b)]));
    const parts = await runSplit(
      pool,
      task,
      [
        [0, 2],
        [2, 5],
      ],
      new AbortController().signal,
    );
    assert.deepEqual(Object.keys(parts), Object.keys(whole), path);
    for (const name of Object.keys(whole) as (keyof typeof whole)[]) {
      assert.deepEqual([...new Float64Array(parts[name]!)], [...new Float64Array(whole[name]!)], `${path} ${name}`);
    }
  }
});

function sharedCopy(data: ArrayBuffer | SharedArrayBuffer | ArrayBufferView): SharedArrayBuffer {
  const bytes = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  const shared = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(shared).set(bytes);
  return shared;
}

test('every operation splits over HTTP: a request of several images runs as two tasks and answers what one thread does', async () => {
  for (const op of OPS) {
    for (const c of OP_REQUESTS[op.name]) {
      const payload = c.body('float64');
      const specs = op.prepare(op.request.parse(payload), { limits: whole.config, idleThreads: () => 1 }).task.results;
      runs.length = 0;
      const [a, b] = await Promise.all([post(split, op.route.path, payload), post(whole, op.route.path, payload)]);
      const what = `${op.route.path} ${c.name}`;
      assert.deepEqual(runs, [2], `${what}: the images ran as two slices`);
      assert.deepEqual(Object.keys(a).sort(), Object.keys(specs).sort(), what);
      for (const [name, spec] of Object.entries(specs)) {
        assert.deepEqual(a[name].shape, b[name].shape, `${what} ${name}`);
        const got = values(a[name]);
        const want = values(b[name]);
        if (spec.perSample) assert.deepEqual(got, want, `${what} ${name}: written by one thread per image`);
        else
          got.forEach((v, i) =>
            assert.ok(
              Math.abs(v - want[i]) <= 1e-12 * (1 + Math.abs(want[i])),
              `${what} ${name}[${i}]: ${v} vs ${want[i]}`,
            ),
          );
      }
    }
  }
});

test('the split threshold counts FLOPs of convolutions and TOUCH_FLOPS per element touch of pooling, unfold and fold', () => {
  const limits = { ...split.config, poolThreads: 2, splitMinFlops: 1e7 };
  const cut = (path: string, payload: object) =>
    opAt(path)!.prepare(opAt(path)!.request.parse(payload), { limits, idleThreads: () => 2 });
  const zeros = (shape: number[]) => tensor('float64', shape, Array<number>(shape.reduce((a, b) => a * b)).fill(0));
  // max pooling, k 2: one touch per input element; 2 x 4 x 160 x 160 = 204800 touches, and 204800 x TOUCH_FLOPS >= 1e7
  const pool = (hw: number) => ({ input: zeros([2, 4, hw, hw]), mode: 'max', kernel_size: 2 });
  assert.equal(TOUCH_FLOPS, 50);
  assert.equal(cut('/pool/forward', pool(160)).slices?.length, 2, '204800 touches: split');
  assert.equal(cut('/pool/forward', pool(158)).slices?.length, 1, '199712 touches: whole');
  assert.equal(
    cut('/pool/forward', pool(160)).flops,
    204800,
    'flops (CONVD_MAX_FLOPS, the lanes) still counts touches once',
  );
  // unfold: one touch per column element, 2 x (4 x 4) x 80 x 80 = 204800
  const unfold = { input: zeros([2, 4, 81, 81]), kernel_size: 2 };
  assert.equal(cut('/unfold', unfold).slices?.length, 2, 'unfold of 204800 column elements: split');
  // a convolution of 2 x 8 x 8 x 8 x 8 x 9 x 2 = 147456 FLOPs is far below
  const conv = { input: zeros([2, 8, 10, 10]), weight: zeros([8, 8, 3, 3]) };
  assert.equal(cut('/conv/forward', conv).slices?.length, 1, 'a small convolution: whole');
});
