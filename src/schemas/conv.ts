/**
 * The conv endpoints' requests and responses (api-contract.md, "Conv parameters",
 * "POST /conv/forward", "POST /conv/backward"). Value ranges live here; everything that
 * relates one field to another (ranks, channels, groups, output extents, padding limits of a
 * padding mode) is src/shared/geometry/conv.ts's job.
 */
import { z } from 'zod';
import { MAX_PARAM } from '../shared/geometry/common.js';
import { invalidGeometry, invalidTensorData, limitExceeded, schemaViolation, type OperationExamples } from './examples.js';
import { JsonTensorSchema, MsgpackTensorSchema, tensorSchema } from './tensor.js';

export const intFrom = (min: number) => z.int().min(min, { error: `must be an integer >= ${min}` }).max(MAX_PARAM);

/** An int, or one int per spatial dim. */
export const perDim = (min: number, description: string) =>
  z
    .union([intFrom(min), z.array(intFrom(min)).min(1).max(3)], { error: `must be an integer >= ${min} or an array of one per spatial dim` })
    .default(1)
    .meta({ description });

const PaddingSchema = z
  .union(
    [
      intFrom(0),
      z.array(intFrom(0)).min(1).max(3),
      z.array(z.tuple([intFrom(0), intFrom(0)])).min(1).max(3),
      z.enum(['valid', 'same']),
    ],
    { error: 'must be an int >= 0, one int per spatial dim, [[before, after], ...] per spatial dim, "valid" or "same"' },
  )
  .default(0)
  .meta({
    description:
      'An int or int[d] pads both sides of each spatial dim equally; [[before, after], ...] pads each side; "valid" = 0; ' +
      '"same" makes out = ceil(in / stride), total padding max((out - 1) * stride + dilation * (k - 1) + 1 - in, 0) ' +
      'split as before = total // 2, after = total - before (TensorFlow / ONNX SAME_UPPER).',
  });

export const LayoutSchema = z
  .enum(['channels_first', 'channels_last', 'NCW', 'NWC', 'NCHW', 'NHWC', 'NCDHW', 'NDHWC'])
  .default('channels_first')
  .meta({
    description:
      'Memory layout of input, output and weight. channels_first (PyTorch): input/output [N, C, *spatial], weight [C_out, C_in/groups, *k]. ' +
      'channels_last (TensorFlow): input/output [N, *spatial, C], weight [*k, C_in/groups, C_out]. The letter aliases also fix the rank.',
  });

export const EncodingSchema = z.enum(['array', 'base64']).default('array').meta({
  description: 'JSON responses only: tensor data as number arrays ("array") or base64 strings ("base64"). msgpack responses always use bin.',
});

const convParams = {
  input: tensorSchema(3, 5, 'Rank 3, 4 or 5: a 1-, 2- or 3-D convolution. [N, C_in, *spatial] (channels_first) or [N, *spatial, C_in] (channels_last).'),
  weight: tensorSchema(3, 5, 'Same rank as input. [C_out, C_in/groups, *k] (channels_first) or [*k, C_in/groups, C_out] (channels_last).'),
  stride: perDim(1, 'Stride per spatial dim, >= 1.'),
  padding: PaddingSchema,
  dilation: perDim(1, 'Dilation per spatial dim, >= 1.'),
  groups: intFrom(1).default(1).meta({ description: 'C_in and C_out must both be divisible by groups.' }),
  padding_mode: z
    .enum(['zeros', 'reflect', 'replicate', 'circular'])
    .default('zeros')
    .meta({ description: 'Values of padded positions (PyTorch semantics). reflect needs padding < input extent; circular needs padding <= input extent.' }),
  layout: LayoutSchema,
  encoding: EncodingSchema,
};

const example2d = {
  input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 0, 0, -1] },
};

export const ForwardRequestSchema = z
  .strictObject({
    ...convParams,
    bias: tensorSchema(1, 1, 'Optional [C_out], added to every output position.').optional(),
  })
  .meta({ id: 'ConvForwardRequest', description: 'output = conv(input, weight) + bias.' });

