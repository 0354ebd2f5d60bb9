/**
 * Resource exhaustion (OWASP API4) with the service's default limits: shapes that imply a giant
 * output or FLOP count are refused from the shapes alone, before any allocation; a request whose
 * im2col matrix would be huge but whose output is allowed runs within the worker's tile budget;
 * padding, stride and dilation near 2^31 (past 32-bit index arithmetic) compute exactly or are
 * refused cleanly.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Packr } from 'msgpackr';
import { loadConfig } from '../../src/config.js';
import { testApp, type ConvdApp } from '../service/helpers.js';
import { answerDefect, expectConv, oracleUnpackr, problemDefect, send, type Limits } from '../fuzz/support.js';

const TILE_BUDGET = 16 * 2 ** 20;
const defaults = loadConfig({});
const LIMITS: Limits = defaults;
const packr = new Packr({ useRecords: false });

let convd: ConvdApp;
let port: number;

before(async () => {
  convd = await testApp({
    config: {
      poolThreads: 2,
      maxQueue: 8,
      deadlineMs: 60_000,
      tileBudgetBytes: TILE_BUDGET,
      maxBodyBytes: defaults.maxBodyBytes,
    },
  });
  await convd.app.listen({ port: 0, host: '127.0.0.1' });
  port = (convd.app.server.address() as AddressInfo).port;
});

after(() => convd.app.close());

const post = (path: string, value: unknown, accept = 'application/json') => {
  const body = Buffer.from(packr.pack(value));
  return {
    body,
    answer: send({ port, path, headers: { 'content-type': 'application/msgpack', accept }, body, timeoutMs: 60_000 }),
  };
};

const t = (dtype: string, shape: number[], data: number[] | Buffer) => ({
  dtype,
  shape,
  data: Array.isArray(data) ? Buffer.from((dtype === 'float32' ? Float32Array : Float64Array).from(data).buffer) : data,
});

test('shapes implying a giant output, tensor or FLOP count: 413 from the shapes alone, no allocation', async () => {
  const tiny = [1, 2, 3];
  const cases: [string, string, Record<string, unknown>][] = [
    [
      '1-D output of 2^32 positions (padding 2^31-1)',
      '/conv/forward',
      { input: t('float32', [1, 1, 2], [1, 2]), weight: t('float32', [1, 1, 1], [1]), padding: 2 ** 31 - 1 },
    ],
    [
      '3-D output of 2^33 positions',
      '/conv/forward',
      {
        input: t('float32', [1, 1, 1, 1, 1], [1]),
        weight: t('float32', [1, 1, 1, 1, 1], [1]),
        padding: [2 ** 11, 2 ** 11, 2 ** 9],
      },
    ],
    [
      'batch 2^31-1 declared, 3 values sent',
      '/conv/forward',
      { input: t('float32', [2 ** 31 - 1, 1, 3], tiny), weight: t('float32', [1, 1, 1], [1]) },
    ],
    [
      'input of 2^93 elements declared',
      '/conv/forward',
      {
        input: t('float64', [2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1], tiny),
        weight: t('float64', [1, 2 ** 31 - 1, 1], [1]),
      },
    ],
    [
      '1.4e14 FLOPs in allowed tensors',
      '/conv/forward',
      { input: t('float32', [1, 1, 2 ** 24], tiny), weight: t('float32', [1, 1, 2 ** 23], tiny) },
    ],
    [
      'grad_weight of 1.4e14 FLOPs',
      '/conv/backward',
      {
        input: t('float32', [1, 1, 2 ** 24], tiny),
        weight: t('float32', [1, 1, 2 ** 23], tiny),
        grad_output: t('float32', [1, 1, 2 ** 23 + 1], tiny),
        grads: ['weight'],
      },
    ],
    [
      'output channels 2^24 x 2^10 positions',
      '/conv/forward',
      { input: t('float32', [1, 1, 1024], tiny), weight: t('float32', [2 ** 24, 1, 1], tiny) },
    ],
  ];
  await post('/conv/forward', { input: t('float32', [1, 1, 3], tiny), weight: t('float32', [1, 1, 1], [1]) }).answer; // warm-up
  const before = process.memoryUsage();
  for (const [name, path, value] of cases) {
    const started = performance.now();
    const { answer } = post(path, value);
    const a = await answer;
    const ms = performance.now() - started;
    assert.equal(a.status, 413, `${name}: ${a.status} ${a.body.toString()}`);
    assert.equal(problemDefect(a), null);
    assert.equal(JSON.parse(a.body.toString()).type, 'urn:convd:problem:limit-exceeded', name);
    assert.ok(ms < 500, `${name}: refused after ${ms.toFixed(0)} ms`);
  }
  const afterwards = process.memoryUsage();
  const grown = (k: 'rss' | 'arrayBuffers') => (afterwards[k] - before[k]) / 2 ** 20;
  assert.ok(
    grown('rss') < 32 && grown('arrayBuffers') < 16,
    `memory grew: RSS ${grown('rss').toFixed(1)} MiB, array buffers ${grown('arrayBuffers').toFixed(1)} MiB`,
  );
  assert.deepEqual({ active: convd.pool.stats().active, queued: convd.pool.stats().queued }, { active: 0, queued: 0 });
});

/** Samples RSS every few ms while `work` runs; returns its result and the peak RSS growth. */
async function peakRssDuring<T>(work: () => Promise<T>): Promise<{ result: T; peakGrowth: number }> {
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 2);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakGrowth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

