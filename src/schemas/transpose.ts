/**
 * The transposed convolution endpoint's request and response (api-contract.md, "Transposed
 * convolution"). Value ranges live here; how fields relate (channels, groups, output_padding
 * against stride and dilation, output extents) is src/conv/transpose-geometry.ts's job.
 */
import { z } from 'zod';
import { EncodingSchema, intFrom, LayoutSchema, perDim, responses } from './conv.js';
import { tensorSchema } from './tensor.js';

const intsPerDim = (min: number, description: string) =>
  z
    .union([intFrom(min), z.array(intFrom(min)).min(1).max(3)], { error: `must be an integer >= ${min} or an array of one per spatial dim` })
    .default(0)
    .meta({ description });

export const TransposeRequestSchema = z
  .strictObject({
    input: tensorSchema(3, 5, 'Rank 3, 4 or 5: a 1-, 2- or 3-D transposed convolution. [N, C_in, *spatial] (channels_first) or [N, *spatial, C_in] (channels_last).'),
    weight: tensorSchema(3, 5, "Same rank as input, in PyTorch's transposed layout: [C_in, C_out/groups, *k] (channels_first) or [*k, C_out/groups, C_in] (channels_last)."),
    bias: tensorSchema(1, 1, 'Optional [C_out], added to every output position.').optional(),
    stride: perDim(1, 'Stride per spatial dim, >= 1.'),
    padding: intsPerDim(0, 'Per spatial dim, an int or int[d] (PyTorch conv_transpose padding): the padding of the convolution this transposes, so the output loses padding positions on both sides.'),
    output_padding: intsPerDim(0, 'Extra extent added on one side of each spatial dim of the output, smaller than stride or dilation of that dim.'),
    dilation: perDim(1, 'Dilation per spatial dim, >= 1.'),
    groups: intFrom(1).default(1).meta({ description: 'C_in must be divisible by groups; C_out = weight C_out/groups * groups.' }),
    layout: z
      .enum(LayoutSchema.unwrap().options)
      .default('channels_first')
      .meta({
        description:
          'Memory layout. channels_first (PyTorch): input [N, C_in, *spatial], output [N, C_out, *spatial], weight [C_in, C_out/groups, *k]. ' +
          'channels_last: input/output [N, *spatial, C], weight [*k, C_out/groups, C_in]. The letter aliases also fix the rank.',
      }),
    encoding: EncodingSchema,
  })
  .meta({
    id: 'ConvTransposeRequest',
    description:
      "PyTorch conv_transpose{1,2,3}d: out = (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 per spatial dim; equal to the grad_input of conv with the same parameters.",
    examples: [
      {
        input: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 2, 3, 4] },
        weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 1, 1, 1] },
        stride: 2,
      },
      {
        input: { dtype: 'float32', shape: [1, 2, 3], data: [1, 2, 3, 4, 5, 6] },
        weight: { dtype: 'float32', shape: [2, 1, 3], data: [1, 0, -1, 0.5, 0.5, 0.5] },
        bias: { dtype: 'float32', shape: [1], data: [0.25] },
        stride: 2,
        padding: 1,
        output_padding: 1,
      },
    ],
  });

export const TransposeResponses = responses('ConvTransposeResponse', (t) => ({ output: t }), 'The output tensor, in the request dtype and layout.');
