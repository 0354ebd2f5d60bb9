/**
 * POST /unfold: PyTorch F.unfold (im2col), generalised to 1-D to 3-D: every kernel window of
 * the image as a column of [N, C * prod(k), L]. Its backward is POST /fold with the same
 * parameters (fold.ts): each is the other's adjoint. How fields relate is
 * src/shared/geometry/unfold.ts's job.
 */
import { z } from 'zod';
import {
  invalidGeometry,
  limitExceeded,
  schemaViolation,
  shortDataExample,
  type OperationExamples,
} from '../schemas/examples.js';
import { EncodingSchema, intsPerDim, layoutSchema, perDim, responses } from '../schemas/fields.js';
import { tensorSchema } from '../schemas/tensor.js';
import { resolveUnfold, unfoldShapes, unfoldWork } from '../shared/geometry/unfold.js';
import { resultShape } from '../shared/task.js';
import { defineOp, dims } from './spec.js';

/** The window fields unfold and fold share. */
export const windowParams = {
  kernel_size: intsPerDim(1).meta({ description: 'Window extent per spatial dim, >= 1.' }),
  stride: perDim(1, 'Window step per spatial dim, >= 1.'),
  padding: intsPerDim(0).default(0).meta({
    description: "Zeros added on both sides of each spatial dim of the image, as the convolution's int padding.",
  }),
  dilation: perDim(1, 'Spacing of window elements per spatial dim, >= 1.'),
  encoding: EncodingSchema,
};

const request = z
  .strictObject({
    input: tensorSchema(
      3,
      5,
      'The image, rank 3, 4 or 5 (1 to 3 spatial dims): [N, C, *spatial] (channels_first) or [N, *spatial, C] (channels_last).',
    ),
    ...windowParams,
    layout: layoutSchema(
      "The image's memory layout; the letter aliases also fix the rank. The output is [N, C * prod(kernel_size), L] in both.",
    ),
  })
  .meta({
    id: 'UnfoldRequest',
    description:
      'PyTorch F.unfold: output[n, c * prod(k) + kernel offset, block] = the padded image at that offset of that window, ' +
      'blocks = floor((spatial + 2 * padding - dilation * (k - 1) - 1) / stride) + 1 per spatial dim, L their product, both row-major.',
  });

export const unfoldExample = {
  input: { dtype: 'float32', shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  kernel_size: 2,
};

const examples: OperationExamples = {
  requests: {
    '2x2-windows': {
      summary: 'The four 2x2 windows of a 3x3 image',
      description:
        'Row r holds kernel offset r of every window: the top-left, top-right, bottom-left and bottom-right elements.',
      request: unfoldExample,
      response: {
        output: { dtype: 'float32', shape: [1, 4, 4], data: [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9] },
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
        summary: 'A window larger than the padded image',
        description: 'The request example with "kernel_size": [4, 2].',
        value: invalidGeometry(
          'input.shape[2]',
          'input.shape[2] is 3 but 3 + 2 * padding 0 is smaller than the dilated kernel 1 * (4 - 1) + 1 = 4: spatial dim 0 has no block',
        ),
      },
      'invalid-tensor-data': shortDataExample('request example', 'input', [1, 1, 3, 3]),
    },
    413: {
      'limit-exceeded': {
        summary: 'A tensor over CONVD_MAX_TENSOR_ELEMENTS',
        description:
          'The request example with an input of shape [1, 1, 4097, 4097], over the default 2^24 elements per tensor.',
        value: limitExceeded(
          'input.shape',
          'input.shape [1, 1, 4097, 4097] has 16785409 elements; the limit is 16777216 per tensor (CONVD_MAX_TENSOR_ELEMENTS)',
        ),
      },
    },
  },
};

export const unfoldOp = defineOp({
  name: 'unfold',
  metricLabel: 'unfold',
  route: {
    path: '/unfold',
    tags: ['unfold'],
    summary: 'unfold (im2col): every kernel window of the image as a column',
    description:
      "PyTorch F.unfold for 1-, 2- and 3-D images in either layout, with kernel_size, stride, padding and dilation. Its backward is POST /fold with the same parameters and output_size the image's spatial extents.",
  },
  component: 'Unfold',
  request,
  response: responses(
    'UnfoldResponse',
    (t) => ({ output: t }),
    'The columns [N, C * prod(kernel_size), L], in the request dtype.',
  ),
  examples,
  tensors: (body) => ({ input: body.input }),
  resolve: (operands, body) => {
    const g = resolveUnfold(operands, body);
    return {
      task: { geometry: g },
      work: unfoldWork(g, 'unfold'),
      results: { output: { shape: resultShape(unfoldShapes(g), 'output'), perSample: true } },
      outputs: { path: 'input.shape', source: `from input.shape ${dims(g.inputShape)} and kernel_size` },
    };
  },
});
