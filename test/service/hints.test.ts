/**
 * Errors that suggest the fix: a channel mismatch that the other layout resolves says which
 * layout (or which permutation) to send, and only then; an input one dimension short says to
 * add the batch dimension; nested tensor data says to flatten it; an output-bytes 413 names
 * its field, its shapes and a batch split that fits. Each hint is checked present where it
 * helps and absent where it would not, and every suggested fix is checked to resolve.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import { GeometryError } from '../../src/shared/geometry/common.js';
import { resolveConv } from '../../src/shared/geometry/conv.js';
import { resolvePooling, type PoolingParams } from '../../src/shared/geometry/pooling.js';
import { resolveTranspose } from '../../src/shared/geometry/transpose.js';
import type { ConvOperands, ConvParams } from '../../src/shared/geometry/conv.js';
import type { FieldError, Layout } from '../../src/shared/geometry/common.js';
import { expectGeometryError } from '../reference/geometry-errors.js';
import { assertProblem, packBin, postJson, tensor, testApp, type ConvdApp } from './helpers.js';

const t = (shape: number[]) => ({ dtype: 'float32' as const, shape });
const conv = (input: number[], weight: number[], extra: Partial<ConvOperands> = {}): ConvOperands => ({
  input: t(input),
  weight: t(weight),
  ...extra,
});

/** The problems a request resolves to ([] when it resolves). */
function problems(resolve: () => unknown): FieldError[] {
  try {
    resolve();
    return [];
  } catch (err) {
    if (err instanceof GeometryError) return err.errors;
    throw err;
  }
}

/** The one message at `path`. */
function messageAt(resolve: () => unknown, path: string): string {
  const hit = problems(resolve).filter((e) => e.path === path);
  assert.equal(hit.length, 1, `one problem at ${path}: ${JSON.stringify(problems(resolve))}`);
  return hit[0].message;
}

/** The fixes a layout hint suggests, parsed back from its text. */
function suggestedFixes(message: string): { layout?: Layout; input?: number[]; weight?: number[] }[] {
  const fixes: { layout?: Layout; input?: number[]; weight?: number[] }[] = [];
  const shape = (s: string) => s.split(', ').map(Number);
  const permuted = /permute it to \[[^\]]*\] \(input\.shape \[([^\]]*)\]\)/.exec(message);
  if (permuted) fixes.push({ input: shape(permuted[1]) });
  const layoutWithWeight =
    /send layout: "(\w+)" with the weight permuted to \[[^\]]*\] \(weight\.shape \[([^\]]*)\]\)/.exec(message);
  if (layoutWithWeight) fixes.push({ layout: layoutWithWeight[1] as Layout, weight: shape(layoutWithWeight[2]) });
  else {
    const layoutOnly = /send layout: "(\w+)"/.exec(message);
    if (layoutOnly) fixes.push({ layout: layoutOnly[1] as Layout });
  }
  return fixes;
}

/** Every fix the hint at `path` suggests resolves the request; returns how many it suggests. */
function assertFixesResolve(operands: ConvOperands, params: ConvParams, path: string): number {
  // groups may have two problems (input and output channels); the hint is on the input one
  const hinted = problems(() => resolveConv(operands, params)).filter(
    (e) => e.path === path && /looks? channels-/.test(e.message),
  );
  assert.equal(hinted.length, 1, `one hinted problem at ${path}`);
  const fixes = suggestedFixes(hinted[0].message);
  for (const fix of fixes) {
    const fixed: ConvOperands = { ...operands };
    if (fix.input) fixed.input = t(fix.input);
    if (fix.weight) fixed.weight = t(fix.weight);
    const fixedParams = fix.layout ? { ...params, layout: fix.layout } : params;
    assert.deepEqual(
      problems(() => resolveConv(fixed, fixedParams)),
      [],
      `fix ${JSON.stringify(fix)} of ${JSON.stringify({ operands, params })}`,
    );
  }
  return fixes.length;
}

