/**
 * The pooling endpoints' requests and responses (api-contract.md, "Pooling"). Value ranges
 * live here; how fields relate (padding <= kernel_size / 2, dilation for max only,
 * count_include_pad for avg only, output extents, grad_output shape) is
 * src/conv/pool-geometry.ts's job.
 */
import { z } from 'zod';
import { EncodingSchema, intFrom, LayoutSchema, responses } from './conv.js';
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
  examples: [example, { ...example, mode: 'avg', kernel_size: 3, stride: 1, padding: 1, count_include_pad: false }],
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
    examples: [{ ...example, grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 2, 3, 4] } }],
  });

export const PoolForwardResponses = responses('PoolForwardResponse', (t) => ({ output: t }), 'The pooled tensor, in the request dtype and layout.');

export const PoolBackwardResponses = responses('PoolBackwardResponse', (t) => ({ grad_input: t }), 'The gradient w.r.t. input, shaped like input.');
