/**
 * POST /conv/transpose: PyTorch conv_transpose{1,2,3}d forward, run as the grad_input pass of the
 * convolution it transposes. Value ranges live in the schema; how fields relate (channels,
 * groups, output_padding against stride and dilation, output extents) is
 * src/shared/geometry/transpose.ts's job.
 */
import { z } from 'zod';
import { limitExceeded, schemaViolation, shortDataExample, type OperationExamples } from '../schemas/examples.js';
import {
  EncodingSchema,
  intFrom,
  intsPerDim,
  layoutSchema,
  paddingSchema,
  perDim,
  responses,
} from '../schemas/fields.js';
import { tensorSchema } from '../schemas/tensor.js';
import { resolveTranspose, transposeShapes, transposeWork } from '../shared/geometry/transpose.js';
import { resultShape } from '../shared/task.js';
import { defineOp, dims } from './spec.js';

/** The fields of a transposed convolution, forward and backward share them (bias apart). */
export const transposeParams = {
  input: tensorSchema(
    3,
    5,
    'Rank 3, 4 or 5: a 1-, 2- or 3-D transposed convolution. [N, C_in, *spatial] (channels_first) or [N, *spatial, C_in] (channels_last).',
  ),
  weight: tensorSchema(
    3,
    5,
    "Same rank as input, in PyTorch's transposed layout: [C_in, C_out/groups, *k] (channels_first) or [*k, C_out/groups, C_in] (channels_last).",
  ),
  stride: perDim(1, 'Stride per spatial dim, >= 1.'),
  padding: paddingSchema(
    'The padding of the convolution this transposes: the output loses that many positions at each side. ' +
      'An int or int[d] (PyTorch) takes the same from both sides of each spatial dim; [[before, after], ...] takes each side on its own (ONNX ConvTranspose pads); "valid" is 0. ' +
      '"same" and "same_lower" are ONNX\'s auto_pad SAME_UPPER and SAME_LOWER: the output is output_size, or input * stride without it, ' +
      'and the total padding (input - 1) * stride + dilation * (k - 1) + output_padding + 1 - output is split evenly, the odd one after ("same") or before ("same_lower"); an output above that extent pads nothing and ends in zeros, as onnxruntime does.',
  ),
  output_padding: intsPerDim(0).default(0).meta({
    description:
      'Extra extent added on one side of each spatial dim of the output, smaller than stride or dilation of that dim.',
  }),
  output_size: z
    .union([intFrom(1), z.array(intFrom(1)).min(1).max(5)], {
      error: 'must be an integer >= 1, one per spatial dim, or the whole output shape',
    })
    .optional()
    .meta({
      description:
        'The output extent per spatial dim (an int for all, one per dim, or the whole output shape as PyTorch takes it, whose batch and channels must match). ' +
        "With an int or per-side padding it sets output_padding as PyTorch's ConvTranspose*d(x, output_size) does: it must be from the extent without output_padding to that plus max(stride, dilation) - 1. " +
        'With "same" or "same_lower" it is ONNX\'s output_shape: the padding is worked out from it (auto_pad NOTSET with output_shape is "same_lower").',
    }),
  dilation: perDim(1, 'Dilation per spatial dim, >= 1.'),
  groups: intFrom(1)
    .default(1)
    .meta({ description: 'C_in must be divisible by groups; C_out = weight C_out/groups * groups.' }),
  layout: layoutSchema(
    'Memory layout. channels_first (PyTorch): input [N, C_in, *spatial], output [N, C_out, *spatial], weight [C_in, C_out/groups, *k]. ' +
      'channels_last: input/output [N, *spatial, C], weight [*k, C_out/groups, C_in]. The letter aliases also fix the rank.',
  ),
  encoding: EncodingSchema,
};

const request = z
  .strictObject({
    ...transposeParams,
    bias: tensorSchema(1, 1, 'Optional [C_out], added to every output position.').optional(),
  })
  .meta({
    id: 'ConvTransposeRequest',
    description:
      'PyTorch conv_transpose{1,2,3}d: out = (in - 1) * stride - before - after + dilation * (k - 1) + output_padding + 1 per spatial dim (before = after = padding for an int padding); equal to the grad_input of conv with the same parameters.',
  });

export const example = {
  input: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 2, 3, 4] },
  weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 1, 1, 1] },
  stride: 2,
};

