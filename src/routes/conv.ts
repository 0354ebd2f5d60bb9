/**
 * POST /conv/forward and POST /conv/backward: negotiate the response encoding (406), refuse
 * while not ready (503), validate (zod, then geometry and limits), run on the pool, encode.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { prepareConv, type ConvCall } from '../conv-request.js';
import { BackwardRequestSchema, BackwardResponses, ForwardRequestSchema, ForwardResponses } from '../schemas/conv.js';
import { computeScope, CONSUMES, ENCODINGS_NOTE, ERROR_RESPONSES, sendComputed, type ComputeRouteDeps } from './compute.js';

export type ConvRouteDeps = ComputeRouteDeps;

export const convRoutes: FastifyPluginAsyncZod<ConvRouteDeps> = async (app, deps) => {
  computeScope(app, deps);

  const run = (call: ConvCall, dataAs: 'array' | 'base64', request: FastifyRequest, reply: FastifyReply) =>
    sendComputed(deps, call.op, prepareConv(call, deps.admission.limitsFor(request, deps.config), deps.pool.idleThreads()), dataAs, request, reply);

  app.post(
    '/conv/forward',
    {
      schema: {
        tags: ['conv'],
        summary: 'Convolution forward: output = conv(input, weight) + bias',
        description: `PyTorch conv1d/2d/3d semantics, with asymmetric padding, SAME_UPPER "same" for any stride and channels-last layouts. ${ENCODINGS_NOTE}`,
        consumes: CONSUMES,
        body: ForwardRequestSchema,
        response: { 200: ForwardResponses, ...ERROR_RESPONSES },
      },
    },
    (request, reply) => {
      const { input, weight, bias, encoding } = request.body;
      return run({ op: 'forward', tensors: { input, weight, bias }, params: request.body }, encoding, request, reply);
    },
  );

  app.post(
    '/conv/backward',
    {
      schema: {
        tags: ['conv'],
        summary: 'Convolution backward: gradients w.r.t. input, weight and bias given grad_output',
        description: `Takes the forward's parameters plus grad_output and grads. With a non-zero padding mode, gradient reaching padded positions flows back to the input positions they copy. ${ENCODINGS_NOTE}`,
        consumes: CONSUMES,
        body: BackwardRequestSchema,
        response: { 200: BackwardResponses, ...ERROR_RESPONSES },
      },
    },
    (request, reply) => {
      const { input, weight, bias, grad_output, grads, encoding } = request.body;
      return run({ op: 'backward', tensors: { input, weight, bias, grad_output }, params: request.body, grads }, encoding, request, reply);
    },
  );
};
