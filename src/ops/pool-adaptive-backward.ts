/** POST /pool/adaptive/backward: the gradient of adaptive pooling w.r.t. input, given grad_output; the forward's parameters (pool-adaptive-forward.ts) plus grad_output. */
import { z } from 'zod';
import { invalidGeometry, schemaViolation, shortDataExample, type OperationExamples } from '../schemas/examples.js';
import { responses } from '../schemas/fields.js';
import { tensorSchema } from '../schemas/tensor.js';
import {
  adaptivePoolingShapes,
  adaptivePoolingWork,
  resolveAdaptivePooling,
} from '../shared/geometry/adaptive-pooling.js';
import { resultShape } from '../shared/task.js';
import { adaptivePoolParams, example } from './pool-adaptive-forward.js';
import { tooLarge } from './pool-forward.js';
import { defineOp, dims } from './spec.js';

const request = z
  .strictObject({
    ...adaptivePoolParams,
    grad_output: tensorSchema(
      3,
      5,
      "Gradient of the loss w.r.t. the pooled output; exactly the forward output's shape.",
    ),
  })
  .meta({
    id: 'AdaptivePoolBackwardRequest',
    description:
      'Gradient w.r.t. input. Max routes each output gradient to the first maximum of its window (a NaN is the maximum); avg spreads it evenly over the window; lp by the chain rule. Overlapping windows add up.',
  });

const examples: OperationExamples = {
  requests: {
    global: {
      summary: 'Gradient of global average pooling',
      description: 'Each of the 16 elements gets 1/16 of the output gradient.',
      request: { ...example, grad_output: { dtype: 'float32', shape: [1, 1, 1, 1], data: [16] } },
      response: { grad_input: { dtype: 'float32', shape: [1, 1, 4, 4], data: Array<number>(16).fill(1) } },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The request example with "mode": "min".',
        value: schemaViolation('mode', 'mode is "min": Invalid option: expected one of "max"|"avg"|"lp"'),
      },
      'invalid-geometry': {
        summary: 'grad_output not shaped like the pooled output',
        description: 'The request example with a grad_output of shape [1, 1, 2, 2].',
        value: invalidGeometry(
          'grad_output.shape',
          'grad_output.shape is [1, 1, 2, 2] but the forward output is [1, 1, 1, 1]',
        ),
      },
      'invalid-tensor-data': shortDataExample('request example', 'grad_output', [1, 1, 1, 1]),
    },
    413: {
      'limit-exceeded': {
        ...tooLarge,
        description:
          'The request example with an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor.',
      },
    },
  },
};

export const adaptivePoolBackward = defineOp({
  name: 'adaptive_pool_backward',
  metricLabel: 'adaptive_pool_backward',
  route: {
    path: '/pool/adaptive/backward',
    tags: ['pooling'],
    summary: 'Adaptive and global pooling backward: gradient w.r.t. input given grad_output',
    description:
      "Takes the forward's parameters plus grad_output. Max routes each gradient to the first maximum of its window " +
      '(PyTorch semantics; a NaN is the maximum); avg spreads it over the window; lp by the chain rule; overlapping windows add up.',
  },
  component: 'AdaptivePoolBackward',
  request,
  response: responses(
    'AdaptivePoolBackwardResponse',
    (t) => ({ grad_input: t }),
    'The gradient w.r.t. input, shaped like input.',
  ),
  examples,
  tensors: (body) => ({ input: body.input, grad_output: body.grad_output }),
  resolve: (operands, body) => {
    const g = resolveAdaptivePooling(operands, body);
    return {
      task: { geometry: g },
      work: adaptivePoolingWork(g, true),
      results: { grad_input: { shape: resultShape(adaptivePoolingShapes(g), 'grad_input'), perSample: true } },
      outputs: { path: 'input.shape', source: `shaped like input.shape ${dims(g.inputShape)}` },
    };
  },
});
