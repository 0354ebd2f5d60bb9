/**
 * POST /pool/forward and POST /pool/backward: max / average pooling on the conv machinery,
 * with the conv endpoints' encodings, errors, limits and metrics (see compute.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { preparePool } from '../pool-transpose-request.js';
import { PoolBackwardRequestSchema, PoolBackwardResponses, PoolForwardRequestSchema, PoolForwardResponses } from '../schemas/pool.js';
import { computeScope, CONSUMES, ENCODINGS_NOTE, ERROR_RESPONSES, sendComputed, type ComputeRouteDeps } from './compute.js';

export const poolRoutes: FastifyPluginAsyncZod<ComputeRouteDeps> = async (app, deps) => {
  computeScope(app, deps);

  app.post(
    '/pool/forward',
    {
      schema: {
        tags: ['pooling'],
        summary: 'Max or average pooling',
        description:
          'PyTorch max_pool{1,2,3}d / avg_pool{1,2,3}d (ceil_mode=False) in either layout: symmetric padding <= kernel_size / 2, stride defaulting to kernel_size, ' +
          `dilation (max), count_include_pad (avg). ${ENCODINGS_NOTE}`,
        consumes: CONSUMES,
        body: PoolForwardRequestSchema,
        response: { 200: PoolForwardResponses, ...ERROR_RESPONSES },
      },
    },
    (request, reply) => {
      const { input, encoding, ...params } = request.body;
      const prepared = preparePool({ op: 'pool_forward', tensors: { input }, params }, deps.admission.limitsFor(request, deps.config));
      return sendComputed(deps, 'pool_forward', prepared, encoding, request, reply);
    },
  );

  app.post(
    '/pool/backward',
    {
      schema: {
        tags: ['pooling'],
        summary: 'Pooling backward: gradient w.r.t. input given grad_output',
        description:
          "Takes the forward's parameters plus grad_output. Max routes each gradient to the first maximum of its window in row-major window order " +
          `(PyTorch semantics; a NaN is the maximum); avg spreads it over the window's elements. ${ENCODINGS_NOTE}`,
        consumes: CONSUMES,
        body: PoolBackwardRequestSchema,
        response: { 200: PoolBackwardResponses, ...ERROR_RESPONSES },
      },
    },
    (request, reply) => {
      const { input, grad_output, encoding, ...params } = request.body;
      const prepared = preparePool({ op: 'pool_backward', tensors: { input, grad_output }, params }, deps.admission.limitsFor(request, deps.config));
      return sendComputed(deps, 'pool_backward', prepared, encoding, request, reply);
    },
  );
};
