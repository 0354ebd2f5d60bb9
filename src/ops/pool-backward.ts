/** POST /pool/backward: the gradient of pooling w.r.t. input, given grad_output; the forward's parameters (pool-forward.ts) plus grad_output. */
import { z } from 'zod';
import { invalidGeometry, schemaViolation, shortDataExample, type OperationExamples } from '../schemas/examples.js';
import { responses } from '../schemas/fields.js';
import { tensorSchema } from '../schemas/tensor.js';
import { poolingShapes, poolingWork, resolvePooling } from '../shared/geometry/pooling.js';
import { resultShape } from '../shared/task.js';
import { example, poolingTask, poolParams, tooLarge } from './pool-forward.js';
import { defineOp, dims } from './spec.js';

const request = z
  .strictObject({
    ...poolParams,
    grad_output: tensorSchema(
      3,
      5,
      "Gradient of the loss w.r.t. the pooled output; exactly the forward output's shape.",
    ),
  })
  .meta({
    id: 'PoolBackwardRequest',
    description:
      'Gradient w.r.t. input. Max routes each output gradient to the first maximum of its window in row-major window order (a NaN is the maximum); avg spreads it evenly over the window (padding takes its share when count_include_pad).',
  });

const examples: OperationExamples = {
  requests: {
    max: {
      summary: 'Gradient of 2x2 max pooling',
      description: 'Each output gradient goes to the position of its window maximum.',
      request: { ...example, grad_output: { dtype: 'float32', shape: [1, 1, 2, 2], data: [1, 2, 3, 4] } },
      response: {
        grad_input: { dtype: 'float32', shape: [1, 1, 4, 4], data: [0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4] },
      },
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
        value: invalidGeometry(
          'grad_output.shape',
          'grad_output.shape is [1, 1, 4, 4] but the forward output is [1, 1, 2, 2]',
        ),
      },
      'invalid-tensor-data': shortDataExample('request example', 'grad_output', [1, 1, 2, 2]),
    },
    413: {
      'limit-exceeded': {
        ...tooLarge,
        description:
          'The request example with an input of shape [1, 1, 4097, 4097] and a grad_output to match, over the default 2^24 elements per tensor.',
      },
    },
  },
};

export const poolBackward = defineOp({
  name: 'pool_backward',
  metricLabel: 'pool_backward',
  route: {
    path: '/pool/backward',
    tags: ['pooling'],
    summary: 'Pooling backward: gradient w.r.t. input given grad_output',
    description:
      "Takes the forward's parameters plus grad_output. Max routes each gradient to the first maximum of its window in row-major window order " +
      "(PyTorch semantics; a NaN is the maximum); avg spreads it over the window's elements.",
  },
  component: 'PoolBackward',
  request,
  response: responses(
    'PoolBackwardResponse',
    (t) => ({ grad_input: t }),
    'The gradient w.r.t. input, shaped like input.',
  ),
  examples,
  tensors: (body) => ({ input: body.input, grad_output: body.grad_output }),
  resolve: (operands, body) => {
    const g = resolvePooling(operands, body);
    return {
      task: poolingTask(g),
      work: poolingWork(g, true),
      results: { grad_input: { shape: resultShape(poolingShapes(g), 'grad_input'), perSample: true } },
      outputs: { path: 'input.shape', source: `shaped like input.shape ${dims(g.window.inputShape)}` },
    };
  },
});
