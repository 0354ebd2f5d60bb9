/**
 * POST /conv/forward: output = conv(input, weight) + bias, PyTorch conv1d/2d/3d. Value ranges
 * live in the schema; everything that relates one field to another (ranks, channels, groups,
 * output extents, padding limits of a padding mode) is src/shared/geometry/conv.ts's job.
 */
import { z } from 'zod';
import { EncodingSchema, intFrom, layoutSchema, paddingSchema, perDim, responses } from '../schemas/fields.js';
import {
  invalidGeometry,
  limitExceeded,
  shortDataExample,
  schemaViolation,
  type OperationExamples,
  type RequestExample,
} from '../schemas/examples.js';
import { tensorSchema } from '../schemas/tensor.js';
import { PADDING_MODES, WEIGHT_LAYOUT_NAMES } from '../shared/geometry/common.js';
import { convShapes, convWork, resolveConv } from '../shared/geometry/conv.js';
import { resultShape } from '../shared/task.js';
import { defineOp, dims } from './spec.js';

const PaddingSchema = paddingSchema(
  'An int or int[d] pads both sides of each spatial dim equally; [[before, after], ...] pads each side; "valid" = 0; ' +
    '"same" makes out = ceil(in / stride), total padding max((out - 1) * stride + dilation * (k - 1) + 1 - in, 0) ' +
    'split as before = total // 2, after = total - before (TensorFlow / ONNX SAME_UPPER); ' +
    '"same_lower" is the same total split with the odd position before: after = total // 2 (ONNX SAME_LOWER).',
);

export const convParams = {
  input: tensorSchema(
    3,
    5,
    'Rank 3, 4 or 5: a 1-, 2- or 3-D convolution. [N, C_in, *spatial] (channels_first) or [N, *spatial, C_in] (channels_last).',
  ),
  weight: tensorSchema(
    3,
    5,
    'Same rank as input. [C_out, C_in/groups, *k] (channels_first) or [*k, C_in/groups, C_out] (channels_last).',
  ),
  stride: perDim(1, 'Stride per spatial dim, >= 1.'),
  padding: PaddingSchema,
  dilation: perDim(1, 'Dilation per spatial dim, >= 1.'),
  groups: intFrom(1).default(1).meta({ description: 'C_in and C_out must both be divisible by groups.' }),
  padding_mode: z.enum(PADDING_MODES).default('zeros').meta({
    description:
      'Values of padded positions (PyTorch semantics). reflect needs padding < input extent; circular needs padding <= input extent.',
  }),
  layout: layoutSchema(
    'Memory layout of input, output and weight. channels_first (PyTorch): input/output [N, C, *spatial], weight [C_out, C_in/groups, *k]. ' +
      'channels_last (TensorFlow): input/output [N, *spatial, C], weight [*k, C_in/groups, C_out]. The letter aliases also fix the rank.',
  ),
  weight_layout: z
    .enum(WEIGHT_LAYOUT_NAMES)
    .optional()
    .meta({
      description:
        "The weight's layout, whatever the layout of input and output: OIW / OIHW / OIDHW is [C_out, C_in/groups, *k] (PyTorch's, channels_last included), " +
        "WIO / HWIO / DHWIO is [*k, C_in/groups, C_out] (TensorFlow's); each name fixes the rank. Default: the layout's own (OI* for channels_first, *IO for channels_last). " +
        '/conv/backward answers grad_weight in it.',
    }),
  encoding: EncodingSchema,
};

export const example2d = {
  input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 0, 0, -1] },
};

/** One request in a 2-byte dtype and its answer: `output` is the float32 result rounded once. */
const halfExample = (dtype: 'float16' | 'bfloat16', description: string, output: number[]): RequestExample => ({
  summary: `${dtype}, computed in float32`,
  description,
  request: {
    input: { dtype, shape: [1, 1, 4], data: [0.1, 0.2, 0.3, 60000] },
    weight: { dtype, shape: [1, 1, 2], data: [1, 0.5] },
  },
  response: { output: { dtype, shape: [1, 1, 3], data: output } },
});

const request = z
  .strictObject({
    ...convParams,
    bias: tensorSchema(1, 1, 'Optional [C_out], added to every output position.').optional(),
  })
  .meta({ id: 'ConvForwardRequest', description: 'output = conv(input, weight) + bias.' });

const examples: OperationExamples = {
  requests: {
    bias: {
      summary: '2-D, 2x2 kernel, with bias',
      description: 'Each output is x[i][j] - x[i+1][j+1] + 0.5 = -3.5.',
      request: { ...example2d, bias: { dtype: 'float32', shape: [1], data: [0.5] } },
      response: { output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [-3.5, -3.5, -3.5, -3.5] } },
    },
    'same-reflect-base64': {
      summary: 'stride [2, 1], "same" reflect padding, base64 output',
      description:
        'out = ceil(in / stride) = [2, 3]; the output data comes back as base64 of its float32 bytes (-4, -4, -2, 2, 2, 4).',
      request: { ...example2d, stride: [2, 1], padding: 'same', padding_mode: 'reflect', encoding: 'base64' },
      response: { output: { dtype: 'float32', shape: [1, 1, 2, 3], data: 'AACAwAAAgMAAAADAAAAAQAAAAEAAAIBA' } },
    },
    float16: halfExample(
      'float16',
      'Each number is rounded to float16 on the way in (0.1 becomes 0.0999755859375, 0.3 0.300048828125); the float32 results are rounded once to float16.',
      [0.199951171875, 0.35009765625, 30000],
    ),
    bfloat16: halfExample(
      'bfloat16',
      'The same request in bfloat16: 8 significant bits (0.1 becomes 0.10009765625, 60000 59904), float32 arithmetic, one rounding of each result.',
      [0.2001953125, 0.3515625, 29952],
    ),
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The first request example with "stride": 0.',
        value: schemaViolation('stride', 'stride is 0: must be an integer >= 1'),
      },
      'invalid-geometry': {
        summary: 'Inconsistent shapes',
        description:
          'The first request example with a weight of shape [1, 2, 2, 2] (2 input channels) for an input with 1 channel.',
        value: invalidGeometry('weight.shape[1]', 'weight.shape[1] is 2 but input has 1 channels / groups 1 = 1'),
      },
      'invalid-tensor-data': shortDataExample('first request example', 'input', [1, 1, 3, 3]),
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description:
          'The first request example with an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor. Checked from the shapes, before any data is read.',
        value: limitExceeded(
          'input.shape',
          'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)',
        ),
      },
    },
  },
};

export const convForward = defineOp({
  name: 'conv_forward',
  metricLabel: 'forward',
  route: {
    path: '/conv/forward',
    tags: ['conv'],
    summary: 'Convolution forward: output = conv(input, weight) + bias',
    description:
      'PyTorch conv1d/2d/3d semantics, with asymmetric padding, SAME_UPPER "same" for any stride and channels-last layouts.',
  },
  component: 'ConvForward',
  request,
  response: responses('ConvForwardResponse', (t) => ({ output: t }), 'The output tensor, in the request dtype.'),
  examples,
  tensors: (body) => ({ input: body.input, weight: body.weight, bias: body.bias }),
  resolve: (operands, body) => {
    const g = resolveConv(operands, body);
    return {
      task: { geometry: g },
      work: convWork(g),
      results: { output: { shape: resultShape(convShapes(g), 'output'), perSample: true } },
      outputs: {
        path: 'input.shape',
        source: `from input.shape ${dims(g.inputShape)} and weight.shape ${dims(g.weightShape)}`,
      },
    };
  },
});
