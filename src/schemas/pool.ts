/**
 * The pooling endpoints' requests and responses (api-contract.md, "Pooling"). Value ranges
 * live here; how fields relate (padding <= kernel_size / 2, dilation for max only,
 * count_include_pad for avg only, output extents, grad_output shape) is
 * src/shared/geometry/pooling.ts's job.
 */
import { z } from 'zod';
import { EncodingSchema, intFrom, LayoutSchema, responses } from './conv.js';
import { invalidGeometry, invalidTensorData, limitExceeded, schemaViolation, type OperationExamples } from './examples.js';
import { tensorSchema } from './tensor.js';

/** An int, or one int per spatial dim (no default). */
const intsPerDim = (min: number, description: string) =>
  z
    .union([intFrom(min), z.array(intFrom(min)).min(1).max(3)], { error: `must be an integer >= ${min} or an array of one per spatial dim` })
    .meta({ description });

const poolParams = {
  input: tensorSchema(3, 5, 'Rank 3, 4 or 5: 1-, 2- or 3-D pooling. [N, C, *spatial] (channels_first) or [N, *spatial, C] (channels_last).'),
  mode: z.enum(['max', 'avg']).meta({ description: 'max: the largest element of each window (NaN if the window holds one); avg: the window mean.' }),
  kernel_size: intsPerDim(1, 'Window extent per spatial dim, >= 1.'),
  stride: intsPerDim(1, 'Window step per spatial dim, >= 1. Default: kernel_size.').optional(),
  padding: intsPerDim(0, 'Symmetric padding per spatial dim, each <= kernel_size / 2 (integer division, as in PyTorch). Padded positions count as -Infinity for max and as 0 for avg.').default(0),
  dilation: intsPerDim(1, 'Spacing between window elements per spatial dim, >= 1. Max pooling only (avg accepts only 1).').default(1),
  count_include_pad: z
    .boolean()
    .optional()
    .meta({ description: 'Avg pooling only (default true): divide by the whole window, padding included, or (false) by its elements inside the input.' }),
  layout: z
    .enum(LayoutSchema.unwrap().options)
    .default('channels_first')
    .meta({ description: 'Memory layout of input, output and gradients: channels_first [N, C, *spatial] or channels_last [N, *spatial, C]; the letter aliases also fix the rank.' }),
  encoding: EncodingSchema,
};

const example = {
  input: { dtype: 'float32', shape: [1, 1, 4, 4], data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] },
  mode: 'max',
  kernel_size: 2,
};

export const PoolForwardRequestSchema = z.strictObject(poolParams).meta({
  id: 'PoolForwardRequest',
  description: "Max or average pooling (PyTorch max_pool{1,2,3}d / avg_pool{1,2,3}d with ceil_mode=False): out = floor((in + 2 * padding - dilation * (k - 1) - 1) / stride) + 1.",
});

export const PoolBackwardRequestSchema = z
  .strictObject({
    ...poolParams,
    grad_output: tensorSchema(3, 5, "Gradient of the loss w.r.t. the pooled output; exactly the forward output's shape."),
  })
  .meta({
    id: 'PoolBackwardRequest',
    description:
      'Gradient w.r.t. input. Max routes each output gradient to the first maximum of its window in row-major window order (a NaN is the maximum); avg spreads it evenly over the window (padding takes its share when count_include_pad).',
  });

const tooLarge = {
  summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
  value: limitExceeded('input.shape', 'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)'),
};

export const PoolForwardExamples: OperationExamples = {
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
      response: { output: { dtype: 'float32', shape: [1, 1, 4, 4], data: [3.5, 4, 5, 5.5, 5.5, 6, 7, 7.5, 9.5, 10, 11, 11.5, 11.5, 12, 13, 13.5] } },
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
      'invalid-tensor-data': {
        summary: 'Data not matching the shape',
        description: 'The first request example with 15 input values for its shape [1, 1, 4, 4].',
        value: invalidTensorData('input.data', 'input.data has 15 values but shape [1, 1, 4, 4] of float32 needs 16'),
      },
    },
    413: { 'limit-exceeded': { ...tooLarge, description: 'The first request example with an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor.' } },
  },
};

export const PoolBackwardExamples: OperationExamples = {
  requests: {
    max: {
      summary: 'Gradient of 2x2 max pooling',
      description: 'Each output gradient goes to the position of its window maximum.',
      request: { ...example, grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 2, 3, 4] } },
      response: { grad_input: { dtype: 'float32', shape: [1, 1, 4, 4], data: [0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4] } },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The request example with "kernel_size": 0.',
        value: schemaViolation('kernel_size', 'kernel_size is 0: must be an integer >= 1'),
      },
      'invalid-geometry': {
        summary: 'grad_output not shaped like the pooled output',
        description: 'The request example with a grad_output of shape [1, 1, 4, 4].',
        value: invalidGeometry('grad_output.shape', 'grad_output.shape is [1, 1, 4, 4] but the forward output is [1, 1, 2, 2]'),
      },
      'invalid-tensor-data': {
        summary: 'Data not matching the shape',
        description: 'The request example with 3 grad_output values for its shape [1, 1, 2, 2].',
        value: invalidTensorData('grad_output.data', 'grad_output.data has 3 values but shape [1, 1, 2, 2] of float32 needs 4'),
      },
    },
    413: { 'limit-exceeded': { ...tooLarge, description: 'The request example with an input of shape [1, 1, 4097, 4097] and a grad_output to match, over the default 2^24 elements per tensor.' } },
  },
};

export const PoolForwardResponses = responses('PoolForwardResponse', (t) => ({ output: t }), 'The pooled tensor, in the request dtype and layout.');

export const PoolBackwardResponses = responses('PoolBackwardResponse', (t) => ({ grad_input: t }), 'The gradient w.r.t. input, shaped like input.');
