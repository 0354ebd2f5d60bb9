/**
 * POST /unfold and POST /fold end to end through the real worker pool: the documented answers,
 * both wires and layouts, unfold followed by fold (each pixel times the windows that cover it),
 * every refusal as problem+json naming the field, limits and metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import {
  assertProblem,
  flopsComputed,
  packBin,
  postJson,
  rawBody,
  tensor,
  testApp,
  unpackr,
  values,
  type ConvdApp,
} from '../service/helpers.js';

const image = () =>
  tensor(
    'float64',
    [1, 1, 3, 3],
    Array.from({ length: 9 }, (_, i) => i + 1),
  );

let convd: ConvdApp;
before(async () => {
  convd = await testApp();
});
after(() => convd.app.close());

describe('answers', () => {
  test("unfold: PyTorch's [N, C * prod(k), L], rows channel-major", async () => {
    const res = await postJson(convd, '/unfold', {
      input: tensor('float32', [1, 2, 1, 3], [1, 2, 3, 10, 20, 30]),
      kernel_size: [1, 2],
    });
    assert.equal(res.status, 200, res.text);
    // channel 0: taps (0, 0), (0, 1) over 2 blocks; then channel 1
    assert.deepEqual(res.body.output, { dtype: 'float32', shape: [1, 4, 2], data: [1, 2, 2, 3, 10, 20, 20, 30] });
  });

  test('channels_last images give the same columns as channels_first', async () => {
    const first = await postJson(convd, '/unfold', {
      input: tensor('float32', [1, 2, 1, 3], [1, 2, 3, 10, 20, 30]),
      kernel_size: [1, 2],
    });
    const last = await postJson(convd, '/unfold', {
      input: tensor('float32', [1, 1, 3, 2], [1, 10, 2, 20, 3, 30]),
      kernel_size: [1, 2],
      layout: 'NHWC',
    });
    assert.equal(last.status, 200, last.text);
    assert.deepEqual(last.body, first.body);
    // and fold answers channels_last when asked
    const back = await postJson(convd, '/fold', {
      input: tensor('float32', [1, 4, 2], first.body.output.data),
      output_size: [1, 3],
      kernel_size: [1, 2],
      layout: 'channels_last',
    });
    assert.equal(back.status, 200, back.text);
    assert.deepEqual(back.body.output, { dtype: 'float32', shape: [1, 1, 3, 2], data: [1, 10, 4, 40, 3, 30] });
  });

  test('fold(unfold(x)) multiplies each pixel by the number of windows covering it (1-D and 3-D)', async () => {
    const oneD = { kernel_size: 3, padding: 1 };
    const u = await postJson(convd, '/unfold', { input: tensor('float64', [1, 1, 4], [1, 2, 3, 4]), ...oneD });
    assert.equal(u.status, 200, u.text);
    assert.deepEqual(u.body.output.shape, [1, 3, 4]);
    const f = await postJson(convd, '/fold', {
      input: tensor('float64', [1, 3, 4], u.body.output.data),
      output_size: [4],
      ...oneD,
    });
    assert.equal(f.status, 200, f.text);
    // 1, 2, 3, 4 times the 2, 3, 3, 2 windows of 3 (padding 1) that cover them
    assert.deepEqual(f.body.output.data, [2, 6, 9, 8]);
    const threeD = { kernel_size: 2, stride: 1 };
    const cube = tensor(
      'float64',
      [1, 1, 2, 2, 3],
      Array.from({ length: 12 }, () => 1),
    );
    const u3 = await postJson(convd, '/unfold', { input: cube, ...threeD });
    assert.deepEqual(u3.body.output.shape, [1, 8, 2]);
    const f3 = await postJson(convd, '/fold', {
      input: tensor('float64', [1, 8, 2], u3.body.output.data),
      output_size: [2, 2, 3],
      ...threeD,
    });
    assert.deepEqual(f3.body.output.data, [1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 2, 1]);
  });

  test('msgpack in and out', async () => {
    const res = await request(convd.app.server)
      .post('/unfold')
      .set('content-type', 'application/msgpack')
      .buffer(true)
      .parse(rawBody)
      .send(packBin.pack({ input: image(), kernel_size: 2 }));
    assert.equal(res.status, 200);
    const payload = unpackr.unpack(res.body as Buffer);
    assert.ok(payload.output.data instanceof Uint8Array, 'msgpack data is a bin');
    assert.deepEqual(values(payload.output), [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9]);
  });
});

describe('400 with errors[].path', () => {
  const cases: { name: string; path: string; route: string; body: object; detail?: RegExp }[] = [
    { name: 'unfold without kernel_size', route: '/unfold', body: { input: image() }, path: 'kernel_size' },
    {
      name: 'unfold padding pairs',
      route: '/unfold',
      body: { input: image(), kernel_size: 2, padding: [[1, 0]] },
      path: 'padding[0]',
    },
    {
      name: 'unfold dilation 0',
      route: '/unfold',
      body: { input: image(), kernel_size: 2, dilation: 0 },
      path: 'dilation',
    },
    {
      name: 'unfold a window over the padded image',
      route: '/unfold',
      body: { input: image(), kernel_size: 2, dilation: 3 },
      path: 'input.shape[2]',
      detail:
        /input.shape\[2\] is 3 but 3 \+ 2 \* padding 0 is smaller than the dilated kernel 3 \* \(2 - 1\) \+ 1 = 4/,
    },
    {
      name: 'unfold kernel_size of another rank',
      route: '/unfold',
      body: { input: image(), kernel_size: [2] },
      path: 'kernel_size',
      detail: /1 values but the unfold has 2 spatial dims/,
    },
    {
      name: 'fold without output_size',
      route: '/fold',
      body: { input: tensor('float32', [1, 4, 4], Array(16).fill(1)), kernel_size: 2 },
      path: 'output_size',
    },
    {
      name: 'fold of a rank-4 input',
      route: '/fold',
      body: { input: tensor('float32', [1, 4, 4, 1], Array(16).fill(1)), output_size: [3, 3], kernel_size: 2 },
      path: 'input.shape',
    },
    {
      name: 'fold rows not a multiple of prod(kernel_size)',
      route: '/fold',
      body: { input: tensor('float32', [1, 6, 4], Array(24).fill(1)), output_size: [3, 3], kernel_size: 2 },
      path: 'input.shape[1]',
      detail: /input.shape\[1\] is 6 but must be C \* prod\(kernel_size\) = C \* 4/,
    },
    {
      name: 'fold columns not the blocks of output_size',
      route: '/fold',
      body: { input: tensor('float32', [1, 4, 5], Array(20).fill(1)), output_size: [3, 3], kernel_size: 2 },
      path: 'input.shape[2]',
      detail: /input.shape\[2\] is 5 but output_size \[3, 3\] has 2 \* 2 = 4 blocks/,
    },
    {
      name: 'fold layout alias of another rank',
      route: '/fold',
      body: {
        input: tensor('float32', [1, 4, 4], Array(16).fill(1)),
        output_size: [3, 3],
        kernel_size: 2,
        layout: 'NCW',
      },
      path: 'layout',
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = await postJson(convd, c.route, c.body);
      assertProblem(res, 400, c.path);
      if (c.detail) assert.match(res.body.detail, c.detail);
    });
  }
});

test('413: a fold whose image is over the output limit, from shapes, before anything is allocated', async () => {
  const small = await testApp({ config: { maxOutputBytes: 4096 } });
  try {
    // one 1x1 window, stride 100: a 100x100 image of float32 is 40000 bytes
    const res = await postJson(small, '/fold', {
      input: tensor('float32', [1, 1, 1], [1]),
      output_size: [100, 100],
      kernel_size: 1,
      stride: 100,
    });
    assertProblem(res, 413);
    assert.match(res.body.detail, /40000 bytes; the limit is 4096 bytes/);
  } finally {
    await small.app.close();
  }
});

test('metrics count one FLOP per column element under op="unfold" and op="fold"', async () => {
  const flops = (op: string) => flopsComputed(convd, op);
  const [u0, f0] = [await flops('unfold'), await flops('fold')];
  await postJson(convd, '/unfold', { input: image(), kernel_size: 2 });
  await postJson(convd, '/fold', {
    input: tensor('float64', [1, 4, 4], Array(16).fill(1)),
    output_size: 3,
    kernel_size: 2,
  });
  assert.equal((await flops('unfold')) - u0, 16);
  assert.equal((await flops('fold')) - f0, 16);
});
