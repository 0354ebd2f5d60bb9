/**
 * resolvePooling and resolveAdaptivePooling: PyTorch's pooling rules (ONNX's where wider), each problem named by its field path with the numbers
 * involved; defaults (stride = kernel_size, count_include_pad = true); the window geometry the
 * kernels run on; poolingWork.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  adaptivePoolingWork,
  adaptiveWindow,
  resolveAdaptivePooling,
  type AdaptivePoolingParams,
} from '../../src/shared/geometry/adaptive-pooling.js';
import { GeometryError, TOUCH_FLOPS } from '../../src/shared/geometry/common.js';
import {
  poolingWork,
  resolvePooling,
  type PoolingOperands,
  type PoolingParams,
} from '../../src/shared/geometry/pooling.js';
import type { WireDType } from '../../src/shared/tensor.js';
import { expectGeometryError } from '../reference/geometry-errors.js';

const t = (shape: number[], dtype: WireDType = 'float32') => ({ dtype, shape });

const expectError = (operands: PoolingOperands, params: PoolingParams, path: string | RegExp, ...parts: string[]) =>
  expectGeometryError(() => resolvePooling(operands, params), path, ...parts);

describe('validation rules', () => {
  const x = { input: t([1, 2, 6, 6]) };
  test('padding past the window extent less one (ONNX range), as int, per dim and per side', () => {
    expectError(
      x,
      { mode: 'max', kernel_size: 3, padding: 3 },
      'padding',
      'padding is 3 but kernel_size 3 with dilation 1 allows at most 2',
      'PyTorch allows kernel_size // 2 = 1',
    );
    expectError(
      x,
      { mode: 'max', kernel_size: [4, 2], padding: [3, 2] },
      'padding[1]',
      'padding[1] is 2 but kernel_size[1] 2 with dilation 1 allows at most 1',
    );
    expectError(
      x,
      {
        mode: 'avg',
        kernel_size: [2, 3],
        padding: [
          [1, 1],
          [0, 3],
        ],
      },
      'padding[1][1]',
      'padding[1][1] is 3 but kernel_size[1] 3',
      'at most 2',
    );
    expectError(x, { mode: 'max', kernel_size: 1, padding: 1 }, 'padding', 'at most 0');
    // dilation widens the window: 2 * (3 - 1) = 4
    assert.doesNotThrow(() => resolvePooling(x, { mode: 'lp', kernel_size: 3, dilation: 2, padding: 4 }));
    expectError(x, { mode: 'lp', kernel_size: 3, dilation: 2, padding: 5 }, 'padding', 'at most 4');
    // above PyTorch's kernel_size // 2, within ONNX's range
    const g = resolvePooling(x, { mode: 'avg', kernel_size: 3, padding: 2 });
    assert.deepEqual(
      [g.window.padBefore, g.window.padAfter, g.window.outSpatial],
      [
        [2, 2],
        [2, 2],
        [3, 3],
      ],
    );
  });
  test('dilation applies to every mode (ONNX AveragePool and LpPool have dilations)', () => {
    for (const mode of ['max', 'avg', 'lp'] as const)
      assert.deepEqual(resolvePooling(x, { mode, kernel_size: 2, dilation: 2 }).window.dilation, [2, 2]);
  });
  test("a mode's fields with another mode: refused, except at their off values", () => {
    expectError(
      x,
      { mode: 'max', kernel_size: 2, count_include_pad: true },
      'count_include_pad',
      'average pooling only',
    );
    expectError(
      x,
      { mode: 'lp', kernel_size: 2, count_include_pad: false },
      'count_include_pad',
      'average pooling only',
    );
    expectError(
      x,
      { mode: 'max', kernel_size: 2, divisor_override: 3 },
      'divisor_override',
      'is 3',
      'average pooling only',
    );
    expectError(x, { mode: 'avg', kernel_size: 2, p: 2 }, 'p', 'lp pooling only');
    expectError(x, { mode: 'avg', kernel_size: 2, return_indices: true }, 'return_indices', 'max pooling only');
    for (const mode of ['max', 'avg', 'lp'] as const) {
      assert.doesNotThrow(() =>
        resolvePooling(x, { mode, kernel_size: 2, ceil_mode: false, divisor_override: null, return_indices: false }),
      );
    }
  });
  test('divisor_override non-zero, p > 0, flags boolean', () => {
    expectError(
      x,
      { mode: 'avg', kernel_size: 2, divisor_override: 0 },
      'divisor_override',
      'is 0',
      'non-zero integer',
    );
    expectError(x, { mode: 'avg', kernel_size: 2, divisor_override: 1.5 }, 'divisor_override', '1.5');
    expectError(x, { mode: 'lp', kernel_size: 2, p: 0 }, 'p', 'p is 0', '> 0');
    expectError(x, { mode: 'lp', kernel_size: 2, p: -1 }, 'p', 'p is -1');
    expectError(x, { mode: 'max', kernel_size: 2, ceil_mode: 1 as unknown as boolean }, 'ceil_mode', 'true or false');
    assert.equal(resolvePooling(x, { mode: 'lp', kernel_size: 2 }).p, 2, 'p defaults to 2 (ONNX)');
  });
  test('return_indices with float16 / bfloat16 (sent in the request dtype): 2^11 / 2^8 positions per channel', () => {
    expectError(
      { input: t([1, 1, 64, 64], 'float16') },
      { mode: 'max', kernel_size: 2, return_indices: true },
      'return_indices',
      'float16 holds them exactly up to 2048 positions per channel but input has 4096',
    );
    expectError(
      { input: t([1, 1, 17, 16], 'bfloat16') },
      { mode: 'max', kernel_size: 2, return_indices: true },
      'return_indices',
      'bfloat16 holds them exactly up to 256',
    );
    assert.doesNotThrow(() =>
      resolvePooling({ input: t([1, 1, 16, 16], 'bfloat16') }, { mode: 'max', kernel_size: 2, return_indices: true }),
    );
  });
  test('storage_order: 0 with anything, 1 with max and return_indices only, nothing else', () => {
    for (const mode of ['max', 'avg', 'lp'] as const) {
      assert.equal(resolvePooling(x, { mode, kernel_size: 2, storage_order: 0 }).storageOrder, 0);
      assert.equal(resolvePooling(x, { mode, kernel_size: 2 }).storageOrder, 0, 'default 0 (row-major)');
    }
    const g = resolvePooling(x, { mode: 'max', kernel_size: 2, return_indices: true, storage_order: 1 });
    assert.equal(g.storageOrder, 1);
    expectError(
      x,
      { mode: 'max', kernel_size: 2, storage_order: 1 },
      'storage_order',
      'storage_order is 1 but return_indices is false',
      'only return_indices: true answers',
    );
    expectError(
      x,
      { mode: 'max', kernel_size: 2, return_indices: false, storage_order: 1 },
      'storage_order',
      'return_indices is false',
    );
    expectError(
      x,
      { mode: 'avg', kernel_size: 2, storage_order: 1 },
      'storage_order',
      'storage_order is 1 but it applies to max pooling only (mode is avg)',
    );
    expectError(
      x,
      { mode: 'max', kernel_size: 2, return_indices: true, storage_order: 2 },
      'storage_order',
      '0 (row-major) or 1',
    );
  });
  test('lp_abs: lp only, false with anything, boolean', () => {
    assert.equal(resolvePooling(x, { mode: 'lp', kernel_size: 2 }).lpAbs, false, "default: PyTorch's x^p");
    assert.equal(resolvePooling(x, { mode: 'lp', kernel_size: 2, lp_abs: true }).lpAbs, true);
    for (const mode of ['max', 'avg', 'lp'] as const)
      assert.doesNotThrow(() => resolvePooling(x, { mode, kernel_size: 2, lp_abs: false }));
    expectError(
      x,
      { mode: 'avg', kernel_size: 2, lp_abs: true },
      'lp_abs',
      'lp_abs is true but it applies to lp pooling only (mode is avg)',
    );
    expectError(x, { mode: 'lp', kernel_size: 2, lp_abs: 1 as unknown as boolean }, 'lp_abs', 'true or false');
  });
  test('return_indices with float32 needs every spatial position exact', () => {
    expectError(
      { input: t([1, 1, 4097, 4097]) },
      { mode: 'max', kernel_size: 2, return_indices: true },
      'return_indices',
      '16777216 positions per channel but input has 16785409',
      'send float64',
    );
    assert.doesNotThrow(() =>
      resolvePooling(
        { input: t([1, 1, 4097, 4097], 'float64') },
        { mode: 'max', kernel_size: 2, return_indices: true },
      ),
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
      resolvePooling(x, { mode: 'avg', kernel_size: 2, padding: 2, p: 2, stride: 0 });
      assert.fail('no error');
    } catch (e) {
      assert.ok(e instanceof GeometryError);
      assert.deepEqual([...new Set(e.errors.map((p) => p.path))].sort(), ['p', 'padding', 'stride']);
    }
  });
});

/** Output extent of one dim of a 1-D pooling. */
const extent = (n: number, params: Omit<PoolingParams, 'mode'>) =>
  resolvePooling({ input: t([1, 1, n]) }, { mode: 'max', ...params }).window.outSpatial[0];

