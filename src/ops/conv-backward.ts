/**
 * POST /conv/backward: the gradients of conv forward w.r.t. input, weight and bias, given
 * grad_output; the forward's parameters (conv-forward.ts) plus grad_output and grads.
 */
import { z } from 'zod';
import { responses } from '../schemas/fields.js';
import {
  invalidGeometry,
  limitExceeded,
  shortDataExample,
  schemaViolation,
  type OperationExamples,
} from '../schemas/examples.js';
import { tensorSchema } from '../schemas/tensor.js';
import type { OperandShapes } from '../shared/geometry/common.js';
import { convShapes, convWork, resolveConv, type GradName } from '../shared/geometry/conv.js';
import { gradResult, resultShape } from '../shared/task.js';
import { convParams, example2d } from './conv-forward.js';
import { defineOp } from './spec.js';

const GradNameSchema = z.enum(['input', 'weight', 'bias']);

/** The gradients a backward request asks for (all three by default). */
export const gradsSchema = z
  .array(GradNameSchema)
  .max(3)
  .refine((names) => new Set(names).size === names.length, { error: 'must not repeat a name' })
  .default(['input', 'weight', 'bias'])
  .meta({ description: 'Which gradients to compute; the response has exactly these.' });

/** A backward operation's response: exactly the requested gradients. */
export const gradientsResponse = (id: string) =>
  responses(
    id,
    (t) => ({ grad_input: t.optional(), grad_weight: t.optional(), grad_bias: t.optional() }),
    'Exactly the requested gradients, shaped like input, weight and [C_out].',
  );

/** The results of a backward request for `grads` (grad_input per sample, the sums over the batch not) and what its output limit names. */
export function requestedGradients(shapes: OperandShapes, grads: readonly GradName[]) {
  const requested = [...new Set(grads)];
  return {
    results: Object.fromEntries(
      requested.map((k) => [gradResult(k), { shape: resultShape(shapes, gradResult(k)), perSample: k === 'input' }]),
    ),
    outputs: { path: 'grads', source: `the gradients grads ${JSON.stringify(requested)} asks for` },
  };
}

const request = z
  .strictObject({
    ...convParams,
    bias: tensorSchema(1, 1, 'Optional [C_out]; its shape is checked, its values are ignored.').optional(),
    grad_output: tensorSchema(
      3,
      5,
      "Gradient of the loss w.r.t. the forward output; exactly the forward output's shape.",
    ),
    grads: gradsSchema,
  })
  .meta({
    id: 'ConvBackwardRequest',
    description: 'Gradients of the forward w.r.t. input, weight and bias, given grad_output.',
  });

const examples: OperationExamples = {
  requests: {
    'input-and-weight': {
      summary: 'grad_input and grad_weight of the 2-D example',
      description: 'The forward example without bias, grad_output all ones, asking for two of the three gradients.',
      request: {
        ...example2d,
        grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 1, 1, 1] },
        grads: ['input', 'weight'],
      },
      response: {
        grad_input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 1, 0, 1, 0, -1, 0, -1, -1] },
        grad_weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [12, 16, 24, 28] },
      },
    },
    'empty-batch': {
      summary: 'An empty batch (N = 0)',
      description:
        'As in PyTorch: grad_input is empty (shape [0, 1, 3, 3]), grad_weight and grad_bias are zeros; nothing is computed.',
      request: {
        input: { dtype: 'float32', shape: [0, 1, 3, 3], data: [] },
        weight: example2d.weight,
        bias: { dtype: 'float32', shape: [1], data: [0.5] },
        grad_output: { dtype: 'float32', shape: [0, 1, 2, 2], data: [] },
      },
      response: {
        grad_input: { dtype: 'float32', shape: [0, 1, 3, 3], data: [] },
        grad_weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [0, 0, 0, 0] },
        grad_bias: { dtype: 'float32', shape: [1], data: [0] },
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
        value: invalidGeometry(
          'grad_output.shape',
          'grad_output.shape is [1, 1, 3, 3] but the forward output is [1, 1, 2, 2]',
        ),
      },
      'invalid-tensor-data': shortDataExample('request example', 'grad_output', [1, 1, 2, 2]),
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description:
          'The request example with an input of shape [1, 1, 4097, 4097] and a grad_output to match, over the default 2^24 elements per tensor.',
        value: limitExceeded(
          'input.shape',
          'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)',
        ),
      },
    },
  },
};

export const convBackward = defineOp({
  name: 'conv_backward',
  metricLabel: 'backward',
  route: {
    path: '/conv/backward',
    tags: ['conv'],
    summary: 'Convolution backward: gradients w.r.t. input, weight and bias given grad_output',
    description:
      "Takes the forward's parameters plus grad_output and grads. With a non-zero padding mode, gradient reaching padded positions flows back to the input positions they copy.",
  },
  component: 'ConvBackward',
  request,
  response: gradientsResponse('ConvBackwardResponse'),
  examples,
  tensors: (body) => ({ input: body.input, weight: body.weight, bias: body.bias, grad_output: body.grad_output }),
  // backward reads bias's shape, never its values
  unsent: ['bias'],
  resolve: (operands, body) => {
    const g = resolveConv(operands, body);
    return { task: { geometry: g }, work: convWork(g, body.grads), ...requestedGradients(convShapes(g), body.grads) };
  },
});
