/**
 * POST /pool/forward: max / average / lp pooling (PyTorch max_pool{1,2,3}d, avg_pool{1,2,3}d,
 * lp_pool{1,2,3}d; ONNX MaxPool, AveragePool, LpPool) on the conv machinery. Value ranges live
 * in the schema; how fields relate (padding within the window, which mode a field belongs to,
 * output extents, grad_output shape) is src/shared/geometry/pooling.ts's job.
 */
import { z } from 'zod';
import {
  invalidGeometry,
  limitExceeded,
  shortDataExample,
  schemaViolation,
  type OperationExamples,
} from '../schemas/examples.js';
import { EncodingSchema, intsPerDim, layoutSchema, paddingSchema, responses } from '../schemas/fields.js';
import { MAX_PARAM, type OperandShapes } from '../shared/geometry/common.js';
import { tensorSchema } from '../schemas/tensor.js';
import { poolingShapes, poolingWork, resolvePooling, type PoolingGeometry } from '../shared/geometry/pooling.js';
import { resultShape } from '../shared/task.js';
import { defineOp, dims, type Resolution, type TaskHead } from './spec.js';

export const poolParams = {
  input: tensorSchema(
    3,
    5,
    'Rank 3, 4 or 5: 1-, 2- or 3-D pooling. [N, C, *spatial] (channels_first) or [N, *spatial, C] (channels_last).',
  ),
  mode: z.enum(['max', 'avg', 'lp']).meta({
    description:
      'max: the largest element of each window (NaN if the window holds one); avg: the window mean; lp: (sum x^p)^(1/p) over the window (PyTorch lp_pool, ONNX LpPool).',
  }),
  kernel_size: intsPerDim(1).meta({ description: 'Window extent per spatial dim, >= 1.' }),
  stride: intsPerDim(1).meta({ description: 'Window step per spatial dim, >= 1. Default: kernel_size.' }).optional(),
  padding: paddingSchema(
    'An int or int[d] pads both sides of each spatial dim equally (PyTorch); [[before, after], ...] pads each side (ONNX pads); "valid" = 0; ' +
      '"same" / "same_lower" (ONNX auto_pad SAME_UPPER / SAME_LOWER) make out = ceil(in / stride) with total padding max((out - 1) * stride + dilation * (k - 1) + 1 - in, 0), ' +
      'its odd pixel after / before. Each side at most dilation * (kernel_size - 1) (ONNX; PyTorch allows kernel_size // 2). ' +
      'Padded positions count as -Infinity for max and as 0 for avg and lp.',
  ),
  dilation: intsPerDim(1)
    .meta({
      description:
        'Spacing between window elements per spatial dim, >= 1, for every mode (ONNX dilations; PyTorch has it for max only).',
    })
    .default(1),
  ceil_mode: z.boolean().default(false).meta({
    description:
      'Round the output extent up instead of down; a last window that would start in the right padding is dropped (PyTorch and ONNX).',
  }),
  count_include_pad: z.boolean().optional().meta({
    description:
      'Avg only (default true): divide by the window clipped to the padded input, or (false) by its elements inside the input.',
  }),
  divisor_override: z
    .int()
    .min(-MAX_PARAM)
    .max(MAX_PARAM)
    .refine((v) => v !== 0, { error: 'must be a non-zero integer' })
    .nullable()
    .default(null)
    .meta({ description: 'Avg only: divide every window sum by this instead (PyTorch avg_pool divisor_override).' }),
  p: z.number().positive().optional().meta({
    description:
      'Lp only (default 2, as ONNX): the power p > 0. As PyTorch, x^p is summed and the sum raised to 1/p (NaN for a negative sum unless p = 1); with lp_abs, |x|^p (ONNX LpPool).',
  }),
  lp_abs: z
    .boolean()
    .default(false)
    .meta({
      description:
        "Lp only: sum |x|^p, ONNX LpPool's (sum |x|^p)^(1/p), instead of PyTorch lp_pool's x^p. The two agree for x >= 0 and for even p; " +
        "for negative x with odd or fractional p, PyTorch's form gives NaN or a smaller sum. Backward: dy * S^(1/p - 1) * |x|^(p-1) * sign(x), 0 at x = 0 and where S = 0.",
    }),
  return_indices: z.boolean().default(false).meta({
    description:
      "Max only (forward): also answer `indices`, shaped like the output: each maximum's flat position over its channel's spatial extents (PyTorch's max_pool indices; storage_order picks row- or column-major), in the request dtype; -1 for a window with no input element. The backward accepts it and needs no indices.",
  }),
  storage_order: z
    .literal([0, 1])
    .default(0)
    .meta({
      description:
        "Max with return_indices only (ONNX MaxPool storage_order): how `indices` flatten each maximum's spatial position within its channel. " +
        "0 row-major ((d * H + h) * W + w, PyTorch); 1 column-major (d + D * (h + H * w); w * H + h in 2-D), ONNX's Indices for storage_order 1. " +
        'Either way per channel: ONNX adds (n * C + c) * prod(spatial) to flatten over the whole tensor.',
    }),
  layout: layoutSchema(
    'Memory layout of input, output and gradients: channels_first [N, C, *spatial] or channels_last [N, *spatial, C]; the letter aliases also fix the rank.',
  ),
  encoding: EncodingSchema,
};

