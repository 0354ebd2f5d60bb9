/**
 * resolveUnfold / resolveFold: PyTorch's documented shapes (torch.nn.Unfold and torch.nn.Fold),
 * the block formula generalised to 1-D and 3-D, and every refusal with its path and numbers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveFold, resolveUnfold, unfoldWork } from '../../src/shared/geometry/unfold.js';
import { TOUCH_FLOPS } from '../../src/shared/geometry/common.js';
import { expectGeometryError } from '../reference/geometry-errors.js';

const input = (shape: number[]) => ({ input: { dtype: 'float32' as const, shape } });

describe("PyTorch's documented examples", () => {
  test('nn.Unfold(kernel_size=(2, 3)) of [2, 5, 3, 4] is [2, 30, 4]', () => {
    assert.deepEqual(resolveUnfold(input([2, 5, 3, 4]), { kernel_size: [2, 3] }).outputShape, [2, 30, 4]);
  });

  test('nn.Fold(output_size=(4, 5), kernel_size=(2, 2)) of [1, 3 * 2 * 2, 12] is [1, 3, 4, 5]', () => {
    assert.deepEqual(
      resolveFold(input([1, 12, 12]), { output_size: [4, 5], kernel_size: [2, 2] }).inputShape,
      [1, 3, 4, 5],
    );
  });

  test('L = prod(floor((spatial + 2 * padding - dilation * (k - 1) - 1) / stride + 1)), in 1-D, 2-D and 3-D, both layouts', () => {
    // 1-D: floor((9 + 2 - 2 * 2 - 1) / 2 + 1) = 4
    assert.deepEqual(
      resolveUnfold(input([1, 2, 9]), { kernel_size: 3, padding: 1, dilation: 2, stride: 2 }).outputShape,
      [1, 6, 4],
    );
    // 3-D channels_last [N, D, H, W, C]: blocks 2 x 3 x 1
    const g = resolveUnfold(input([2, 3, 4, 2, 5]), { kernel_size: [2, 2, 2], layout: 'NDHWC' });
    assert.deepEqual(g.outputShape, [2, 40, 6]);
    assert.deepEqual(g.inputShape, [2, 3, 4, 2, 5]);
    // fold back to channels_last
    assert.deepEqual(
      resolveFold(input([2, 40, 6]), { output_size: [3, 4, 2], kernel_size: 2, layout: 'NDHWC' }).inputShape,
      [2, 3, 4, 2, 5],
    );
  });

  test('an int output_size is 2-D, as in PyTorch', () => {
    assert.deepEqual(resolveFold(input([1, 4, 9]), { output_size: 4, kernel_size: 2 }).inputShape, [1, 1, 4, 4]);
  });

  test('work: one FLOP per column element; the output is what each op returns', () => {
    const g = resolveUnfold(input([1, 1, 3, 3]), { kernel_size: 2 });
    const touches = { flops: 16, splitFlops: 16 * TOUCH_FLOPS, workspaceBytes: 0 };
    assert.deepEqual(unfoldWork(g, 'unfold'), { ...touches, outputElements: 16, outputBytes: 64 });
    assert.deepEqual(unfoldWork(g, 'fold'), { ...touches, outputElements: 9, outputBytes: 36 });
  });
});

describe('refusals name the field and the numbers', () => {
  test('unfold: no block in a dim', () => {
    expectGeometryError(
      () => resolveUnfold(input([1, 1, 3, 3]), { kernel_size: [4, 2] }),
      'input.shape[2]',
      'input.shape[2] is 3 but 3 + 2 * padding 0 is smaller than the dilated kernel 1 * (4 - 1) + 1 = 4: spatial dim 0 has no block',
    );
  });

  test('unfold: parameters of another rank, a layout alias of another rank, an input without batch', () => {
    expectGeometryError(
      () => resolveUnfold(input([1, 1, 3, 3]), { kernel_size: [2, 2, 2] }),
      'kernel_size',
      '3 values but the unfold has 2 spatial dims',
    );
    expectGeometryError(
      () => resolveUnfold(input([1, 1, 3, 3]), { kernel_size: 2, layout: 'NCW' }),
      'layout',
      'rank-3',
    );
    expectGeometryError(
      () => resolveUnfold(input([3, 3]), { kernel_size: 2 }),
      'input.shape',
      'unfold needs rank 3, 4 or 5',
    );
  });

  test('fold: rows not a multiple of prod(kernel_size)', () => {
    expectGeometryError(
      () => resolveFold(input([1, 10, 9]), { output_size: [4, 4], kernel_size: 2 }),
      'input.shape[1]',
      'input.shape[1] is 10 but must be C * prod(kernel_size) = C * 4',
    );
  });

  test('fold: columns not matching the blocks of output_size', () => {
    expectGeometryError(
      () => resolveFold(input([1, 4, 4]), { output_size: [4, 3], kernel_size: 2 }),
      'input.shape[2]',
      'input.shape[2] is 4 but output_size [4, 3] has 3 * 2 = 6 blocks',
    );
  });

  test('fold: rank, output_size without a block, kernel_size of another rank', () => {
    expectGeometryError(
      () => resolveFold(input([1, 4, 4, 1]), { output_size: [3, 3], kernel_size: 2 }),
      'input.shape',
      'fold needs rank 3',
    );
    expectGeometryError(
      () => resolveFold(input([1, 4, 4]), { output_size: [1, 3], kernel_size: 2 }),
      'output_size[0]',
      'output_size[0] is 1 but 1 + 2 * padding 0 is smaller than the dilated kernel 1 * (2 - 1) + 1 = 2',
    );
    expectGeometryError(
      () => resolveFold(input([1, 4, 4]), { output_size: [3, 3], kernel_size: [2] }),
      'kernel_size',
      '1 values but the fold (output_size) has 2 spatial dims',
    );
  });
});
