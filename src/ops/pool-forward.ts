/**
 * POST /pool/forward: max / average pooling (PyTorch max_pool{1,2,3}d / avg_pool{1,2,3}d,
 * ceil_mode=False) on the conv machinery. Value ranges live in the schema; how fields relate
 * (padding <= kernel_size / 2, dilation for max only, count_include_pad for avg only, output
 * extents, grad_output shape) is src/shared/geometry/pooling.ts's job.
 */
import { z } from 'zod';
import {
  invalidGeometry,
  limitExceeded,
  shortDataExample,
  schemaViolation,
  type OperationExamples,
} from '../schemas/examples.js';
import { EncodingSchema, intsPerDim, layoutSchema, responses } from '../schemas/fields.js';
import { tensorSchema } from '../schemas/tensor.js';
import { poolingShapes, poolingWork, resolvePooling, type PoolingGeometry } from '../shared/geometry/pooling.js';
import { resultShape } from '../shared/task.js';
import { defineOp, dims, type TaskHead } from './spec.js';

export const poolParams = {
  input: tensorSchema(
    3,
    5,
    'Rank 3, 4 or 5: 1-, 2- or 3-D pooling. [N, C, *spatial] (channels_first) or [N, *spatial, C] (channels_last).',
  ),
  mode: z.enum(['max', 'avg']).meta({
    description: 'max: the largest element of each window (NaN if the window holds one); avg: the window mean.',
  }),
  kernel_size: intsPerDim(1).meta({ description: 'Window extent per spatial dim, >= 1.' }),
  stride: intsPerDim(1).meta({ description: 'Window step per spatial dim, >= 1. Default: kernel_size.' }).optional(),
  padding: intsPerDim(0)
    .meta({
      description:
        'Symmetric padding per spatial dim, each <= kernel_size / 2 (integer division, as in PyTorch). Padded positions count as -Infinity for max and as 0 for avg.',
    })
    .default(0),
  dilation: intsPerDim(1)
    .meta({
      description: 'Spacing between window elements per spatial dim, >= 1. Max pooling only (avg accepts only 1).',
    })
    .default(1),
  count_include_pad: z.boolean().optional().meta({
    description:
      'Avg pooling only (default true): divide by the whole window, padding included, or (false) by its elements inside the input.',
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
    'Max or average pooling (PyTorch max_pool{1,2,3}d / avg_pool{1,2,3}d with ceil_mode=False): out = floor((in + 2 * padding - dilation * (k - 1) - 1) / stride) + 1.',
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
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The first request example with "mode": "min".',
        value: schemaViolation('mode', 'mode is "min": Invalid option: expected one of "max"|"avg"'),
      },
      'invalid-geometry': {
        summary: 'Padding over half the window',
        description: 'The first request example with "padding": 2 (kernel_size 2 allows at most 1).',
        value: invalidGeometry('padding', 'padding 2 exceeds kernel_size/2 = 1'),
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

/** The task of a pooling: its window geometry and mode. */
export const poolingTask = (g: PoolingGeometry): TaskHead<'pool_forward' | 'pool_backward'> => ({
  geometry: g.window,
  pooling: { mode: g.mode, countIncludePad: g.countIncludePad },
});

export const poolForward = defineOp({
  name: 'pool_forward',
  metricLabel: 'pool_forward',
  route: {
    path: '/pool/forward',
    tags: ['pooling'],
    summary: 'Max or average pooling',
    description:
      'PyTorch max_pool{1,2,3}d / avg_pool{1,2,3}d (ceil_mode=False) in either layout: symmetric padding <= kernel_size / 2, stride defaulting to kernel_size, ' +
      'dilation (max), count_include_pad (avg).',
  },
  component: 'PoolForward',
  request,
  response: responses(
    'PoolForwardResponse',
    (t) => ({ output: t }),
    'The pooled tensor, in the request dtype and layout.',
  ),
  examples,
  tensors: (body) => ({ input: body.input }),
  resolve: (operands, body) => {
    const g = resolvePooling(operands, body);
    return {
      task: poolingTask(g),
      work: poolingWork(g, false),
      results: { output: { shape: resultShape(poolingShapes(g), 'output'), perSample: true } },
      outputs: {
        path: 'input.shape',
        source: `from input.shape ${dims(g.window.inputShape)} and the window (kernel_size, stride, padding)`,
      },
    };
  },
});