describe('channel mismatch: the other layout, when it resolves', () => {
  test('NHWC input with an OIHW weight sent as channels_first: permute the input, or channels_last with the weight permuted', () => {
    const ops = conv([1, 5, 5, 3], [8, 3, 3, 3]);
    expectGeometryError(
      () => resolveConv(ops, {}),
      'weight.shape[1]',
      'weight.shape[1] is 3 but input has 5 channels / groups 1 = 5',
      'the input looks channels-last ([N, H, W, C])',
      'permute it to [N, C, H, W] (input.shape [1, 3, 5, 5])',
      'send layout: "channels_last" with the weight permuted to [kH, kW, C_in/groups, C_out] (weight.shape [3, 3, 3, 8])',
    );
    assert.equal(assertFixesResolve(ops, {}, 'weight.shape[1]'), 2);
  });

  test('NHWC input and HWIO weight without layout: send layout "channels_last"', () => {
    const ops = conv([1, 5, 5, 3], [3, 3, 3, 8]);
    expectGeometryError(
      () => resolveConv(ops, {}),
      'weight.shape[1]',
      'the tensors look channels-last (input [N, H, W, C], weight [kH, kW, C_in/groups, C_out]): send layout: "channels_last"',
    );
    assert.equal(assertFixesResolve(ops, {}, 'weight.shape[1]'), 1);
    // a letter alias of channels_first is read the same way
    expectGeometryError(() => resolveConv(ops, { layout: 'NCHW' }), 'weight.shape[1]', 'send layout: "channels_last"');
  });

  test('the reverse: NCHW tensors sent as channels_last', () => {
    const ops = conv([1, 3, 5, 5], [8, 3, 3, 3]);
    expectGeometryError(
      () => resolveConv(ops, { layout: 'channels_last' }),
      'weight.shape[2]',
      'weight.shape[2] is 3 but input has 5 channels / groups 1 = 5',
      'the tensors look channels-first (input [N, C, H, W], weight [C_out, C_in/groups, kH, kW]): send layout: "channels_first"',
    );
    assert.equal(assertFixesResolve(ops, { layout: 'NHWC' }, 'weight.shape[2]'), 1);
    // NCHW input with an HWIO weight as channels_last: permute the input to NHWC, or channels_first with an OIHW weight
    const mixed = conv([1, 3, 5, 5], [3, 3, 3, 8]);
    expectGeometryError(
      () => resolveConv(mixed, { layout: 'channels_last' }),
      'weight.shape[2]',
      'the input looks channels-first ([N, C, H, W])',
      'permute it to [N, H, W, C] (input.shape [1, 5, 5, 3])',
      'weight.shape [8, 3, 3, 3]',
    );
    assert.equal(assertFixesResolve(mixed, { layout: 'channels_last' }, 'weight.shape[2]'), 2);
  });

  test('1-D and 3-D name their dims', () => {
    // read as channels_last the weight [6, 4, 3] would be a kernel of 6 on a width of 5: only permuting the input fits
    expectGeometryError(
      () => resolveConv(conv([2, 5, 4], [6, 4, 3]), {}),
      'weight.shape[1]',
      'the input looks channels-last ([N, W, C])',
      'permute it to [N, C, W] (input.shape [2, 4, 5])',
    );
    expectGeometryError(
      () => resolveConv(conv([2, 9, 4], [6, 4, 3]), {}),
      'weight.shape[1]',
      'the tensors look channels-last (input [N, W, C], weight [kW, C_in/groups, C_out])',
    );
    expectGeometryError(
      () => resolveConv(conv([1, 4, 5, 6, 2], [2, 2, 2, 2, 3]), {}),
      'weight.shape[1]',
      'the tensors look channels-last (input [N, D, H, W, C], weight [kD, kH, kW, C_in/groups, C_out])',
    );
  });

  test('groups that do not divide the input channels read in the wrong layout (depthwise NHWC)', () => {
    const ops = conv([1, 8, 8, 6], [6, 1, 3, 3]);
    expectGeometryError(
      () => resolveConv(ops, { groups: 6 }),
      'groups',
      'groups 6 does not divide the 8 input channels (input.shape[1])',
      'the input looks channels-last',
      'input.shape [1, 6, 8, 8]',
    );
    assertFixesResolve(ops, { groups: 6 }, 'groups');
  });

  test('backward: only the fixes that grad_output agrees with', () => {
    // grad_output of the channels_first reading: permuting the input fits it, the channels_last reading does not
    const first = conv([1, 5, 5, 3], [8, 3, 3, 3], { grad_output: t([1, 8, 3, 3]) });
    const m1 = messageAt(() => resolveConv(first, {}), 'weight.shape[1]');
    assert.match(m1, /permute it to/);
    assert.doesNotMatch(m1, /send layout/);
    assertFixesResolve(first, {}, 'weight.shape[1]');
    const last = conv([1, 5, 5, 3], [8, 3, 3, 3], { grad_output: t([1, 3, 3, 8]) });
    const m2 = messageAt(() => resolveConv(last, {}), 'weight.shape[1]');
    assert.doesNotMatch(m2, /permute it to/);
    assert.match(m2, /send layout: "channels_last" with the weight permuted/);
    assertFixesResolve(last, {}, 'weight.shape[1]');
  });

  test('absent when no layout resolves it: the message is exactly the mismatch', () => {
    // the documented example (README, OpenAPI Problem example) stays word for word
    assert.equal(
      messageAt(() => resolveConv(conv([1, 4, 5, 5], [2, 3, 3, 3]), {}), 'weight.shape[1]'),
      'weight.shape[1] is 3 but input has 4 channels / groups 1 = 4',
    );
    assert.equal(
      messageAt(() => resolveConv(conv([1, 5, 5, 4], [3, 3, 3, 2]), { layout: 'channels_last' }), 'weight.shape[2]'),
      'weight.shape[2] is 3 but input has 4 channels / groups 1 = 4',
    );
    // channels_last would fix the channels but not the rest (a kernel of 8 on 5 x 5 under that reading)
    const kernelTooBig = messageAt(
      () => resolveConv(conv([1, 5, 5, 3], [8, 3, 3, 3]), { stride: 1 }),
      'weight.shape[1]',
    );
    assert.doesNotMatch(kernelTooBig, /tensors look/);
    // a mismatch with the bias wrong under every reading: no hint
    const bias = messageAt(
      () => resolveConv(conv([1, 5, 5, 3], [3, 3, 3, 8], { bias: t([5]) }), {}),
      'weight.shape[1]',
    );
    assert.doesNotMatch(bias, /looks|layout/);
  });

  test('transposed convolution: [C_in, C_out/groups, *k] and [*k, C_out/groups, C_in]', () => {
    const ops = { input: t([1, 5, 5, 3]), weight: t([3, 8, 3, 2]) };
    expectGeometryError(
      () => resolveTranspose(ops, {}),
      'weight.shape[0]',
      'weight.shape[0] is 3 but input has 5 channels',
      'the input looks channels-last ([N, H, W, C])',
      'permute it to [N, C, H, W] (input.shape [1, 3, 5, 5])',
      'weight.shape [3, 2, 8, 3]',
    );
    assert.deepEqual(
      problems(() => resolveTranspose({ ...ops, input: t([1, 3, 5, 5]) }, {})),
      [],
    );
    assert.deepEqual(
      problems(() => resolveTranspose({ ...ops, weight: t([3, 2, 8, 3]) }, { layout: 'channels_last' })),
      [],
    );
    const cl = { input: t([1, 5, 5, 3]), weight: t([3, 3, 8, 3]) };
    expectGeometryError(
      () => resolveTranspose(cl, {}),
      'weight.shape[0]',
      'the tensors look channels-last (input [N, H, W, C], weight [kH, kW, C_out/groups, C_in]): send layout: "channels_last"',
    );
    const plain = messageAt(
      () => resolveTranspose({ input: t([1, 4, 5]), weight: t([3, 2, 3]) }, {}),
      'weight.shape[0]',
    );
    assert.doesNotMatch(plain, /looks|layout/);
  });

  test('property: a valid request sent in the wrong layout is hinted whenever its channels disagree, and every suggested fix resolves', () => {
    const arb = fc.record({
      d: fc.integer({ min: 1, max: 3 }),
      batch: fc.integer({ min: 1, max: 2 }),
      groups: fc.integer({ min: 1, max: 3 }),
      cinG: fc.integer({ min: 1, max: 4 }),
      coutG: fc.integer({ min: 1, max: 3 }),
      extents: fc.array(fc.integer({ min: 3, max: 7 }), { minLength: 3, maxLength: 3 }),
      kernels: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
      sent: fc.constantFrom<Layout>('channels_first', 'channels_last'),
      mistake: fc.constantFrom('layout', 'input'),
    });
    let hinted = 0;
    fc.assert(
      fc.property(arb, ({ d, batch, groups, cinG, coutG, extents, kernels, sent, mistake }) => {
        const cin = cinG * groups;
        const cout = coutG * groups;
        const s = extents.slice(0, d);
        const k = kernels.slice(0, d);
        // the request as meant, in layout `sent`: it resolves
        const meant =
          sent === 'channels_first'
            ? conv([batch, cin, ...s], [cout, cinG, ...k])
            : conv([batch, ...s, cin], [...k, cinG, cout]);
        assert.deepEqual(
          problems(() => resolveConv(meant, { groups, layout: sent })),
          [],
        );
        const other: Layout = sent === 'channels_first' ? 'channels_last' : 'channels_first';
        // the mistake: the whole request under the other layout, or only the input permuted to it
        const input = sent === 'channels_first' ? [batch, ...s, cin] : [batch, cin, ...s];
        const [ops, params]: [ConvOperands, ConvParams] =
          mistake === 'layout'
            ? [meant, { groups, layout: other }]
            : [
                { ...meant, input: t(input) },
                { groups, layout: sent },
              ];
        const errs = problems(() => resolveConv(ops, params));
        const channelErr = errs.find(
          (e) => /^weight\.shape\[\d\]$/.test(e.path) || (e.path === 'groups' && e.message.includes('input channels')),
        );
        if (!channelErr) return;
        assert.match(channelErr.message, /looks? channels-(first|last)/, JSON.stringify({ ops, params, errs }));
        hinted++;
        assert.ok(assertFixesResolve(ops, params, channelErr.path) >= 1);
      }),
      { numRuns: 300, seed: 20_240_611 },
    );
    assert.ok(hinted > 100, `${hinted} hinted cases`);
  });
});