/** Direct sums for a few output elements of a stride-1, channels-first 2-D forward (no bias): y[0, co, oh, ow]. */
function spotCheck2d(
  x: Float32Array | Float64Array,
  w: Float32Array | Float64Array,
  cin: number,
  h: number,
  wd: number,
  cout: number,
  k: number,
  pad: number,
  out: Float32Array | Float64Array,
  dtype: string,
) {
  const oh = h + 2 * pad - k + 1;
  const ow = wd + 2 * pad - k + 1;
  for (let s = 0; s < 24; s++) {
    const co = (s * 5) % cout;
    const i = (s * 37) % oh;
    const j = (s * 53) % ow;
    let sum = 0;
    let abs = 0;
    for (let c = 0; c < cin; c++)
      for (let a = 0; a < k; a++)
        for (let b = 0; b < k; b++) {
          const r = i - pad + a;
          const q = j - pad + b;
          if (r < 0 || r >= h || q < 0 || q >= wd) continue;
          const p = x[(c * h + r) * wd + q] * w[((co * cin + c) * k + a) * k + b];
          sum += p;
          abs += Math.abs(p);
        }
    const got = out[(co * oh + i) * ow + j];
    const tol = (dtype === 'float32' ? 2 ** -24 : 2 ** -53) * cin * k * k * abs * 2 + 1e-30;
    assert.ok(Math.abs(got - sum) <= tol, `y[0, ${co}, ${i}, ${j}] = ${got}, expected ${sum} (tolerance ${tol})`);
  }
}

for (const dtype of ['float32', 'float64'] as const) {
  test(`${dtype}: an im2col of ${dtype === 'float32' ? 242 : 484} MiB with a 32 KiB output runs within the ${TILE_BUDGET / 2 ** 20} MiB tile budget`, async () => {
    const [cin, h, wd, cout, k, pad] = [512, 32, 32, 8, 11, 5];
    const make = (n: number, f: (i: number) => number) => {
      const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = f(i);
      return a;
    };
    const x = make(cin * h * wd, (i) => ((i * 7919) % 1000) / 500 - 1);
    const w = make(cout * cin * k * k, (i) => ((i * 104729) % 1000) / 500 - 1);
    const im2colBytes = cin * k * k * h * wd * x.BYTES_PER_ELEMENT;
    assert.ok(im2colBytes > 200 * 2 ** 20);
    const value = {
      input: { dtype, shape: [1, cin, h, wd], data: Buffer.from(x.buffer) },
      weight: { dtype, shape: [cout, cin, k, k], data: Buffer.from(w.buffer) },
      padding: pad,
    };
    const body = Buffer.from(packr.pack(value));
    await send({
      port,
      path: '/conv/forward',
      headers: { 'content-type': 'application/msgpack' },
      body,
      timeoutMs: 60_000,
    }); // warm both threads' workspaces
    const { result: a, peakGrowth } = await peakRssDuring(() =>
      send({
        port,
        path: '/conv/forward',
        headers: { 'content-type': 'application/msgpack' },
        body,
        timeoutMs: 60_000,
      }),
    );
    assert.equal(a.status, 200, a.body.toString());
    const output = oracleUnpackr.unpack(a.body).output;
    assert.deepEqual(output.shape, [1, cout, h, wd]);
    const bytes = Uint8Array.from(output.data).buffer;
    spotCheck2d(
      x,
      w,
      cin,
      h,
      wd,
      cout,
      k,
      pad,
      dtype === 'float32' ? new Float32Array(bytes) : new Float64Array(bytes),
      dtype,
    );
    assert.ok(
      peakGrowth < im2colBytes / 4,
      `peak RSS grew ${(peakGrowth / 2 ** 20).toFixed(0)} MiB during the request (im2col alone: ${(im2colBytes / 2 ** 20).toFixed(0)} MiB)`,
    );
    console.log(
      `# ${dtype} im2col ${(im2colBytes / 2 ** 20).toFixed(0)} MiB: peak RSS growth ${(peakGrowth / 2 ** 20).toFixed(0)} MiB`,
    );
  });
}

