/**
 * POST /conv/transpose: PyTorch conv_transpose{1,2,3}d forward, run as the grad_input pass of
 * the convolution it transposes, with the conv endpoints' encodings, errors, limits and
 * metrics (see compute.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { prepareTranspose } from '../pool-transpose-request.js';
import { TransposeRequestSchema, TransposeResponses } from '../schemas/transpose.js';
import { computeScope, CONSUMES, ENCODINGS_NOTE, ERROR_RESPONSES, sendComputed, type ComputeRouteDeps } from './compute.js';

export const transposeRoutes: FastifyPluginAsyncZod<ComputeRouteDeps> = async (app, deps) => {
  computeScope(app, deps);

  app.post(
    '/conv/transpose',
    {
      schema: {
        tags: ['conv'],
        summary: 'Transposed convolution: output = conv_transpose(input, weight) + bias',
        description:
          'PyTorch conv_transpose1d/2d/3d forward with stride, padding, output_padding, dilation and groups, in either layout; ' +
          `equal to the grad_input of conv with the same parameters. ${ENCODINGS_NOTE}`,
        consumes: CONSUMES,
        body: TransposeRequestSchema,
        response: { 200: TransposeResponses, ...ERROR_RESPONSES },
      },
    },
    (request, reply) => {
      const { input, weight, bias, encoding, ...params } = request.body;
      const prepared = prepareTranspose({ tensors: { input, weight, bias }, params }, deps.admission.limitsFor(request, deps.config));
      return sendComputed(deps, 'transpose', prepared, encoding, request, reply);
    },
  );
};
