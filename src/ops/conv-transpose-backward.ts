/**
 * POST /conv/transpose/backward: the gradients of conv_transpose w.r.t. input, weight and bias,
 * given grad_output; the forward's parameters (conv-transpose.ts) plus grad_output and grads.
 * Each gradient is a pass of the convolution the transposed convolution is the grad_input of,
 * with the roles swapped (workers/kernels/transpose.ts convTransposeBackward).
 */
import { z } from 'zod';
import {
  invalidGeometry,
  limitExceeded,
  schemaViolation,
  shortDataExample,
  type OperationExamples,
} from '../schemas/examples.js';
import { tensorSchema } from '../schemas/tensor.js';
import { resolveTranspose, transposeBackwardWork, transposeShapes } from '../shared/geometry/transpose.js';
import { gradientsResponse, gradsSchema, requestedGradients } from './conv-backward.js';
import { example, transposeParams } from './conv-transpose.js';
import { defineOp } from './spec.js';

const request = z
  .strictObject({
    ...transposeParams,
    bias: tensorSchema(1, 1, 'Optional [C_out]; its shape is checked, its values are ignored.').optional(),
    grad_output: tensorSchema(
      3,
      5,
      "Gradient of the loss w.r.t. the transposed convolution's output; exactly that output's shape.",
    ),
    grads: gradsSchema,
  })
  .meta({
    id: 'ConvTransposeBackwardRequest',
    description:
      "Gradients of conv_transpose w.r.t. input, weight and bias, given grad_output: grad_input is the convolution with the same weight and parameters applied to grad_output, grad_weight that convolution's weight gradient with input and grad_output swapped, grad_bias the sum of grad_output per channel.",
  });

const examples: OperationExamples = {
  requests: {
    'stride-2': {
      summary: 'All three gradients of the 2-D stride-2 example',
      description:
        'grad_input sums each 2x2 block of grad_output; grad_weight[a, b] = sum of input[i, j] * grad_output[2i + a, 2j + b]; grad_bias sums grad_output.',
      request: {
        ...example,
        grad_output: {
          dtype: 'float32',
          shape: [1, 1, 4, 4],
          data: Array.from({ length: 16 }, (_, i) => i + 1),
        },
      },
      response: {
        grad_input: { dtype: 'float32', shape: [1, 1, 2, 2], data: [14, 22, 46, 54] },
        grad_weight: { dtype: 'float32', shape: [1, 1, 2, 2], data: [78, 88, 118, 128] },
        grad_bias: { dtype: 'float32', shape: [1], data: [136] },
      },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The request example with "grads": ["weight", "weight"].',
        value: schemaViolation('grads', 'grads is ["weight","weight"]: must not repeat a name'),
      },
      'invalid-geometry': {
        summary: 'grad_output not shaped like the output',
        description: 'The request example with a grad_output of shape [1, 1, 3, 3].',
        value: invalidGeometry(
          'grad_output.shape',
          'grad_output.shape is [1, 1, 3, 3] but the forward output is [1, 1, 4, 4]',
        ),
      },
      'invalid-tensor-data': shortDataExample('request example', 'grad_output', [1, 1, 4, 4]),
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description:
          'The request example with an input of shape [1, 1, 4097, 4097], "stride": 1, "padding": 1 and a grad_output of shape [1, 1, 4096, 4096] to match: the input is over the default 2^24 elements per tensor.',
        value: limitExceeded(
          'input.shape',
          'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)',
        ),
      },
    },
  },
};

export const convTransposeBackward = defineOp({
  name: 'conv_transpose_backward',
  metricLabel: 'transpose_backward',
  route: {
    path: '/conv/transpose/backward',
    tags: ['conv'],
    summary: 'Transposed convolution backward: gradients w.r.t. input, weight and bias given grad_output',
    description:
      "Takes /conv/transpose's parameters plus grad_output and grads (PyTorch autograd of conv_transpose1d/2d/3d). " +
      "grad_input is conv(grad_output, weight) with the same stride, padding, dilation and groups; grad_weight is in the request's weight layout.",
  },
  component: 'ConvTransposeBackward',
  request,
  response: gradientsResponse('ConvTransposeBackwardResponse'),
  examples,
  tensors: (body) => ({ input: body.input, weight: body.weight, bias: body.bias, grad_output: body.grad_output }),
  // backward reads bias's shape, never its values
  unsent: ['bias'],
  resolve: (operands, body) => {
    const g = resolveTranspose(operands, body);
    return {
      task: { geometry: g },
      work: transposeBackwardWork(g, body.grads),
      ...requestedGradients(transposeShapes(g), body.grads),
    };
  },
});