describe('output extents', () => {
  // PyTorch's documented formula: floor or ceil((in + 2 * padding - dilation * (k - 1) - 1) / stride + 1),
  // the ceil dropping a last window that starts in the right padding (numbers checked against torch 1.13)
  const torch: [number, number, number, number, number, number][] = [
    // in, kernel, stride, padding, ceil_mode=False, ceil_mode=True
    [5, 2, 2, 0, 2, 3],
    [5, 2, 3, 1, 2, 2], // ceil gives 3, but window 3 would start at 6 = in + padding: dropped
    [6, 3, 2, 1, 3, 4],
    [7, 3, 3, 1, 3, 3],
    [4, 3, 2, 0, 1, 2],
    [10, 4, 3, 2, 4, 4], // ceil gives 5, window 5 would start at 12 = in + padding: dropped
  ];
  for (const [n, k, s, pad, floor, ceil] of torch) {
    test(`in ${n}, kernel ${k}, stride ${s}, padding ${pad}: ${floor} (floor), ${ceil} (ceil_mode)`, () => {
      assert.equal(extent(n, { kernel_size: k, stride: s, padding: pad }), floor);
      assert.equal(extent(n, { kernel_size: k, stride: s, padding: pad, ceil_mode: false }), floor);
      assert.equal(extent(n, { kernel_size: k, stride: s, padding: pad, ceil_mode: true }), ceil);
    });
  }
  test('ceil_mode with [before, after]: only the before side counts for the start rule', () => {
    // in 5, k 3, s 3, total padding 2 both times: ceil(4 / 3) + 1 = 3 windows, the third starting at 6 - before
    assert.equal(extent(5, { kernel_size: 3, stride: 3, padding: [[0, 2]], ceil_mode: true }), 2); // 6 >= 5 + 0: dropped
    assert.equal(extent(5, { kernel_size: 3, stride: 3, padding: [[2, 0]], ceil_mode: true }), 3); // 4 < 5 + 2: kept
  });
  test('"same" / "same_lower": out = ceil(in / stride), the odd pixel after / before (ONNX SAME_UPPER / SAME_LOWER)', () => {
    const pads = (padding: 'same' | 'same_lower', n: number, k: number, s: number, dilation = 1) => {
      const w = resolvePooling(
        { input: t([1, 1, n]) },
        { mode: 'avg', kernel_size: k, stride: s, padding, dilation },
      ).window;
      return [w.padBefore[0], w.padAfter[0], w.outSpatial[0]];
    };
    // ONNX maxpool_2d_precomputed_same_upper: 5, k 3, s 2 -> 3 with pads 1, 1
    assert.deepEqual(pads('same', 5, 3, 2), [1, 1, 3]);
    // odd total padding: 4, k 2, s 1 -> total 1
    assert.deepEqual(pads('same', 4, 2, 1), [0, 1, 4]);
    assert.deepEqual(pads('same_lower', 4, 2, 1), [1, 0, 4]);
    // ONNX maxpool_2d_same_lower's geometry: 32, k 2, s 1 -> total 1, before
    assert.deepEqual(pads('same_lower', 32, 2, 1), [1, 0, 32]);
    // dilation: window 2 * (3 - 1) + 1 = 5 on 6, stride 2: out 3, total 4 + 5 - 6 = 3
    assert.deepEqual(pads('same', 6, 3, 2, 2), [1, 2, 3]);
    assert.deepEqual(pads('same_lower', 6, 3, 2, 2), [2, 1, 3]);
    // stride above the window: no padding
    assert.deepEqual(pads('same_lower', 5, 1, 3), [0, 0, 2]);
  });
  test('"valid" pads nothing; ONNX pads beyond kernel_size // 2 (maxpool_2d_pads: 28, k 3, pads 2 -> 30)', () => {
    assert.equal(extent(5, { kernel_size: 2, padding: 'valid' }), 2);
    assert.equal(extent(28, { kernel_size: 3, stride: 1, padding: 2 }), 30);
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
      splitFlops: 2 * 3 * 16 * 4 * TOUCH_FLOPS,
      outputElements: 2 * 3 * 16,
      outputBytes: 2 * 3 * 16 * 8,
      workspaceBytes: 0,
    });
    assert.deepEqual(poolingWork(g, true), {
      flops: 2 * 3 * 16 * 4,
      splitFlops: 2 * 3 * 16 * 4 * TOUCH_FLOPS,
      outputElements: 2 * 3 * 64,
      outputBytes: 2 * 3 * 64 * 8,
      workspaceBytes: 0,
    });
  });
});