test('padding, stride and dilation near 2^31: exact answers or clean refusals, in both dtypes, forward and backward', async () => {
  const M = 2 ** 31 - 1;
  const cases: [string, Record<string, unknown>][] = [
    ['zeros, padding = stride = 2^31-1', { padding: M, stride: M }],
    ['replicate, padding = stride = 2^31-1', { padding: M, stride: M, padding_mode: 'replicate' }],
    ['asymmetric [[2^31-1, 0]], stride 2^31-1', { padding: [[M, 0]], stride: M, padding_mode: 'replicate' }],
    ['dilation = padding = stride = 2^31-1, kernel 2', { padding: M, stride: M, dilation: M, kernel: 2 }],
    [
      'depthwise, replicate, padding = stride = 2^31-1',
      { padding: M, stride: M, padding_mode: 'replicate', groups: 2 },
    ],
    ['3-D, everything 2^31-1', { rank: 3, padding: M, stride: M, padding_mode: 'replicate' }],
    ['"same" with stride 2^31-1', { padding: 'same', stride: M }],
    ['refused: padding 2^31', { padding: 2 ** 31, stride: M }],
    ['refused: stride 2^32', { stride: 2 ** 32 }],
    ['refused: dilation 2^53', { dilation: 2 ** 53, padding: M }],
    ['refused: reflect padding 2^31-1', { padding: M, stride: M, padding_mode: 'reflect' }],
    ['refused: circular padding 2^31-1', { padding: M, stride: M, padding_mode: 'circular' }],
    ['refused: padding 2^31-1 with stride 1 (output 2^32)', { padding: M }],
    ['refused: groups 2^31-1', { groups: M }],
  ];
  let computed = 0;
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [name, c] of cases) {
      const {
        rank = 1,
        kernel = 1,
        groups = 1,
        ...params
      } = c as { rank?: number; kernel?: number; groups?: number } & Record<string, unknown>;
      const ch = groups === M ? 2 : groups;
      const sp = Array(rank).fill(3);
      const input = t(
        dtype,
        [1, ch, ...sp],
        Array.from({ length: ch * 3 ** rank }, (_, i) => i + 1),
      );
      const weight = t(
        dtype,
        [ch, ch / (groups === M ? 1 : groups), ...Array(rank).fill(kernel)],
        Array.from({ length: (ch * ch * kernel ** rank) / (groups === M ? 1 : groups) }, (_, i) => 2 - i),
      );
      const fields = { input, weight, ...params, ...(groups !== 1 ? { groups } : {}) };
      for (const path of ['/conv/forward', '/conv/backward']) {
        let value: Record<string, unknown> = fields;
        if (path === '/conv/backward') {
          // grad_output shaped like the forward output, when there is one
          const fwd = expectConv(
            '/conv/forward',
            { contentType: 'application/msgpack', accept: 'application/json' },
            Buffer.from(packr.pack(fields)),
            LIMITS,
          );
          if (fwd.kind !== 'valid') continue;
          const shape = fwd.outputs.output.shape;
          value = {
            ...fields,
            grad_output: t(
              dtype,
              shape,
              Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => 1 + (i % 3)),
            ),
          };
        }
        const { body, answer } = post(path, value);
        const a = await answer;
        const expected = expectConv(
          path,
          { contentType: 'application/msgpack', accept: 'application/json' },
          body,
          LIMITS,
        );
        const label = `${dtype} ${path} ${name}`;
        if (name.startsWith('refused')) {
          assert.equal(expected.kind, 'invalid', label);
          assert.ok(a.status === 400 || a.status === 413, `${label}: ${a.status} ${a.body.toString()}`);
          assert.equal(problemDefect(a), null, label);
        } else {
          assert.equal(expected.kind, 'valid', `${label}: ${'why' in expected ? expected.why : ''}`);
          assert.equal(a.status, 200, `${label}: ${a.body.toString()}`);
          if (expected.kind === 'valid') assert.equal(answerDefect(a, expected), null, label);
          computed++;
        }
      }
    }
  }
  assert.ok(computed >= 20, `only ${computed} near-2^31 requests computed`);
});
