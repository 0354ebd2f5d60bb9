/**
 * resolvePooling: PyTorch's pooling rules, each problem named by its field path with the numbers
 * involved; defaults (stride = kernel_size, count_include_pad = true); the window geometry the
 * kernels run on; poolingWork.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GeometryError } from '../../src/shared/geometry/common.js';
import {
  poolingWork,
  resolvePooling,
  type PoolingOperands,
  type PoolingParams,
} from '../../src/shared/geometry/pooling.js';
import type { DType } from '../../src/shared/tensor.js';
import { expectGeometryError } from '../reference/geometry-errors.js';

const t = (shape: number[], dtype: DType = 'float32') => ({ dtype, shape });

const expectError = (operands: PoolingOperands, params: PoolingParams, path: string | RegExp, ...parts: string[]) =>
  expectGeometryError(() => resolvePooling(operands, params), path, ...parts);

describe('validation rules', () => {
  const x = { input: t([1, 2, 6, 6]) };
  test('padding over kernel_size / 2 (integer division), as int and per dim', () => {
    expectError(x, { mode: 'max', kernel_size: 3, padding: 3 }, 'padding', 'padding 3 exceeds kernel_size/2 = 1');
    expectError(x, { mode: 'avg', kernel_size: 2, padding: 2 }, 'padding', 'padding 2 exceeds kernel_size/2 = 1');
    expectError(
      x,
      { mode: 'max', kernel_size: [4, 3], padding: [2, 2] },
      'padding[1]',
      'padding[1] 2 exceeds kernel_size[1]/2 = 1',
    );
    expectError(x, { mode: 'max', kernel_size: 1, padding: 1 }, 'padding', 'kernel_size/2 = 0');
  });
  test('dilation is for max pooling only', () => {
    expectError(x, { mode: 'avg', kernel_size: 2, dilation: 2 }, 'dilation', 'average pooling has no dilation');
    assert.doesNotThrow(() => resolvePooling(x, { mode: 'avg', kernel_size: 2, dilation: [1, 1] }));
  });
  test('count_include_pad is for avg pooling only', () => {
    expectError(
      x,
      { mode: 'max', kernel_size: 2, count_include_pad: true },
      'count_include_pad',
      'average pooling only',
    );
  });
  test('parameter lists of the wrong length or out of range', () => {
    expectError(
      x,
      { mode: 'max', kernel_size: [2, 2, 2] },
      'kernel_size',
      'kernel_size has 3 values but the pooling has 2 spatial dims',
    );
    expectError(x, { mode: 'max', kernel_size: 0 }, 'kernel_size', 'kernel_size is 0');
    expectError(x, { mode: 'max', kernel_size: [2, -1] }, 'kernel_size[1]', '-1');
    expectError(x, { mode: 'max', kernel_size: 2, stride: [1, 0] }, 'stride[1]', 'stride[1] is 0');
    expectError(x, { mode: 'max', kernel_size: 2, padding: -1 }, 'padding', 'padding is -1');
    expectError(x, { mode: 'max', kernel_size: 2, dilation: [0, 1] }, 'dilation[0]', 'dilation[0] is 0');
  });
  test('unknown mode, layout of another rank, rank out of range', () => {
    expectError(x, { mode: 'min' as 'max', kernel_size: 2 }, 'mode', '"min"');
    expectError(x, { mode: 'max', kernel_size: 2, layout: 'NCW' }, 'layout', 'rank-3');
    expectError({ input: t([4, 4]) }, { mode: 'max', kernel_size: 2 }, 'input.shape', 'rank 2');
    expectError({ input: t([1, 1, 2, 2, 2, 2]) }, { mode: 'max', kernel_size: 2 }, 'input.shape', 'rank 6');
    expectError({ input: t([1, 0, 4]) }, { mode: 'max', kernel_size: 2 }, 'input.shape[1]', 'is 0');
  });
  test('output extent < 1 names the input axis and the numbers', () => {
    expectError(
      { input: t([1, 3, 5, 2]) },
      { mode: 'max', kernel_size: 2, dilation: 3, layout: 'NHWC' },
      'input.shape[1]',
      'spatial dim 0 is 0 < 1',
      'input 3',
      '3 * (2 - 1) + 1 = 4',
    );
    expectError(
      { input: t([1, 1, 1]) },
      { mode: 'avg', kernel_size: 3, padding: 0 },
      'input.shape[2]',
      'is 0 < 1',
      'window 1 * (3 - 1) + 1 = 3',
    );
  });
  test('grad_output shape and dtype', () => {
    expectError(
      { input: t([1, 2, 6, 6]), grad_output: t([1, 2, 2, 2]) },
      { mode: 'max', kernel_size: 2 },
      'grad_output.shape',
      '[1, 2, 2, 2]',
      '[1, 2, 3, 3]',
    );
    expectError(
      { input: t([1, 2, 6, 6]), grad_output: t([1, 2, 3, 3], 'float64') },
      { mode: 'max', kernel_size: 2 },
      'grad_output.dtype',
      'float64',
      'float32',
    );
  });
  test('every problem at once', () => {
    try {
      resolvePooling(x, { mode: 'avg', kernel_size: 2, padding: 2, dilation: 2, stride: 0 });
      assert.fail('no error');
    } catch (e) {
      assert.ok(e instanceof GeometryError);
      assert.deepEqual([...new Set(e.errors.map((p) => p.path))].sort(), ['dilation', 'padding', 'stride']);
    }
  });
});

describe('resolution', () => {
  test('stride defaults to kernel_size, count_include_pad to true', () => {
    const g = resolvePooling({ input: t([2, 3, 7, 8]) }, { mode: 'avg', kernel_size: [3, 2] });
    assert.deepEqual(g.window.stride, [3, 2]);
    assert.equal(g.countIncludePad, true);
    assert.deepEqual(g.window.outputShape, [2, 3, 2, 4]);
  });
  test('the window geometry is a depthwise convolution over the input (both layouts)', () => {
    const cf = resolvePooling(
      { input: t([2, 3, 9]) },
      { mode: 'max', kernel_size: 3, stride: 2, padding: 1, dilation: 2 },
    ).window;
    assert.deepEqual(
      {
        groups: cf.groups,
        cin: cf.inChannels,
        cout: cf.outChannels,
        pad: [cf.padBefore, cf.padAfter],
        mode: cf.paddingMode,
        w: cf.weightShape,
        out: cf.outputShape,
      },
      { groups: 3, cin: 3, cout: 3, pad: [[1], [1]], mode: 'zeros', w: [3, 1, 3], out: [2, 3, 4] },
    );
    const cl = resolvePooling(
      { input: t([2, 5, 6, 7, 4]) },
      { mode: 'max', kernel_size: [1, 2, 3], layout: 'NDHWC' },
    ).window;
    assert.deepEqual(
      [cl.layout, cl.inSpatial, cl.outSpatial, cl.weightShape, cl.outputShape],
      ['channels_last', [5, 6, 7], [5, 3, 2], [1, 2, 3, 1, 4], [2, 5, 3, 2, 4]],
    );
  });
  test('poolingWork: one operation per window element; the output (forward) or grad_input (backward)', () => {
    const g = resolvePooling({ input: t([2, 3, 8, 8], 'float64') }, { mode: 'max', kernel_size: 2 });
    assert.deepEqual(poolingWork(g, false), {
      flops: 2 * 3 * 16 * 4,
      outputElements: 2 * 3 * 16,
      outputBytes: 2 * 3 * 16 * 8,
    });
    assert.deepEqual(poolingWork(g, true), {
      flops: 2 * 3 * 16 * 4,
      outputElements: 2 * 3 * 64,
      outputBytes: 2 * 3 * 64 * 8,
    });
  });
});
