/**
 * Every error is RFC 9457 problem+json naming the field and the numbers: schema (400),
 * geometry (400), data length (400), malformed bodies (400), unknown routes (404), body and
 * work limits (413), unexpected failures (500, no stack trace).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import {
  assertProblem,
  exampleBackward,
  exampleForward,
  fakePool,
  packBin,
  postJson,
  tensor,
  testApp,
  type ConvdApp,
} from './helpers.js';

describe('400 with errors[].path', () => {
  let convd: ConvdApp;
  before(async () => {
    convd = await testApp();
  });
  after(() => convd.app.close());

  const fwd = exampleForward();
  const cases: { name: string; op?: string; body: object; path: string; detail?: RegExp }[] = [
    { name: 'stride 0', body: { ...fwd, stride: 0 }, path: 'stride', detail: /stride is 0/ },
    { name: 'negative stride of one dim', body: { ...fwd, stride: [1, -1] }, path: 'stride[1]', detail: /-1/ },
    { name: 'unknown padding_mode', body: { ...fwd, padding_mode: 'mirror' }, path: 'padding_mode', detail: /mirror/ },
    { name: 'missing weight', body: { input: fwd.input }, path: 'weight', detail: /weight is required/ },
    { name: 'zero extent', body: { ...fwd, input: tensor('float32', [1, 1, 0, 3], []) }, path: 'input.shape[2]' },
    {
      name: 'rank 2 input',
      body: { input: tensor('float32', [3, 3], Array(9).fill(1)), weight: fwd.weight },
      path: 'input.shape',
    },
    { name: 'unknown field', body: { ...fwd, strides: 2 }, path: 'strides', detail: /not a field/ },
    {
      name: 'non-numeric data',
      body: { ...fwd, input: { ...fwd.input, data: ['a', ...fwd.input.data.slice(1)] } },
      path: 'input.data[0]',
    },
    { name: 'bad base64', body: { ...fwd, weight: { ...fwd.weight, data: 'not base64!' } }, path: 'weight.data' },
    {
      name: 'repeated grads',
      op: 'backward',
      body: { ...exampleBackward(), grads: ['input', 'input'] },
      path: 'grads',
    },
    // geometry: fields related to each other
    {
      name: 'channels, NCHW',
      body: { ...fwd, weight: tensor('float32', [1, 2, 2, 2], Array(8).fill(1)) },
      path: 'weight.shape[1]',
      detail: /is 2 but input has 1 channels/,
    },
    {
      name: 'channels, NHWC',
      body: {
        input: tensor('float32', [1, 3, 3, 2], Array(18).fill(1)),
        weight: tensor('float32', [2, 2, 1, 1], Array(4).fill(1)),
        layout: 'NHWC',
      },
      path: 'weight.shape[2]',
    },
    { name: 'groups not dividing', body: { ...fwd, groups: 2 }, path: 'groups' },
    { name: 'bias shape', body: { ...fwd, bias: tensor('float32', [2], [1, 1]) }, path: 'bias.shape', detail: /\[1\]/ },
    {
      name: 'grad_output shape',
      op: 'backward',
      body: { ...exampleBackward(), grad_output: tensor('float32', [1, 1, 3, 3], Array(9).fill(1)) },
      path: 'grad_output.shape',
    },
    {
      name: 'dtype mismatch',
      body: { ...fwd, weight: tensor('float64', [1, 1, 2, 2], [1, 0, 0, 1]) },
      path: 'weight.dtype',
    },
    { name: 'layout alias of another rank', body: { ...fwd, layout: 'NCW' }, path: 'layout' },
    {
      name: 'reflect padding >= input',
      body: { ...fwd, padding: 3, padding_mode: 'reflect' },
      path: 'padding',
      detail: /reflect/,
    },
    {
      name: 'output extent < 1',
      body: { ...fwd, weight: tensor('float32', [1, 1, 4, 4], Array(16).fill(1)) },
      path: 'input.shape[2]',
      detail: /output extent/,
    },
    // data lengths, checked after geometry and limits
    {
      name: 'JSON data one short',
      body: { ...fwd, input: { ...fwd.input, data: fwd.input.data.slice(1) } },
      path: 'input.data',
      detail: /has 8 values .* needs 9/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = await postJson(convd, `/conv/${c.op ?? 'forward'}`, c.body);
      assertProblem(res, 400, c.path);
      if (c.detail) assert.match(res.body.detail, c.detail);
    });
  }

  test('msgpack data one byte short', async () => {
    const body = { ...exampleForward('float32', 'bin') };
    body.weight = { ...body.weight, data: (body.weight.data as Buffer).subarray(1) };
    const res = await request(convd.app.server)
      .post('/conv/forward')
      .set('content-type', 'application/msgpack')
      .send(Buffer.from(packBin.pack(body)));
    assertProblem(res, 400, 'weight.data');
    assert.match(res.body.detail, /15 bytes .* needs 16/);
  });

  test('malformed JSON and msgpack bodies', async () => {
    assertProblem(
      await request(convd.app.server)
        .post('/conv/forward')
        .set('content-type', 'application/json')
        .send('{"input": {"dtype": '),
      400,
    );
    const truncated = Buffer.from(packBin.pack(exampleForward('float32', 'bin'))).subarray(0, 30);
    const res = await request(convd.app.server)
      .post('/conv/forward')
      .set('content-type', 'application/msgpack')
      .send(truncated);
    assertProblem(res, 400);
    assert.match(res.body.detail, /msgpack/);
  });

  test('a body that is not an object', async () => {
    assertProblem(await postJson(convd, '/conv/forward', [1, 2, 3]), 400, 'body');
  });

  test('an unknown route answers 404 problem+json', async () => {
    assertProblem(await request(convd.app.server).get('/conv/sideways'), 404);
  });
});

describe('413: body and work limits, from shapes before any allocation', () => {
  let convd: ConvdApp;
  before(async () => {
    convd = await testApp({
      config: { maxBodyBytes: 4096, maxTensorElements: 1000, maxOutputBytes: 1024, maxFlops: 10_000 },
    });
  });
  after(() => convd.app.close());

  test('body over the limit, both encodings', async () => {
    const big = tensor('float64', [1, 1, 600], Array(600).fill(0.125));
    for (const [type, body] of [
      ['application/json', JSON.stringify({ input: big, weight: big })],
      [
        'application/msgpack',
        Buffer.from(packBin.pack({ input: tensor('float64', [1, 1, 600], Array(600).fill(0.125), 'bin') })),
      ],
    ] as const) {
      const res = await request(convd.app.server).post('/conv/forward').set('content-type', type).send(body);
      assertProblem(res, 413);
      assert.match(res.body.detail, /of \d+ bytes exceeds the limit of 4096 bytes/);
    }
  });

  test('elements of one tensor', async () => {
    const res = await postJson(convd, '/conv/forward', {
      ...exampleForward(),
      input: tensor('float32', [1, 1, 40, 40], []),
    });
    assertProblem(res, 413, 'input.shape');
    assert.match(res.body.detail, /1600 elements; the limit is 1000/);
  });

  test('output bytes', async () => {
    const res = await postJson(convd, '/conv/forward', {
      input: tensor('float64', [1, 1, 200], []),
      weight: tensor('float64', [2, 1, 1], []),
    });
    assertProblem(res, 413, 'input.shape');
    assert.match(res.body.detail, /outputs would take 3200 bytes; the limit is 1024 bytes/);
  });

  test('FLOPs', async () => {
    const res = await postJson(convd, '/conv/forward', {
      input: tensor('float32', [1, 1, 30, 30], []),
      weight: tensor('float32', [1, 1, 9, 9], []),
    });
    assertProblem(res, 413);
    assert.match(res.body.detail, /needs 78408 FLOPs; the limit is 10000/);
  });
});

describe('a tiny body declaring a gigantic shape', () => {
  const absurd = {
    input: { dtype: 'float32', shape: [1, 1, 100000, 100000], data: [1] },
    weight: { dtype: 'float32', shape: [1, 1, 3, 3], data: Array(9).fill(0.5) },
  };

  for (const limits of ['default limits', 'limits raised past the shape'] as const) {
    test(`answers fast without allocating (${limits})`, async () => {
      const config =
        limits === 'default limits' ? {} : { maxTensorElements: 1e11, maxOutputBytes: 1e12, maxFlops: 1e13 };
      const convd = await testApp({ config });
      try {
        const rss = process.memoryUsage.rss();
        const started = performance.now();
        for (const send of ['json', 'msgpack'] as const) {
          const req = request(convd.app.server).post('/conv/forward');
          const res =
            send === 'json'
              ? await req.set('content-type', 'application/json').send(JSON.stringify(absurd))
              : await req
                  .set('content-type', 'application/msgpack')
                  .send(Buffer.from(packBin.pack({ ...absurd, input: { ...absurd.input, data: Buffer.alloc(4) } })));
          if (limits === 'default limits') assertProblem(res, 413, 'input.shape');
          else assertProblem(res, 400, 'input.data');
        }
        assert.ok(performance.now() - started < 1000, 'answered within a second');
        assert.ok(
          process.memoryUsage.rss() - rss < 64 * 2 ** 20,
          `RSS grew by ${(process.memoryUsage.rss() - rss) / 2 ** 20} MiB`,
        );
      } finally {
        await convd.app.close();
      }
    });
  }
});

test('a garbage data array answers 400 at its first bad element, in bounded time and memory', async () => {
  const convd = await testApp();
  try {
    const n = 2_000_000;
    const body = `{"input":{"dtype":"float32","shape":[1,1,${n}],"data":[${'"a",'.repeat(n - 1)}"a"]},"weight":{"dtype":"float32","shape":[1,1,1],"data":[1]}}`;
    const rss = process.memoryUsage.rss();
    const started = performance.now();
    const res = await request(convd.app.server)
      .post('/conv/forward')
      .set('content-type', 'application/json')
      .send(body);
    assertProblem(res, 400, 'input.data[0]');
    assert.ok(performance.now() - started < 3000, 'answered within 3 s');
    assert.ok(
      process.memoryUsage.rss() - rss < 256 * 2 ** 20,
      `RSS grew by ${(process.memoryUsage.rss() - rss) / 2 ** 20} MiB`,
    );
  } finally {
    await convd.app.close();
  }
});

test('an unexpected failure answers 500 without internals', async () => {
  const { pool } = fakePool({ blockMs: 0, fail: true });
  const convd = await testApp({ pool });
  try {
    const res = await postJson(convd, '/conv/forward', exampleForward());
    assertProblem(res, 500);
    assert.doesNotMatch(res.text, /exploded|fake-worker/);
    assert.ok(
      res.body.detail.includes(res.headers['x-request-id']),
      'detail gives the request id to find the log entry',
    );
  } finally {
    await convd.app.close();
  }
});