describe('adaptive pooling', () => {
  const x = { input: t([1, 2, 6, 5]) };
  const expectAdaptive = (operands: PoolingOperands, params: AdaptivePoolingParams, path: string, ...parts: string[]) =>
    expectGeometryError(() => resolveAdaptivePooling(operands, params), path, ...parts);
  test("PyTorch's windows: [floor(o * in / out), ceil((o + 1) * in / out))", () => {
    assert.deepEqual(
      [0, 1, 2].map((o) => adaptiveWindow(o, 5, 3)),
      [
        [0, 2],
        [1, 4],
        [3, 5],
      ],
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((o) => adaptiveWindow(o, 2, 4)),
      [
        [0, 1],
        [0, 1],
        [1, 2],
        [1, 2],
      ],
    );
    assert.deepEqual(adaptiveWindow(0, 7, 1), [0, 7], 'output_size 1: the whole extent (global pooling)');
  });
  test('output_size: one int for every dim, one per dim, null keeps the extent', () => {
    assert.deepEqual(resolveAdaptivePooling(x, { mode: 'avg', output_size: 3 }).outputShape, [1, 2, 3, 3]);
    assert.deepEqual(resolveAdaptivePooling(x, { mode: 'max', output_size: [null, 8] }).outputShape, [1, 2, 6, 8]);
    const cl = resolveAdaptivePooling({ input: t([2, 4, 3]) }, { mode: 'lp', output_size: 2, layout: 'NWC' });
    assert.deepEqual([cl.outputShape, cl.p], [[2, 2, 3], 2]);
  });
  test('refusals name the field and the numbers', () => {
    expectAdaptive(
      x,
      { mode: 'avg', output_size: [1, 1, 1] },
      'output_size',
      '3 values but the pooling has 2 spatial dims',
    );
    expectAdaptive(x, { mode: 'avg', output_size: [2, 0] }, 'output_size[1]', 'output_size[1] is 0');
    expectAdaptive(x, { mode: 'avg', output_size: 2, p: 3 }, 'p', 'lp pooling only');
    expectAdaptive(x, { mode: 'lp', output_size: 2, return_indices: true }, 'return_indices', 'max pooling only');
    expectAdaptive(x, { mode: 'min' as 'max', output_size: 2 }, 'mode', '"min"');
    expectAdaptive(
      { input: t([1, 2, 6, 5]), grad_output: t([1, 2, 2, 2]) },
      { mode: 'max', output_size: 3 },
      'grad_output.shape',
      '[1, 2, 2, 2]',
      '[1, 2, 3, 3]',
    );
    expectAdaptive(
      { input: t([1, 1, 4097, 4097]) },
      { mode: 'max', output_size: 1, return_indices: true },
      'return_indices',
      'send float64',
    );
    assert.doesNotThrow(() => resolveAdaptivePooling(x, { mode: 'avg', output_size: 1, return_indices: false }));
    expectAdaptive(x, { mode: 'max', output_size: 2, storage_order: 1 }, 'storage_order', 'return_indices is false');
    expectAdaptive(x, { mode: 'lp', output_size: 2, storage_order: 1 }, 'storage_order', 'max pooling only');
    assert.equal(resolveAdaptivePooling(x, { mode: 'avg', output_size: 2, storage_order: 0 }).storageOrder, 0);
    const ordered = resolveAdaptivePooling(x, { mode: 'max', output_size: 2, return_indices: true, storage_order: 1 });
    assert.equal(ordered.storageOrder, 1);
    expectAdaptive(x, { mode: 'max', output_size: 2, lp_abs: true }, 'lp_abs', 'lp pooling only');
    assert.equal(resolveAdaptivePooling(x, { mode: 'lp', output_size: 1, lp_abs: true }).lpAbs, true);
  });
  test('work: n + out - gcd(n, out) window elements per dim (5 -> 3: 2 + 3 + 2 = 7)', () => {
    const g = resolveAdaptivePooling({ input: t([2, 3, 5], 'float64') }, { mode: 'avg', output_size: 3 });
    assert.deepEqual(adaptivePoolingWork(g, false), {
      flops: 2 * 3 * 7,
      splitFlops: 2 * 3 * 7 * TOUCH_FLOPS,
      outputElements: 18,
      outputBytes: 144,
      workspaceBytes: 0,
    });
    assert.equal(adaptivePoolingWork(g, true).outputElements, 30);
  });
});