/** The 1-D examples' operands: out = (3 - 1) * 2 - 2 * 1 + (3 - 1) + 1 = 5 positions, 6 with output_padding 1. */
const conv1d = {
  input: { dtype: 'float32', shape: [1, 2, 3], data: [1, 2, 3, 4, 5, 6] },
  weight: { dtype: 'float32', shape: [2, 1, 3], data: [1, 0, -1, 0.5, 0.5, 0.5] },
  bias: { dtype: 'float32', shape: [1], data: [0.25] },
  stride: 2,
  padding: 1,
};
const conv1dAnswer = {
  output: { dtype: 'float32' as const, shape: [1, 1, 6], data: [2.25, 5.75, 2.75, 6.75, 3.25, 0.25] },
};

const examples: OperationExamples = {
  requests: {
    'stride-2': {
      summary: '2-D, 2x2 kernel of ones, stride 2',
      description: 'Each input value is spread over its own 2x2 output block.',
      request: example,
      response: {
        output: { dtype: 'float32', shape: [1, 1, 4, 4], data: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4] },
      },
    },
    '1d-output-padding': {
      summary: '1-D, 2 channels in, padding 1, output_padding 1, bias',
      description: 'out = (3 - 1) * 2 - 2 * 1 + (3 - 1) + 1 + 1 = 6.',
      request: { ...conv1d, output_padding: 1 },
      response: conv1dAnswer,
    },
    '1d-output-size': {
      summary: 'The same with output_size 6 instead of output_padding (PyTorch ConvTranspose1d(x, output_size))',
      description: 'Without output_padding the output would be 5 long; output_size [6] sets output_padding 1.',
      request: { ...conv1d, output_size: [6] },
      response: conv1dAnswer,
    },
    'onnx-same': {
      summary: '1-D, ONNX auto_pad SAME_UPPER: output = input * stride',
      description:
        'Unpadded, the output is [0, 0, 1, 1, 3, 2, 2]: 7 long, one more than 3 * 2; "same" takes the odd position after.',
      request: {
        input: { dtype: 'float32', shape: [1, 1, 3], data: [0, 1, 2] },
        weight: { dtype: 'float32', shape: [1, 1, 3], data: [1, 1, 1] },
        stride: 2,
        padding: 'same',
      },
      response: { output: { dtype: 'float32', shape: [1, 1, 6], data: [0, 0, 1, 1, 3, 2] } },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The first request example with "groups": 0.',
        value: schemaViolation('groups', 'groups is 0: must be an integer >= 1'),
      },
      'invalid-geometry': {
        summary: 'output_padding not smaller than stride or dilation',
        description: 'The first request example with "output_padding": 2; errors[] lists each spatial dim.',
        value: {
          type: 'urn:convd:problem:invalid-geometry',
          title: 'Inconsistent shapes or parameters',
          status: 400,
          detail:
            'output_padding is 2 but must be smaller than stride 2 or dilation 1 (spatial dim 0) (and 1 more problem)',
          errors: [
            {
              path: 'output_padding',
              message: 'output_padding is 2 but must be smaller than stride 2 or dilation 1 (spatial dim 0)',
            },
            {
              path: 'output_padding',
              message: 'output_padding is 2 but must be smaller than stride 2 or dilation 1 (spatial dim 1)',
            },
          ],
        },
      },
      'invalid-tensor-data': shortDataExample('first request example', 'input', [1, 1, 2, 2]),
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description:
          'The first request example with "stride": 1 and an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor.',
        value: limitExceeded(
          'input.shape',
          'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)',
        ),
      },
    },
  },
};

export const convTranspose = defineOp({
  name: 'conv_transpose',
  metricLabel: 'transpose',
  route: {
    path: '/conv/transpose',
    tags: ['conv'],
    summary: 'Transposed convolution: output = conv_transpose(input, weight) + bias',
    description:
      'PyTorch conv_transpose1d/2d/3d forward with stride, padding, output_padding, dilation and groups, in either layout; ' +
      'equal to the grad_input of conv with the same parameters.',
  },
  component: 'ConvTranspose',
  request,
  response: responses(
    'ConvTransposeResponse',
    (t) => ({ output: t }),
    'The output tensor, in the request dtype and layout.',
  ),
  examples,
  tensors: (body) => ({ input: body.input, weight: body.weight, bias: body.bias }),
  resolve: (operands, body) => {
    const g = resolveTranspose(operands, body);
    // the transposed convolution's output is the input of the convolution it transposes
    const source = `from input.shape ${dims(operands.input.shape)}, weight.shape ${dims(operands.weight.shape)}, stride, padding, output_padding, output_size and dilation`;
    return {
      task: { geometry: g },
      work: transposeWork(g, operands.bias !== undefined),
      results: { output: { shape: resultShape(transposeShapes(g), 'output'), perSample: true } },
      outputs: { path: 'input.shape', source },
    };
  },
});
