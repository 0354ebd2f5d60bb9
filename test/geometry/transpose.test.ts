/**
 * resolveTranspose: conv_transpose validation in its own field names (weight
 * [C_in, C_out/groups, *k] / [*k, C_out/groups, C_in]), each problem with its path and
 * numbers; the geometry of the convolution it transposes; transposeWork.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { outputExtent } from '../../src/shared/geometry/common.js';
import {
  resolveTranspose,
  transposeWork,
  type TransposeOperands,
  type TransposeParams,
} from '../../src/shared/geometry/transpose.js';
import type { DType } from '../../src/shared/tensor.js';
import { expectGeometryError } from '../reference/geometry-errors.js';

const t = (shape: number[], dtype: DType = 'float32') => ({ dtype, shape });
const ops = (input: number[], weight: number[], extra: Partial<TransposeOperands> = {}): TransposeOperands => ({
  input: t(input),
  weight: t(weight),
  ...extra,
});

const expectError = (operands: TransposeOperands, params: TransposeParams, path: string | RegExp, ...parts: string[]) =>
  expectGeometryError(() => resolveTranspose(operands, params), path, ...parts);

describe('validation rules', () => {
  test('output_padding must be below stride or dilation', () => {
    expectError(
      ops([1, 2, 5], [2, 3, 3]),
      { stride: 2, output_padding: 2 },
      'output_padding',
      'output_padding is 2',
      'stride 2 or dilation 1',
    );
    expectError(
      ops([1, 2, 5, 5], [2, 3, 3, 3]),
      { stride: [2, 1], output_padding: [1, 1] },
      'output_padding[1]',
      'stride 1 or dilation 1',
    );
    assert.doesNotThrow(() =>
      resolveTranspose(ops([1, 2, 5], [2, 3, 3]), { stride: 1, dilation: 3, output_padding: 2 }),
    );
  });
  test('weight channels: [C_in, C_out/groups, *k] and [*k, C_out/groups, C_in]', () => {
    expectError(ops([1, 4, 5], [3, 2, 3]), {}, 'weight.shape[0]', 'weight.shape[0] is 3 but input has 4 channels');
    expectError(
      ops([1, 5, 4], [3, 2, 3]),
      { layout: 'NWC' },
      'weight.shape[2]',
      'is 3 but input has 4 channels',
      '[*k, C_out/groups, C_in]',
    );
    expectError(ops([1, 3, 5], [3, 2, 3]), { groups: 2 }, 'groups', 'groups 2 does not divide the 3 input channels');
  });
  test('bias must be [C_out] = [weight C_out/groups * groups]', () => {
    expectError(ops([1, 4, 5], [4, 3, 2], { bias: t([3]) }), { groups: 2 }, 'bias.shape', 'must be [6]');
  });
  test('output extent < 1 blames padding with the formula', () => {
    expectError(
      ops([1, 1, 2], [1, 1, 2]),
      { padding: 2 },
      'padding',
      'spatial dim 0 is -1 < 1',
      '(input 2 - 1) * stride 1 - 2 * padding 2',
    );
    expectError(ops([1, 1, 2, 9], [1, 1, 2, 2]), { padding: [2, 0] }, 'padding[0]', '< 1');
  });
  test('ranges, ranks, layouts and dtypes', () => {
    expectError(ops([1, 1, 5], [1, 1, 3]), { stride: 0 }, 'stride', 'stride is 0');
    expectError(ops([1, 1, 5], [1, 1, 3]), { output_padding: -1 }, 'output_padding', 'output_padding is -1');
    expectError(
      ops([1, 1, 5, 5], [1, 1, 3, 3]),
      { dilation: [1, 1, 1] },
      'dilation',
      '3 values but the transposed convolution has 2 spatial dims',
    );
    expectError(ops([1, 1, 5], [1, 1, 3]), { groups: 0 }, 'groups', 'groups is 0');
    expectError(ops([1, 5], [1, 1, 3]), {}, 'input.shape', 'rank 2');
    expectError(ops([1, 1, 5], [1, 1, 3, 3]), {}, 'weight.shape', 'rank 4 but input has rank 3');
    expectError(ops([1, 1, 5], [1, 1, 3]), { layout: 'NHWC' }, 'layout', 'rank-4');
    expectError({ input: t([1, 1, 5]), weight: t([1, 1, 3], 'float64') }, {}, 'weight.dtype', 'float64');
  });
});

describe('resolution', () => {
  test('the convolution it transposes: shapes, channels, padding before / after', () => {
    const g = resolveTranspose(ops([2, 4, 5, 6], [4, 3, 3, 2], { bias: t([6]) }), {
      stride: [2, 3],
      padding: [1, 0],
      output_padding: [1, 2],
      dilation: [1, 2],
      groups: 2,
    });
    // out = (in - 1) * s - 2p + d(k - 1) + op + 1
    assert.deepEqual(g.inputShape, [2, 6, 4 * 2 - 2 + 2 + 1 + 1, 5 * 3 + 2 + 2 + 1]);
    assert.deepEqual(
      [g.inChannels, g.outChannels, g.groups, g.outputShape, g.weightShape],
      [6, 4, 2, [2, 4, 5, 6], [4, 3, 3, 2]],
    );
    assert.deepEqual(
      [g.padBefore, g.padAfter],
      [
        [1, 0],
        [0, -2],
      ],
    );
    // its output extent is exactly the transposed convolution's input extent
    g.inSpatial.forEach((e, i) =>
      assert.equal(
        outputExtent(e, g.kernel[i], g.stride[i], g.dilation[i], g.padBefore[i], g.padAfter[i]),
        g.outSpatial[i],
      ),
    );
    const cl = resolveTranspose(ops([1, 5, 3], [3, 2, 3]), { layout: 'channels_last', stride: 2 });
    assert.deepEqual([cl.inputShape, cl.inChannels, cl.outChannels], [[1, 11, 2], 2, 3]);
  });
  test('transposeWork: the grad_input GEMM plus one addition per output element for a bias', () => {
    const g = resolveTranspose(ops([2, 4, 5], [4, 3, 3]), { stride: 2 });
    const gemm = 2 * 2 * 4 * 5 * 3 * 3;
    assert.deepEqual(transposeWork(g, false), {
      flops: gemm,
      splitFlops: gemm,
      outputElements: 2 * 3 * 11,
      outputBytes: 2 * 3 * 11 * 4,
      workspaceBytes: 0,
    });
    assert.equal(transposeWork(g, true).flops, gemm + 2 * 3 * 11);
    assert.equal(transposeWork(g, true).splitFlops, gemm + 2 * 3 * 11, 'a GEMM: split by its FLOPs');
  });
});