export const example = {
  input: { dtype: 'float32', shape: [1, 1, 4, 4], data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] },
  mode: 'max',
  kernel_size: 2,
};

const request = z.strictObject(poolParams).meta({
  id: 'PoolForwardRequest',
  description:
    'Max, average or lp pooling (PyTorch max_pool / avg_pool / lp_pool{1,2,3}d; ONNX MaxPool, AveragePool, LpPool): out = floor((in + before + after - dilation * (k - 1) - 1) / stride) + 1, or with ceil_mode rounded up (without a last window starting in the right padding).',
});

export const tooLarge = {
  summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
  value: limitExceeded(
    'input.shape',
    'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)',
  ),
};

const examples: OperationExamples = {
  requests: {
    max: {
      summary: '2x2 max pooling of a 4x4 image',
      description: 'stride defaults to kernel_size: the maximum of each 2x2 block.',
      request: example,
      response: { output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [6, 8, 14, 16] } },
    },
    'avg-padded': {
      summary: '3x3 average, stride 1, padding 1, padding not counted',
      description: 'The output keeps the 4x4 extent; each mean is over the window elements inside the input.',
      request: { ...example, mode: 'avg', kernel_size: 3, stride: 1, padding: 1, count_include_pad: false },
      response: {
        output: {
          dtype: 'float32',
          shape: [1, 1, 4, 4],
          data: [3.5, 4, 5, 5.5, 5.5, 6, 7, 7.5, 9.5, 10, 11, 11.5, 11.5, 12, 13, 13.5],
        },
      },
    },
    'max-ceil-mode': {
      summary: '3x3 max, stride 2, ceil_mode (ONNX maxpool_2d_ceil)',
      description:
        'floor((4 - 3) / 2) + 1 = 1 window per dim; ceil_mode rounds up to 2, the second window running past the input.',
      request: { ...example, kernel_size: 3, stride: 2, ceil_mode: true },
      response: { output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [11, 12, 15, 16] } },
    },
    'max-indices': {
      summary: '2x2 max pooling with return_indices',
      description: "indices: each maximum's flat position in the 4x4 image (PyTorch's max_pool indices).",
      request: { ...example, return_indices: true },
      response: {
        output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [6, 8, 14, 16] },
        indices: { dtype: 'float32', shape: [1, 1, 2, 2], data: [5, 7, 13, 15] },
      },
    },
    'max-indices-column-major': {
      summary: 'Max indices in column-major order (ONNX maxpool_with_argmax_2d_precomputed_strides, storage_order 1)',
      description:
        "storage_order 1 flattens each maximum's position column-major, w * H + h: 7 sits at row 1, column 1 of the 5x5 image, so 1 * 5 + 1 = 6; 9 at row 1, column 3: 3 * 5 + 1 = 16.",
      request: {
        input: { dtype: 'float32', shape: [1, 1, 5, 5], data: Array.from({ length: 25 }, (_, i) => i + 1) },
        mode: 'max',
        kernel_size: 2,
        stride: 2,
        return_indices: true,
        storage_order: 1,
      },
      response: {
        output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [7, 9, 17, 19] },
        indices: { dtype: 'float32', shape: [1, 1, 2, 2], data: [6, 16, 8, 18] },
      },
    },
    'avg-same-lower': {
      summary: 'Average over 2 with "same_lower" padding (ONNX SAME_LOWER), padding not counted',
      description:
        'out = ceil(4 / 1) = 4 needs 1 pixel of padding, put before; each mean is over the window elements inside the input.',
      request: {
        input: { dtype: 'float32', shape: [1, 1, 4], data: [2, 4, 6, 8] },
        mode: 'avg',
        kernel_size: 2,
        stride: 1,
        padding: 'same_lower',
        count_include_pad: false,
      },
      response: { output: { dtype: 'float32', shape: [1, 1, 4], data: [2, 3, 5, 7] } },
    },
    'lp-abs': {
      summary: "ONNX LpPool's |x|^p (lp_abs), p = 3, over triples",
      description:
        '(27 + 64 + 125)^(1/3) = 6 and (216 + 512 + 1000)^(1/3) = 12. Without lp_abs (PyTorch) the sums of x^3 are -88 and 704: NaN and 8.896.',
      request: {
        input: { dtype: 'float32', shape: [1, 1, 6], data: [-3, 4, -5, 6, -8, 10] },
        mode: 'lp',
        p: 3,
        lp_abs: true,
        kernel_size: 3,
      },
      response: { output: { dtype: 'float32', shape: [1, 1, 2], data: [6, 12] } },
    },
    lp: {
      summary: 'Lp pooling, p = 2, over pairs',
      description: 'The Euclidean norm of each window: sqrt(3^2 + 4^2) = 5, sqrt(6^2 + 8^2) = 10.',
      request: { input: { dtype: 'float32', shape: [1, 1, 4], data: [3, 4, 6, 8] }, mode: 'lp', p: 2, kernel_size: 2 },
      response: { output: { dtype: 'float32', shape: [1, 1, 2], data: [5, 10] } },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The first request example with "mode": "min".',
        value: schemaViolation('mode', 'mode is "min": Invalid option: expected one of "max"|"avg"|"lp"'),
      },
      'invalid-geometry': {
        summary: 'Padding past the window',
        description: 'The first request example with "padding": 2 (kernel_size 2 allows at most 1).',
        value: invalidGeometry(
          'padding',
          "padding is 2 but kernel_size 2 with dilation 1 allows at most 1 (dilation * (kernel_size - 1): ONNX's range; PyTorch allows kernel_size // 2 = 1)",
        ),
      },
      'invalid-tensor-data': shortDataExample('first request example', 'input', [1, 1, 4, 4]),
    },
    413: {
      'limit-exceeded': {
        ...tooLarge,
        description:
          'The first request example with an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor.',
      },
    },
  },
};

