/**
 * The conv endpoints' requests and responses (api-contract.md, "Conv parameters",
 * "POST /conv/forward", "POST /conv/backward"). Value ranges live here; everything that
 * relates one field to another (ranks, channels, groups, output extents, padding limits of a
 * padding mode) is src/conv/geometry.ts's job.
 */
import { z } from 'zod';
import { MAX_PARAM } from '../conv/geometry.js';
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
  .meta({
    id: 'ConvForwardRequest',
    description: 'output = conv(input, weight) + bias.',
    examples: [
      { ...example2d, bias: { dtype: 'float32', shape: [1], data: [0.5] } },
      { ...example2d, stride: [2, 1], padding: 'same', padding_mode: 'reflect', encoding: 'base64' },
    ],
  });

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
  .meta({
    id: 'ConvBackwardRequest',
    description: 'Gradients of the forward w.r.t. input, weight and bias, given grad_output.',
    examples: [{ ...example2d, grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 1, 1, 1] }, grads: ['input', 'weight'] }],
  });

/** The two response encodings of a conv endpoint, each with its tensor form. */
export function responses(id: string, shape: (tensor: z.ZodType) => z.ZodRawShape, description: string) {
  return {
    description,
    content: {
      'application/msgpack': { schema: z.strictObject(shape(MsgpackTensorSchema)).meta({ id: `${id}Msgpack` }) },
      'application/json': { schema: z.strictObject(shape(JsonTensorSchema)).meta({ id: `${id}Json` }) },
    },
  };
}

export const ForwardResponses = responses('ConvForwardResponse', (t) => ({ output: t }), 'The output tensor, in the request dtype.');

export const BackwardResponses = responses(
  'ConvBackwardResponse',
  (t) => ({ grad_input: t.optional(), grad_weight: t.optional(), grad_bias: t.optional() }),
  'Exactly the requested gradients, shaped like input, weight and [C_out].',
);
