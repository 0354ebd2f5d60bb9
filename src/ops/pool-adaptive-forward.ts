/**
 * POST /pool/adaptive/forward: adaptive max / average pooling (PyTorch adaptive_max_pool{1,2,3}d,
 * adaptive_avg_pool{1,2,3}d) and lp over the same windows; output_size 1 is global pooling (ONNX
 * GlobalMaxPool, GlobalAveragePool, GlobalLpPool). The mode's fields are /pool/forward's
 * (pool-forward.ts); how they relate is src/shared/geometry/adaptive-pooling.ts's job.
 */
import { z } from 'zod';
import { invalidGeometry, schemaViolation, shortDataExample, type OperationExamples } from '../schemas/examples.js';
import { intFrom } from '../schemas/fields.js';
import {
  adaptivePoolingShapes,
  adaptivePoolingWork,
  resolveAdaptivePooling,
} from '../shared/geometry/adaptive-pooling.js';
import { pooledResponse, pooledResults, example as windowExample, poolParams, tooLarge } from './pool-forward.js';
import { defineOp, dims } from './spec.js';

export const adaptivePoolParams = {
  input: poolParams.input,
  mode: poolParams.mode,
  output_size: z
    .union([intFrom(1), z.array(intFrom(1).nullable()).min(1).max(3)], {
      error: 'must be an integer >= 1 or an array of one per spatial dim (each an integer >= 1 or null)',
    })
    .meta({
      description:
        'Output extent per spatial dim: one int for all, or one per dim, null keeping the input extent (PyTorch). 1 pools each channel whole (global pooling).',
    }),
  p: poolParams.p,
  lp_abs: poolParams.lp_abs,
  return_indices: poolParams.return_indices,
  storage_order: poolParams.storage_order,
  layout: poolParams.layout,
  encoding: poolParams.encoding,
};

export const example = { input: windowExample.input, mode: 'avg', output_size: 1 };

const request = z.strictObject(adaptivePoolParams).meta({
  id: 'AdaptivePoolForwardRequest',
  description:
    'Adaptive pooling (PyTorch adaptive_max_pool / adaptive_avg_pool{1,2,3}d; lp over the same windows): per dim, output o pools the input range [floor(o * in / out), ceil((o + 1) * in / out)).',
});

const examples: OperationExamples = {
  requests: {
    global: {
      summary: 'Global average pooling of a 4x4 image (output_size 1; ONNX GlobalAveragePool)',
      description: 'The mean of 1..16.',
      request: example,
      response: { output: { dtype: 'float32', shape: [1, 1, 1, 1], data: [8.5] } },
    },
    'avg-overlapping': {
      summary: 'Adaptive average of 5 values to 3: overlapping windows',
      description: 'Windows [0, 2), [1, 4), [3, 5): the means of (1, 2), (2, 3, 4) and (4, 5).',
      request: { input: { dtype: 'float32', shape: [1, 1, 5], data: [1, 2, 3, 4, 5] }, mode: 'avg', output_size: 3 },
      response: { output: { dtype: 'float32', shape: [1, 1, 3], data: [1.5, 3, 4.5] } },
    },
    'max-indices': {
      summary: 'Adaptive max to [2, null] with return_indices',
      description: 'null keeps the width: the maximum of each column over each half of the rows, and its flat index.',
      request: { ...example, mode: 'max', output_size: [2, null], return_indices: true },
      response: {
        output: { dtype: 'float32', shape: [1, 1, 2, 4], data: [5, 6, 7, 8, 13, 14, 15, 16] },
        indices: { dtype: 'float32', shape: [1, 1, 2, 4], data: [4, 5, 6, 7, 12, 13, 14, 15] },
      },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The first request example with "output_size": 0.',
        value: schemaViolation('output_size', 'output_size is 0: must be an integer >= 1'),
      },
      'invalid-geometry': {
        summary: 'output_size of another rank',
        description: 'The first request example with "output_size": [1, 1, 1] for a 2-D input.',
        value: invalidGeometry('output_size', 'output_size has 3 values but the pooling has 2 spatial dims'),
      },
      'invalid-tensor-data': shortDataExample('first request example', 'input', [1, 1, 4, 4]),
    },
    413: {
      'limit-exceeded': {
        ...tooLarge,
        description:
          'The first request example with an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor.',
      },
    },
  },
};

export const adaptivePoolForward = defineOp({
  name: 'adaptive_pool_forward',
  metricLabel: 'adaptive_pool_forward',
  route: {
    path: '/pool/adaptive/forward',
    tags: ['pooling'],
    summary: 'Adaptive and global pooling (max, average or lp)',
    description:
      'PyTorch adaptive_max_pool / adaptive_avg_pool{1,2,3}d in either layout, and lp over the same windows: output_size per dim (null keeps the extent), ' +
      "windows [floor(o * in / out), ceil((o + 1) * in / out)); output_size 1 is ONNX GlobalMaxPool / GlobalAveragePool / GlobalLpPool. return_indices and storage_order (max), p and lp_abs (lp; lp_abs for ONNX GlobalLpPool's |x|^p).",
  },
  component: 'AdaptivePoolForward',
  request,
  response: pooledResponse('AdaptivePoolForwardResponse'),
  examples,
  tensors: (body) => ({ input: body.input }),
  resolve: (operands, body) => {
    const g = resolveAdaptivePooling(operands, body);
    return {
      task: { geometry: g },
      work: adaptivePoolingWork(g, false),
      results: pooledResults(adaptivePoolingShapes(g), g.returnIndices),
      outputs: { path: 'output_size', source: `from output_size and input.shape ${dims(g.inputShape)}` },
    };
  },
});