/** A pooling forward's answer: output, and indices with return_indices. */
export const pooledResponse = (id: string) =>
  responses(
    id,
    (t) => ({ output: t, indices: t.optional() }),
    'The pooled tensor, in the request dtype and layout; with return_indices, also the indices of the maxima, shaped like it.',
  );

/** A pooling forward's results: the output, and the indices of the maxima (shaped like it) when asked for. */
export const pooledResults = (
  shapes: OperandShapes,
  returnIndices: boolean,
): Resolution<'pool_forward'>['results'] => ({
  output: { shape: resultShape(shapes, 'output'), perSample: true },
  ...(returnIndices && { indices: { shape: resultShape(shapes, 'indices'), perSample: true } }),
});

/** The task of a pooling: its window geometry and mode. */
export const poolingTask = (g: PoolingGeometry): TaskHead<'pool_forward' | 'pool_backward'> => ({
  geometry: g.window,
  pooling: {
    mode: g.mode,
    countIncludePad: g.countIncludePad,
    divisorOverride: g.divisorOverride,
    p: g.p,
    lpAbs: g.lpAbs,
    storageOrder: g.storageOrder,
  },
});

export const poolForward = defineOp({
  name: 'pool_forward',
  metricLabel: 'pool_forward',
  route: {
    path: '/pool/forward',
    tags: ['pooling'],
    summary: 'Max, average or lp pooling',
    description:
      'PyTorch max_pool / avg_pool / lp_pool{1,2,3}d and ONNX MaxPool / AveragePool / LpPool in either layout: stride defaulting to kernel_size, ' +
      'symmetric, [before, after], "valid", "same" or "same_lower" padding up to the window extent, dilation, ceil_mode; ' +
      'count_include_pad and divisor_override (avg), p and lp_abs (lp), return_indices and storage_order (max).',
  },
  component: 'PoolForward',
  request,
  response: pooledResponse('PoolForwardResponse'),
  examples,
  tensors: (body) => ({ input: body.input }),
  resolve: (operands, body) => {
    const g = resolvePooling(operands, body);
    return {
      task: poolingTask(g),
      work: poolingWork(g, false),
      results: pooledResults(poolingShapes(g), g.returnIndices),
      outputs: {
        path: 'input.shape',
        source: `from input.shape ${dims(g.window.inputShape)} and the window (kernel_size, stride, padding)`,
      },
    };
  },
});
