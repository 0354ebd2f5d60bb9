/**
 * The shapes of each operation's results, in its own terms (convShapes, transposeShapes,
 * poolingShapes with resultShape): the output, or the shape of the operand a gradient is for.
 * A transposed convolution's geometry is that of the convolution whose grad_input it is, so its
 * own bias and output are that convolution's input channels and input shape.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convShapes, resolveConv } from '../../src/shared/geometry/conv.js';
import { poolingShapes, resolvePooling } from '../../src/shared/geometry/pooling.js';
import { resolveTranspose, transposeShapes } from '../../src/shared/geometry/transpose.js';
import { resultShape } from '../../src/shared/task.js';

const dtype = 'float32';

test('conv: output, and grad_input / grad_weight / grad_bias shaped like input, weight and [C_out]', () => {
  const g = resolveConv({ input: { dtype, shape: [2, 4, 7] }, weight: { dtype, shape: [6, 2, 3] } }, { groups: 2 });
  const shapes = convShapes(g);
  assert.deepEqual(resultShape(shapes, 'output'), [2, 6, 5]);
  assert.deepEqual(resultShape(shapes, 'grad_input'), [2, 4, 7]);
  assert.deepEqual(resultShape(shapes, 'grad_weight'), [6, 2, 3]);
  assert.deepEqual(resultShape(shapes, 'grad_bias'), [6]);
});

test('conv_transpose: its own output, input, weight and bias [C_out of the transpose], not those of the convolution it is run as', () => {
  // C_in 4, weight [C_in, C_out/groups, k] = [4, 3, 3] with groups 2: C_out = 6; out = (5 - 1) * 2 + 3 = 11
  const g = resolveTranspose(
    { input: { dtype, shape: [2, 4, 5] }, weight: { dtype, shape: [4, 3, 3] } },
    { groups: 2, stride: 2 },
  );
  const shapes = transposeShapes(g);
  assert.equal(g.outChannels, 4, "the convolution it runs as has the transpose's input channels as its output");
  assert.deepEqual(resultShape(shapes, 'output'), [2, 6, 11]);
  assert.deepEqual(resultShape(shapes, 'grad_bias'), [6]);
  assert.deepEqual(resultShape(shapes, 'grad_input'), [2, 4, 5]);
  assert.deepEqual(resultShape(shapes, 'grad_weight'), [4, 3, 3]);
  // channels_last: bias still [C_out]
  const cl = resolveTranspose(
    { input: { dtype, shape: [2, 5, 4] }, weight: { dtype, shape: [3, 3, 4] } },
    { groups: 2, stride: 2, layout: 'channels_last' },
  );
  assert.deepEqual(resultShape(transposeShapes(cl), 'grad_bias'), [6]);
  assert.deepEqual(resultShape(transposeShapes(cl), 'output'), [2, 11, 6]);
});

test('pooling: output and grad_input; it has no weight or bias to take a gradient of', () => {
  const g = resolvePooling({ input: { dtype, shape: [1, 3, 8, 8] } }, { mode: 'max', kernel_size: 2 });
  const shapes = poolingShapes(g);
  assert.deepEqual(resultShape(shapes, 'output'), [1, 3, 4, 4]);
  assert.deepEqual(resultShape(shapes, 'grad_input'), [1, 3, 8, 8]);
  assert.throws(() => resultShape(shapes, 'grad_weight'), RangeError);
  assert.throws(() => resultShape(shapes, 'grad_bias'), RangeError);
});
