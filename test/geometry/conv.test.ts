/**
 * resolveConv: every validation rule names its field path and the numbers involved; every
 * padding form, "same" (SAME_UPPER, any stride, even kernels) and layout alias resolves to the
 * contract's output shape. Plus numel / itemSize / convWork.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConv, convWork } from '../../src/shared/geometry/conv.js';
import { GeometryError } from '../../src/shared/geometry/common.js';
import { numel, itemSize } from '../../src/shared/tensor.js';
import type { ConvOperands, ConvParams, GradName } from '../../src/shared/geometry/conv.js';
import type { DType } from '../../src/shared/tensor.js';
import { expectGeometryError } from '../reference/geometry-errors.js';

const t = (shape: number[], dtype: DType = 'float32') => ({ dtype, shape });
const ops = (input: number[], weight: number[], extra: Partial<ConvOperands> = {}): ConvOperands => ({
  input: t(input),
  weight: t(weight),
  ...extra,
});

const expectError = (operands: ConvOperands, params: ConvParams, path: string | RegExp, ...parts: string[]) =>
  expectGeometryError(() => resolveConv(operands, params), path, ...parts);

describe('validation rules', () => {
  test('dtype mismatch names the operand and both dtypes', () => {
    expectError({ input: t([1, 2, 5]), weight: t([3, 2, 3], 'float64') }, {}, 'weight.dtype', 'float64', 'float32');
    expectError(
      { input: t([1, 2, 5], 'float64'), weight: t([3, 2, 3], 'float64'), bias: t([3]) },
      {},
      'bias.dtype',
      'float32',
      'float64',
    );
    expectError(
      { input: t([1, 2, 5]), weight: t([3, 2, 3]), grad_output: t([1, 3, 3], 'float64') },
      {},
      'grad_output.dtype',
      'float64',
    );
  });

  test('input rank 2 or 6 -> input.shape with the rank', () => {
    expectError(ops([2, 5], [3, 2]), {}, 'input.shape', 'rank 2');
    expectError(ops([1, 1, 2, 2, 2, 2], [1, 1, 1, 1, 1, 1]), {}, 'input.shape', 'rank 6');
  });

  test('zero or non-integer extent -> input.shape[i] / weight.shape[i]', () => {
    expectError(ops([1, 2, 0], [3, 2, 1]), {}, 'input.shape[2]', '0');
    expectError(ops([1, 2, 5, 4], [3, 2, 0, 1]), {}, 'weight.shape[2]', '0');
    expectError(ops([1, 2.5, 5], [3, 2, 1]), {}, 'input.shape[1]', '2.5');
  });

  test('weight rank differs from input rank -> weight.shape', () => {
    expectError(ops([1, 2, 5], [3, 2, 3, 3]), {}, 'weight.shape', 'rank 4', 'rank 3');
  });

  test('layout alias for the wrong rank -> layout', () => {
    expectError(ops([1, 2, 5], [3, 2, 3]), { layout: 'NCHW' }, 'layout', 'NCHW', 'rank 3');
    expectError(ops([1, 5, 6, 2], [3, 3, 2, 4]), { layout: 'NDHWC' }, 'layout', 'NDHWC', 'rank 4');
    expectError(ops([1, 2, 5], [3, 2, 3]), { layout: 'NHCW' as never }, 'layout', 'NHCW');
  });

  test('stride / dilation below 1, non-integer or of the wrong length', () => {
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { stride: 0 }, 'stride', '0');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { stride: [1, 0] }, 'stride[1]', '0');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { stride: [1, 1.5] }, 'stride[1]', '1.5');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { stride: [1, 1, 1] }, 'stride', '3', '2');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { dilation: -1 }, 'dilation', '-1');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { dilation: [0, 1] }, 'dilation[0]', '0');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { dilation: [2] }, 'dilation', '1', '2');
  });

  test('negative padding names the exact entry', () => {
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { padding: -1 }, 'padding', '-1');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { padding: [1, -2] }, 'padding[1]', '-2');
    expectError(
      ops([1, 2, 5, 5], [3, 2, 3, 3]),
      {
        padding: [
          [1, 1],
          [0, -3],
        ],
      },
      'padding[1][1]',
      '-3',
    );
  });

  test('padding of the wrong length or malformed pairs', () => {
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { padding: [1, 1, 1] }, 'padding', '3', '2');
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { padding: [[1, 1]] }, 'padding', '1', '2');
    expectError(
      ops([1, 2, 5, 5], [3, 2, 3, 3]),
      {
        padding: [
          [1, 1],
          [1, 2, 3],
        ] as never,
      },
      'padding[1]',
      '3',
    );
    expectError(ops([1, 2, 5, 5], [3, 2, 3, 3]), { padding: 'full' as never }, 'padding', 'full');
  });

  test('padding_mode outside the four modes', () => {
    expectError(ops([1, 2, 5], [3, 2, 3]), { padding_mode: 'mirror' as never }, 'padding_mode', 'mirror');
  });

  test('groups below 1 or not dividing C_in / C_out -> groups', () => {
    expectError(ops([1, 4, 5], [4, 4, 3]), { groups: 0 }, 'groups', '0');
    expectError(ops([1, 4, 5], [6, 1, 3]), { groups: 3 }, 'groups', '3', '4');
    expectError(ops([1, 4, 5], [3, 2, 3]), { groups: 2 }, 'groups', '2', '3');
    expectError(ops([1, 5, 4], [3, 2, 3]), { groups: 2, layout: 'NWC' }, 'groups', '2', '3');
  });

  test('weight channels mismatch -> weight.shape[1] (channels_first) / weight.shape[rank-2] (channels_last)', () => {
    expectError(
      ops([1, 4, 5, 5], [2, 3, 3, 3]),
      {},
      'weight.shape[1]',
      'weight.shape[1] is 3 but input has 4 channels / groups 1',
    );
    expectError(ops([1, 4, 5, 5], [2, 3, 3, 3]), { groups: 2 }, 'weight.shape[1]', 'is 3', '4 channels', 'groups 2');
    expectError(
      ops([1, 5, 5, 4], [3, 3, 3, 2]),
      { layout: 'channels_last' },
      'weight.shape[2]',
      'weight.shape[2] is 3 but input has 4 channels / groups 1',
    );
    expectError(ops([1, 5, 4], [3, 1, 2]), { layout: 'NWC' }, 'weight.shape[1]', 'is 1', '4 channels');
    expectError(
      ops([1, 3, 4, 5, 6], [2, 2, 3, 4, 2]),
      { layout: 'NDHWC', groups: 3 },
      'weight.shape[3]',
      'is 4',
      '6 channels',
      'groups 3',
    );
  });

  test('bias shape must be [C_out] -> bias.shape', () => {
    expectError(ops([1, 2, 5], [3, 2, 3], { bias: t([4]) }), {}, 'bias.shape', '[4]', '3');
    expectError(ops([1, 2, 5], [3, 2, 3], { bias: t([3, 1]) }), {}, 'bias.shape', '[3, 1]');
    expectError(ops([1, 5, 2], [3, 2, 7], { bias: t([3]) }), { layout: 'channels_last' }, 'bias.shape', '[3]', '7');
  });

  test('grad_output must have the forward output shape -> grad_output.shape', () => {
    expectError(
      ops([1, 2, 5], [3, 2, 3], { grad_output: t([1, 3, 4]) }),
      {},
      'grad_output.shape',
      '[1, 3, 4]',
      '[1, 3, 3]',
    );
    expectError(
      ops([2, 7, 6, 2], [3, 3, 2, 4], { grad_output: t([2, 4, 5, 4]) }),
      { layout: 'NHWC', stride: 2 },
      'grad_output.shape',
      '[2, 4, 5, 4]',
      '[2, 3, 2, 4]',
    );
  });

  test('output extent < 1 -> input.shape[axis of that dim] with the numbers', () => {
    // in 4, k 3, dilation 2 -> dilated kernel 5 > 4
    expectError(ops([1, 2, 4], [3, 2, 3]), { dilation: 2 }, 'input.shape[2]', '4', '5');
    expectError(ops([1, 6, 2, 1], [3, 3, 1, 2]), { layout: 'channels_last' }, 'input.shape[2]', '2', '3');
    expectError(
      ops([1, 1, 5, 2, 6], [1, 1, 1, 4, 1]),
      {
        padding: [
          [0, 0],
          [0, 1],
          [0, 0],
        ],
      },
      'input.shape[3]',
      '2',
      '4',
    );
    // padding making it fit is fine
    assert.deepEqual(resolveConv(ops([1, 2, 4], [3, 2, 3]), { dilation: 2, padding: [[1, 0]] }).outputShape, [1, 3, 1]);
  });

  test('reflect needs pad < input, circular pad <= input -> padding', () => {
    expectError(ops([1, 1, 3], [1, 1, 3]), { padding: 3, padding_mode: 'reflect' }, /^padding/, 'reflect', '3');
    expectError(
      ops([1, 1, 6, 3], [1, 1, 3, 3]),
      {
        padding: [
          [1, 1],
          [0, 3],
        ],
        padding_mode: 'reflect',
      },
      /^padding\[1\]/,
      'reflect',
      '3',
    );
    expectError(
      ops([1, 1, 3], [1, 1, 3]),
      { padding: [[4, 0]], padding_mode: 'circular' },
      /^padding/,
      'circular',
      '4',
      '3',
    );
    expectError(ops([1, 1, 2], [1, 1, 6]), { padding: 'same', padding_mode: 'reflect' }, 'padding', 'reflect', '2');
    // the limits themselves are accepted
    assert.deepEqual(
      resolveConv(ops([1, 1, 3], [1, 1, 3]), { padding: 2, padding_mode: 'reflect' }).outputShape,
      [1, 1, 5],
    );
    assert.deepEqual(
      resolveConv(ops([1, 1, 3], [1, 1, 3]), { padding: 3, padding_mode: 'circular' }).outputShape,
      [1, 1, 7],
    );
    assert.deepEqual(
      resolveConv(ops([1, 1, 3], [1, 1, 3]), { padding: 9, padding_mode: 'replicate' }).outputShape,
      [1, 1, 19],
    );
  });

  test('every problem is reported at once', () => {
    let err: unknown;
    try {
      resolveConv(ops([1, 4, 5, 5], [2, 3, 3, 3], { bias: t([5]) }), { stride: [0, 1], dilation: [1, 0] });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof GeometryError);
    const paths = err.errors.map((e) => e.path);
    for (const p of ['stride[0]', 'dilation[1]'])
      assert.ok(paths.includes(p), `missing ${p} in ${JSON.stringify(paths)}`);
  });
});

describe('output shapes', () => {
  const shape = (input: number[], weight: number[], params: ConvParams) =>
    resolveConv(ops(input, weight), params).outputShape;

  test('every padding form', () => {
    // 1-D: in 10, k 3
    assert.deepEqual(shape([2, 3, 10], [4, 3, 3], {}), [2, 4, 8]);
    assert.deepEqual(shape([2, 3, 10], [4, 3, 3], { padding: 'valid' }), [2, 4, 8]);
    assert.deepEqual(shape([2, 3, 10], [4, 3, 3], { padding: 2 }), [2, 4, 12]);
    assert.deepEqual(shape([2, 3, 10], [4, 3, 3], { padding: [1] }), [2, 4, 10]);
    assert.deepEqual(shape([2, 3, 10], [4, 3, 3], { padding: [[3, 0]] }), [2, 4, 11]);
    // 2-D per-dim and pairs, stride leftovers: H (7+1+2-3)/2 = 3.5 -> 4, W (6+0+0-3)/3 = 1 -> 2
    assert.deepEqual(
      shape([1, 2, 7, 6], [3, 2, 3, 3], {
        padding: [
          [1, 2],
          [0, 0],
        ],
        stride: [2, 3],
      }),
      [1, 3, 4, 2],
    );
    assert.deepEqual(shape([1, 2, 7, 6], [3, 2, 3, 3], { padding: [2, 1] }), [1, 3, 9, 6]);
    // 3-D with dilation 2: D 5+2-5+1 = 3, H 6+2-3+1 = 6, W 4+4-7+1 = 2
    assert.deepEqual(
      shape([1, 1, 5, 6, 4], [1, 1, 3, 2, 4], { padding: [1, 1, 2], dilation: [2, 2, 2] }),
      [1, 1, 3, 6, 2],
    );
  });

  test('"same" = SAME_UPPER for stride 1, 2, 3 and even kernels', () => {
    const g = (input: number[], weight: number[], params: ConvParams) => resolveConv(ops(input, weight), params);
    // in=7, k=4, s=2 -> out 4, total max((4-1)*2+4-7, 0) = 3: before 1, after 2
    let r = g([1, 1, 7], [1, 1, 4], { padding: 'same', stride: 2 });
    assert.deepEqual([r.outputShape, r.padBefore, r.padAfter], [[1, 1, 4], [1], [2]]);
    // stride 1, even kernel 4: total 3 -> 1 / 2, out = in
    r = g([1, 1, 9], [1, 1, 4], { padding: 'same' });
    assert.deepEqual([r.outputShape, r.padBefore, r.padAfter], [[1, 1, 9], [1], [2]]);
    // stride 3, in 8, k 2: out 3, total max(2*3+2-8, 0) = 0
    r = g([1, 1, 8], [1, 1, 2], { padding: 'same', stride: 3 });
    assert.deepEqual([r.outputShape, r.padBefore, r.padAfter], [[1, 1, 3], [0], [0]]);
    // stride 3, in 7, k 4, dilation 2: out 3, total (2*3 + 7 - 7) = 6 -> 3 / 3
    r = g([1, 1, 7], [1, 1, 4], { padding: 'same', stride: 3, dilation: 2 });
    assert.deepEqual([r.outputShape, r.padBefore, r.padAfter], [[1, 1, 3], [3], [3]]);
    // 2-D NHWC, per-dim strides [2, 3], kernel 2x4, in 9x10: H out 5 total max(8+2-9,0)=1 -> 0/1; W out 4 total max(9+4-10,0)=3 -> 1/2
    r = g([2, 9, 10, 3], [2, 4, 3, 5], { padding: 'same', stride: [2, 3], layout: 'NHWC' });
    assert.deepEqual(
      [r.outputShape, r.padBefore, r.padAfter],
      [
        [2, 5, 4, 5],
        [0, 1],
        [1, 2],
      ],
    );
    // kernel larger than the input: in 2, k 5 -> total 4 -> 2 / 2
    r = g([1, 1, 2], [1, 1, 5], { padding: 'same' });
    assert.deepEqual([r.outputShape, r.padBefore, r.padAfter], [[1, 1, 2], [2], [2]]);
  });

  test('each layout and letter alias', () => {
    const cases: [ConvParams['layout'], number[], number[], number[], 'channels_first' | 'channels_last'][] = [
      [undefined, [2, 3, 9], [4, 3, 2], [2, 4, 8], 'channels_first'],
      ['channels_first', [2, 3, 9], [4, 3, 2], [2, 4, 8], 'channels_first'],
      ['channels_last', [2, 9, 3], [2, 3, 4], [2, 8, 4], 'channels_last'],
      ['NCW', [2, 3, 9], [4, 3, 2], [2, 4, 8], 'channels_first'],
      ['NWC', [2, 9, 3], [2, 3, 4], [2, 8, 4], 'channels_last'],
      ['NCHW', [1, 3, 6, 5], [4, 3, 3, 2], [1, 4, 4, 4], 'channels_first'],
      ['NHWC', [1, 6, 5, 3], [3, 2, 3, 4], [1, 4, 4, 4], 'channels_last'],
      ['NCDHW', [1, 2, 4, 5, 6], [3, 2, 2, 2, 3], [1, 3, 3, 4, 4], 'channels_first'],
      ['NDHWC', [1, 4, 5, 6, 2], [2, 2, 3, 2, 3], [1, 3, 4, 4, 3], 'channels_last'],
    ];
    for (const [layout, input, weight, out, resolved] of cases) {
      const g = resolveConv(ops(input, weight), layout === undefined ? {} : { layout });
      assert.equal(g.layout, resolved, `${layout}`);
      assert.deepEqual(g.outputShape, out, `${layout} output shape`);
      assert.deepEqual(g.inputShape, input);
      assert.deepEqual(g.weightShape, weight);
    }
    const g = resolveConv(ops([2, 6, 5, 4], [3, 3, 2, 6]), {
      layout: 'NHWC',
      groups: 2,
      stride: 2,
      padding: 1,
      dilation: [1, 2],
      padding_mode: 'circular',
    });
    assert.deepEqual(
      {
        batch: g.batch,
        inChannels: g.inChannels,
        outChannels: g.outChannels,
        groups: g.groups,
        inSpatial: g.inSpatial,
        kernel: g.kernel,
        outSpatial: g.outSpatial,
        stride: g.stride,
        dilation: g.dilation,
        paddingMode: g.paddingMode,
      },
      {
        batch: 2,
        inChannels: 4,
        outChannels: 6,
        groups: 2,
        inSpatial: [6, 5],
        kernel: [3, 3],
        outSpatial: [3, 2],
        stride: [2, 2],
        dilation: [1, 2],
        paddingMode: 'circular',
      },
    );
  });

  test('defaults: stride 1, dilation 1, padding 0, zeros, channels_first, groups 1', () => {
    const g = resolveConv(ops([1, 2, 5, 4], [3, 2, 2, 2]), {});
    assert.deepEqual(
      [g.stride, g.dilation, g.padBefore, g.padAfter, g.paddingMode, g.layout, g.groups, g.dtype],
      [[1, 1], [1, 1], [0, 0], [0, 0], 'zeros', 'channels_first', 1, 'float32'],
    );
  });
});

describe('size helpers', () => {
  test('numel, itemSize', () => {
    assert.equal(numel([2, 3, 4]), 24);
    assert.equal(numel([]), 1);
    assert.equal(itemSize('float32'), 4);
    assert.equal(itemSize('float64'), 8);
  });

  test('convWork counts FLOPs and output bytes per gradient', () => {
    const g = resolveConv({ input: t([2, 4, 6], 'float64'), weight: t([6, 2, 3], 'float64') }, { groups: 2 });
    // out [2, 6, 4]; MACs = 2*6*4 positions * (4/2)*3 = 288 -> 576 FLOPs
    const w = (flops: number, outputElements: number) => ({
      flops,
      splitFlops: flops,
      outputElements,
      outputBytes: outputElements * 8,
      workspaceBytes: 0,
    });
    assert.deepEqual(convWork(g), w(576, 48));
    assert.deepEqual(convWork(g, ['input']), w(576, 48));
    assert.deepEqual(convWork(g, ['weight', 'bias']), w(576 + 48, 36 + 6));
  });

  test('convWork: a weight in the other layout family counts its permuted copy, and grad_weight its own, as workspace', () => {
    const x = t([2, 4, 6], 'float64');
    // weight [6, 2, 3] = 36 elements, 288 bytes
    const own = resolveConv({ input: x, weight: t([6, 2, 3], 'float64') }, { groups: 2 });
    const named = resolveConv({ input: x, weight: t([6, 2, 3], 'float64') }, { groups: 2, weight_layout: 'OIW' });
    const hwio = resolveConv({ input: x, weight: t([3, 2, 6], 'float64') }, { groups: 2, weight_layout: 'WIO' });
    const gradSets: (GradName[] | undefined)[] = [undefined, ['input'], ['weight'], ['input', 'weight', 'bias']];
    for (const grads of gradSets) {
      assert.equal(convWork(own, grads).workspaceBytes, 0, `${grads}: the layout's own order`);
      assert.equal(convWork(named, grads).workspaceBytes, 0, `${grads}: weight_layout naming the layout's own`);
      const copies = grads?.includes('weight') ? 2 : 1;
      assert.equal(convWork(hwio, grads).workspaceBytes, copies * 288, `${grads}: permuted`);
      assert.deepEqual(
        { ...convWork(hwio, grads), workspaceBytes: 0 },
        convWork(own, grads),
        `${grads}: the rest alike`,
      );
    }
    const half = resolveConv(
      { input: { dtype: 'float16', shape: [2, 4, 6] }, weight: { dtype: 'float16', shape: [3, 2, 6] } },
      { groups: 2, weight_layout: 'WIO' },
    );
    assert.equal(
      convWork(half).workspaceBytes,
      36 * 4,
      'a float16 weight is permuted in float32, as the kernels read it',
    );
  });
});
