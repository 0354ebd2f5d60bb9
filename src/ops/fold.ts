/**
 * POST /fold: PyTorch F.fold (col2im), generalised to 1-D to 3-D: columns [N, C * prod(k), L]
 * added back into an image of output_size. It is the adjoint of POST /unfold (unfold.ts) with
 * the same parameters, so each is the other's backward.
 */
import { z } from 'zod';
import {
  invalidGeometry,
  limitExceeded,
  schemaViolation,
  shortDataExample,
  type OperationExamples,
} from '../schemas/examples.js';
import { intsPerDim, layoutSchema, responses } from '../schemas/fields.js';
import { tensorSchema } from '../schemas/tensor.js';
import { foldShapes, resolveFold, unfoldWork } from '../shared/geometry/unfold.js';
import { resultShape } from '../shared/task.js';
import { defineOp } from './spec.js';
import { windowParams } from './unfold.js';

const request = z
  .strictObject({
    input: tensorSchema(3, 3, 'The columns [N, C * prod(kernel_size), L], as POST /unfold answers them.'),
    output_size: intsPerDim(1).meta({
      description:
        "The image's spatial extents; their number (1 to 3) is the number of spatial dims. An int is a square 2-D image, as in PyTorch.",
    }),
    ...windowParams,
    layout: layoutSchema(
      "The output image's memory layout: [N, C, *output_size] (channels_first) or [N, *output_size, C] (channels_last); the letter aliases also fix the rank.",
    ),
  })
  .meta({
    id: 'FoldRequest',
    description:
      'PyTorch F.fold: each column element is added into the image position POST /unfold with the same parameters takes it from (padding dropped). ' +
      'L must equal the number of blocks of output_size.',
  });

const example = {
  input: { dtype: 'float32', shape: [1, 4, 4], data: Array<number>(16).fill(1) },
  output_size: [3, 3],
  kernel_size: 2,
};

const examples: OperationExamples = {
  requests: {
    'window-counts': {
      summary: 'Folding ones: how many 2x2 windows cover each pixel of a 3x3 image',
      description: 'The divisor that turns a fold of overlapping windows into their average.',
      request: example,
      response: { output: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 2, 1, 2, 4, 2, 1, 2, 1] } },
    },
  },
  problems: {
    400: {
      'schema-violation': {
        summary: 'A field out of its range',
        description: 'The request example with "output_size": 0.',
        value: schemaViolation('output_size', 'output_size is 0: must be an integer >= 1'),
      },
      'invalid-geometry': {
        summary: 'Columns not matching the blocks of output_size',
        description: 'The request example with "output_size": [4, 3].',
        value: invalidGeometry(
          'input.shape[2]',
          'input.shape[2] is 4 but output_size [4, 3] has 3 * 2 = 6 blocks of kernel_size [2, 2] (stride, padding and dilation as given)',
        ),
      },
      'invalid-tensor-data': shortDataExample('request example', 'input', [1, 4, 4]),
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description:
          'The 1x1 windows of a 4097x4097 image, "output_size": [4097, 4097], "kernel_size": 1 and an input of shape [1, 1, 16785409]: over the default 2^24 elements per tensor.',
        value: limitExceeded(
          'input.shape',
          'input.shape [1, 1, 16785409] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)',
        ),
      },
    },
  },
};

export const foldOp = defineOp({
  name: 'fold',
  metricLabel: 'fold',
  route: {
    path: '/fold',
    tags: ['unfold'],
    summary: 'fold (col2im): columns added back into an image',
    description:
      'PyTorch F.fold for 1-, 2- and 3-D images in either layout: the adjoint of POST /unfold with the same parameters, hence its backward, and POST /unfold is its backward.',
  },
  component: 'Fold',
  request,
  response: responses(
    'FoldResponse',
    (t) => ({ output: t }),
    'The image [N, C, *output_size] (or channels_last), in the request dtype.',
  ),
  examples,
  tensors: (body) => ({ input: body.input }),
  resolve: (operands, body) => {
    const g = resolveFold(operands, body);
    return {
      task: { geometry: g },
      work: unfoldWork(g, 'fold'),
      results: { output: { shape: resultShape(foldShapes(g), 'output'), perSample: true } },
      outputs: {
        path: 'output_size',
        source: `from output_size ${JSON.stringify(body.output_size)} and input.shape[1]`,
      },
    };
  },
});