describe('an input one dimension short: add the batch dimension', () => {
  test('convolution: rank 3 input with a 4-D weight', () => {
    expectGeometryError(
      () => resolveConv(conv([3, 5, 5], [8, 3, 3, 3]), {}),
      'weight.shape',
      'weight.shape has rank 4 but input has rank 3 ([3, 5, 5])',
      'a 2-D convolution takes input of rank 4 [N, C, H, W]: add the batch dimension (N = 1), making input.shape [1, 3, 5, 5]',
    );
    expectGeometryError(
      () => resolveConv(conv([5, 5, 3], [3, 3, 3, 8]), { layout: 'NHWC' }),
      'weight.shape',
      'rank 4 [N, H, W, C]',
      'making input.shape [1, 5, 5, 3]',
    );
    expectGeometryError(
      () => resolveConv(conv([4, 6, 6, 6], [2, 4, 3, 3, 3]), {}),
      'weight.shape',
      'a 3-D convolution takes input of rank 5 [N, C, D, H, W]',
    );
    // rank 2 reaching the geometry (the schema refuses it first over HTTP)
    expectGeometryError(
      () => resolveConv(conv([3, 10], [8, 3, 3]), {}),
      'input.shape',
      'rank 2',
      'a 1-D convolution takes input of rank 3 [N, C, W]: add the batch dimension (N = 1), making input.shape [1, 3, 10]',
    );
  });

  test('absent when adding one dimension would not match the weight', () => {
    assert.doesNotMatch(
      messageAt(() => resolveConv(conv([1, 2, 5, 5], [3, 2, 3]), {}), 'weight.shape'),
      /batch dimension/,
    );
    assert.doesNotMatch(
      messageAt(() => resolveConv(conv([2, 5, 5], [3, 2, 3, 3, 3]), {}), 'weight.shape'),
      /batch dimension/,
    );
    assert.doesNotMatch(
      messageAt(() => resolveConv(conv([4, 4], [1, 1]), {}), 'input.shape'),
      /batch dimension/,
    );
  });

  test('transposed convolution', () => {
    expectGeometryError(
      () => resolveTranspose({ input: t([1, 1, 5]), weight: t([1, 1, 3, 3]) }, {}),
      'weight.shape',
      'rank 4 but input has rank 3',
      'a 2-D transposed convolution takes input of rank 4 [N, C, H, W]',
      'making input.shape [1, 1, 1, 5]',
    );
  });

  test('pooling: when kernel_size lists the spatial dims', () => {
    const p = (input: number[], params: Omit<PoolingParams, 'mode'>) => () =>
      resolvePooling({ input: t(input) }, { mode: 'max', ...params });
    expectGeometryError(
      p([3, 5, 5], { kernel_size: [2, 2] }),
      'kernel_size',
      'kernel_size has 2 values but the pooling has 1 spatial dims; either give kernel_size 1 value, or for one sample without its batch dimension: ' +
        'a 2-D pooling takes input of rank 4 [N, C, H, W]: add the batch dimension (N = 1), making input.shape [1, 3, 5, 5]',
    );
    expectGeometryError(
      p([3, 5], { kernel_size: [2] }),
      'input.shape',
      'rank 2',
      'a 1-D pooling takes input of rank 3 [N, C, W]',
    );
    // a scalar kernel_size says nothing about the dims meant
    assert.doesNotMatch(messageAt(p([3, 5], { kernel_size: 2 }), 'input.shape'), /batch dimension/);
    // a batched input with one kernel_size value too many: either could be the mistake, both are named
    expectGeometryError(
      p([1, 3, 5, 5], { kernel_size: [2, 2, 2] }),
      'kernel_size',
      'either give kernel_size 2 values, or for one sample',
      'making input.shape [1, 1, 3, 5, 5]',
    );
    assert.doesNotMatch(messageAt(p([1, 3, 5, 5], { kernel_size: [2, 2, 2, 2] }), 'kernel_size'), /batch dimension/);
  });
});