export const ForwardExamples: OperationExamples = {
  requests: {
    bias: {
      summary: '2-D, 2x2 kernel, with bias',
      description: 'Each output is x[i][j] - x[i+1][j+1] + 0.5 = -3.5.',
      request: { ...example2d, bias: { dtype: 'float32', shape: [1], data: [0.5] } },
      response: { output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [-3.5, -3.5, -3.5, -3.5] } },
    },
    'same-reflect-base64': {
      summary: 'stride [2, 1], "same" reflect padding, base64 output',
      description: 'out = ceil(in / stride) = [2, 3]; the output data comes back as base64 of its float32 bytes (-4, -4, -2, 2, 2, 4).',
      request: { ...example2d, stride: [2, 1], padding: 'same', padding_mode: 'reflect', encoding: 'base64' },
      response: { output: { dtype: 'float32', shape: [1, 1, 2, 3], data: 'AACAwAAAgMAAAADAAAAAQAAAAEAAAIBA' } },
    },
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
        description: 'The first request example with a weight of shape [1, 2, 2, 2] (2 input channels) for an input with 1 channel.',
        value: invalidGeometry('weight.shape[1]', 'weight.shape[1] is 2 but input has 1 channels / groups 1 = 1'),
      },
      'invalid-tensor-data': {
        summary: 'Data not matching the shape',
        description: 'The first request example with 8 input values for its shape [1, 1, 3, 3].',
        value: invalidTensorData('input.data', 'input.data has 8 values but shape [1, 1, 3, 3] of float32 needs 9'),
      },
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description: 'The first request example with an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor. Checked from the shapes, before any data is read.',
        value: limitExceeded('input.shape', 'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)'),
      },
    },
  },
};

const GradNameSchema = z.enum(['input', 'weight', 'bias']);

export const BackwardRequestSchema = z
  .strictObject({
    ...convParams,
    bias: tensorSchema(1, 1, 'Optional [C_out]; its shape is checked, its values are ignored.').optional(),
    grad_output: tensorSchema(3, 5, "Gradient of the loss w.r.t. the forward output; exactly the forward output's shape."),
    grads: z
      .array(GradNameSchema)
      .max(3)
      .refine((names) => new Set(names).size === names.length, { error: 'must not repeat a name' })
      .default(['input', 'weight', 'bias'])
      .meta({ description: 'Which gradients to compute; the response has exactly these.' }),
  })
  .meta({ id: 'ConvBackwardRequest', description: 'Gradients of the forward w.r.t. input, weight and bias, given grad_output.' });

export const BackwardExamples: OperationExamples = {
  requests: {
    'input-and-weight': {
      summary: 'grad_input and grad_weight of the 2-D example',
      description: 'The forward example without bias, grad_output all ones, asking for two of the three gradients.',
      request: { ...example2d, grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 1, 1, 1] }, grads: ['input', 'weight'] },
      response: {
        grad_input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 1, 0, 1, 0, -1, 0, -1, -1] },
        grad_weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [12, 16, 24, 28] },
      },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The request example with "grads": ["input", "input"].',
        value: schemaViolation('grads', 'grads is ["input","input"]: must not repeat a name'),
      },
      'invalid-geometry': {
        summary: 'grad_output not shaped like the forward output',
        description: 'The request example with a grad_output of shape [1, 1, 3, 3].',
        value: invalidGeometry('grad_output.shape', 'grad_output.shape is [1, 1, 3, 3] but the forward output is [1, 1, 2, 2]'),
      },
      'invalid-tensor-data': {
        summary: 'Data not matching the shape',
        description: 'The request example with 3 grad_output values for its shape [1, 1, 2, 2].',
        value: invalidTensorData('grad_output.data', 'grad_output.data has 3 values but shape [1, 1, 2, 2] of float32 needs 4'),
      },
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description: 'The request example with an input of shape [1, 1, 4097, 4097] and a grad_output to match, over the default 2^24 elements per tensor.',
        value: limitExceeded('input.shape', 'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)'),
      },
    },
  },
};

/** The two response encodings of a compute endpoint, each with its tensor form (JSON first: what /docs asks for). */
export function responses(id: string, shape: (tensor: z.ZodType) => z.ZodRawShape, description: string) {
  return {
    description,
    content: {
      'application/json': { schema: z.strictObject(shape(JsonTensorSchema)).meta({ id: `${id}Json` }) },
      'application/msgpack': { schema: z.strictObject(shape(MsgpackTensorSchema)).meta({ id: `${id}Msgpack` }) },
    },
  };
}

export const ForwardResponses = responses('ConvForwardResponse', (t) => ({ output: t }), 'The output tensor, in the request dtype.');

export const BackwardResponses = responses(
  'ConvBackwardResponse',
  (t) => ({ grad_input: t.optional(), grad_weight: t.optional(), grad_bias: t.optional() }),
  'Exactly the requested gradients, shaped like input, weight and [C_out].',
);