describe('over HTTP', () => {
  let convd: ConvdApp;
  before(async () => {
    convd = await testApp();
  });
  after(() => convd.app.close());

  const ones = (shape: number[]) => tensor('float32', shape, Array(shape.reduce((a, b) => a * b, 1)).fill(1));

  test('the layout hint reaches the problem detail', async () => {
    const res = await postJson(convd, '/conv/forward', { input: ones([1, 5, 5, 3]), weight: ones([3, 3, 3, 8]) });
    assertProblem(res, 400, 'weight.shape[1]');
    assert.equal(
      res.body.detail,
      'weight.shape[1] is 3 but input has 5 channels / groups 1 = 5; the tensors look channels-last (input [N, H, W, C], weight [kH, kW, C_in/groups, C_out]): send layout: "channels_last" (and 1 more problem)',
    );
    // and following it works
    const fixed = await postJson(convd, '/conv/forward', {
      input: ones([1, 5, 5, 3]),
      weight: ones([3, 3, 3, 8]),
      layout: 'channels_last',
    });
    assert.equal(fixed.status, 200, fixed.text);
  });

  test('a rank-2 input refused by the schema: add the batch dimension, when the weight says so', async () => {
    const res = await postJson(convd, '/conv/forward', { input: ones([3, 10]), weight: ones([8, 3, 3]) });
    assertProblem(res, 400, 'input.shape');
    assert.equal(
      res.body.detail,
      'input.shape is [3,10]: must have rank 3 to 5; with weight.shape of rank 3, a 1-D convolution takes input of rank 3 [N, C, W]: add the batch dimension (N = 1), making input.shape [1, 3, 10]',
    );
    const pool = await postJson(convd, '/pool/forward', { input: ones([3, 10]), mode: 'max', kernel_size: [2] });
    assertProblem(pool, 400, 'input.shape');
    assert.match(
      pool.body.detail,
      /with kernel_size of 1 value, a 1-D pooling takes input of rank 3 \[N, C, W\]: add the batch dimension \(N = 1\)/,
    );
    // both tensors rank 2: no dimension count to go by
    const both = await postJson(convd, '/conv/forward', { input: ones([4, 4]), weight: ones([1, 1]) });
    assertProblem(both, 400, 'input.shape');
    assert.doesNotMatch(both.text, /batch dimension/);
  });

  test('a rank-3 input to a 2-D convolution', async () => {
    const res = await postJson(convd, '/conv/forward', { input: ones([3, 5, 5]), weight: ones([8, 3, 3, 3]) });
    assertProblem(res, 400, 'weight.shape');
    assert.match(
      res.body.detail,
      /input has rank 3 \(\[3, 5, 5\]\); a 2-D convolution takes input of rank 4 \[N, C, H, W\]: add the batch dimension \(N = 1\)/,
    );
  });

  test('nested data: flatten it (row-major), at the data field, with the count its shape needs', async () => {
    const res = await postJson(convd, '/conv/forward', {
      input: {
        dtype: 'float32',
        shape: [1, 1, 2, 2],
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      weight: ones([1, 1, 1, 1]),
    });
    assertProblem(res, 400, 'input.data');
    assert.equal(res.body.errors.length, 1);
    assert.equal(
      res.body.detail,
      'input.data is nested (input.data[0] is [1,2]): tensor data is one flat array; flatten it (row-major) into one array of 4 numbers (shape [1, 1, 2, 2])',
    );
    // nested further in, and in msgpack
    const body = { input: ones([1, 1, 3]), weight: { dtype: 'float32', shape: [1, 1, 2], data: [1, [2]] } };
    const mp = await request(convd.app.server)
      .post('/conv/forward')
      .set('content-type', 'application/msgpack')
      .send(Buffer.from(packBin.pack(body)));
    assertProblem(mp, 400, 'weight.data');
    assert.match(
      mp.body.detail,
      /^weight\.data is nested \(weight\.data\[1\] is \[2\]\): .*flatten it \(row-major\) into one array of 2 numbers \(shape \[1, 1, 2\]\)$/,
    );
  });

  test('a flat array with a non-number is not told to flatten', async () => {
    const res = await postJson(convd, '/conv/forward', {
      input: { dtype: 'float32', shape: [1, 1, 2], data: [1, 'x'] },
      weight: ones([1, 1, 1]),
    });
    assertProblem(res, 400, 'input.data[1]');
    assert.doesNotMatch(res.text, /flatten/);
  });
});

describe('413 for output bytes: errors[].path, the shapes, a batch split that fits', () => {
  let small: ConvdApp;
  before(async () => {
    small = await testApp({ config: { maxTensorElements: 1000, maxOutputBytes: 1024, maxFlops: 1e7 } });
  });
  after(() => small.app.close());
  const empty = (shape: number[]) => tensor('float64', shape, []);

  test('conv forward: input.shape, the output shape, and no split for a batch of 1', async () => {
    const res = await postJson(small, '/conv/forward', { input: empty([1, 1, 200]), weight: empty([2, 1, 1]) });
    assertProblem(res, 413, 'input.shape');
    assert.equal(
      res.body.detail,
      'the outputs would take 3200 bytes; the limit is 1024 bytes (CONVD_MAX_OUTPUT_BYTES): output [1, 2, 200] of float64, from input.shape [1, 1, 200] and weight.shape [2, 1, 1]',
    );
    assert.deepEqual(
      res.body.errors.map((e: FieldError) => e.path),
      ['input.shape'],
    );
  });

  test('conv forward: a batch, some of whose samples fit', async () => {
    const res = await postJson(small, '/conv/forward', { input: empty([8, 1, 20]), weight: empty([2, 1, 1]) });
    assertProblem(res, 413, 'input.shape');
    // 320 bytes a sample: 3 of them fit in 1024
    assert.match(
      res.body.detail,
      /outputs would take 2560 bytes; .*output \[8, 2, 20\] of float64.*; split the batch: at most 3 of its 8 samples \(input\.shape\[0\]\) fit in one request$/,
    );
  });

  test('conv backward: grads, each gradient, the split counting grad_weight and grad_bias once', async () => {
    const res = await postJson(small, '/conv/backward', {
      input: empty([4, 1, 100]),
      weight: empty([2, 1, 1]),
      grad_output: empty([4, 2, 100]),
    });
    assertProblem(res, 413, 'grads');
    assert.equal(
      res.body.detail,
      'the outputs would take 3232 bytes; the limit is 1024 bytes (CONVD_MAX_OUTPUT_BYTES): grad_input [4, 1, 100], grad_weight [2, 1, 1], grad_bias [2] of float64, ' +
        'the gradients grads ["input","weight","bias"] asks for; split the batch: at most 1 of its 4 samples (input.shape[0]) fit in one request',
    );
  });

  test('pooling forward and backward, conv_transpose: input.shape', async () => {
    const back = await postJson(small, '/pool/backward', {
      input: empty([1, 1, 200]),
      mode: 'avg',
      kernel_size: 4,
      grad_output: empty([1, 1, 50]),
    });
    assertProblem(back, 413, 'input.shape');
    assert.match(back.body.detail, /grad_input \[1, 1, 200\] of float64, shaped like input\.shape \[1, 1, 200\]$/);
    const fwd = await postJson(small, '/pool/forward', { input: empty([1, 1, 900]), mode: 'avg', kernel_size: 1 });
    assertProblem(fwd, 413, 'input.shape');
    assert.match(fwd.body.detail, /output \[1, 1, 900\] of float64, from input\.shape \[1, 1, 900\]/);
    const tr = await postJson(small, '/conv/transpose', {
      input: empty([1, 1, 10]),
      weight: empty([1, 1, 3]),
      stride: 100,
    });
    assertProblem(tr, 413, 'input.shape');
    assert.match(
      tr.body.detail,
      /output \[1, 1, 903\] of float64, from input\.shape \[1, 1, 10\], weight\.shape \[1, 1, 3\], stride/,
    );
  });

  test('with a tensor over its element limit too: both listed, each with its path', async () => {
    const res = await postJson(small, '/conv/forward', { input: empty([1, 1, 2000]), weight: empty([1, 1, 1]) });
    assertProblem(res, 413, 'input.shape');
    assert.equal(res.body.errors.length, 2);
    assert.match(res.body.errors[0].message, /2000 elements; the limit is 1000/);
    assert.match(res.body.errors[1].message, /outputs would take 16000 bytes/);
  });
});
