/**
 * POST /conv/forward and POST /conv/backward: negotiate the response encoding (406), refuse
 * while not ready (503), validate (zod, then geometry and limits), run on the pool, encode.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../config.js';
import { prepareConv, resultTensors, type ConvCall } from '../conv-request.js';
import { clientGoneSignal, dispatch } from '../dispatch.js';
import { HttpProblem } from '../http/problem.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import type { ConvPool } from '../pool.js';
import { BackwardRequestSchema, BackwardResponses, ForwardRequestSchema, ForwardResponses } from '../schemas/conv.js';
import { problemResponse } from '../schemas/problem.js';
import { negotiateEncoding, type ResponseEncoding } from '../wire/accept.js';
import { MSGPACK_MEDIA_TYPES } from '../wire/msgpack.js';
import { encodeResult } from '../wire/response.js';
import { faultFromHeaders } from '../../workers/faults.js';

declare module 'fastify' {
  interface FastifyRequest {
    responseEncoding: ResponseEncoding | null;
  }
}

export interface ConvRouteDeps {
  config: Config;
  pool: ConvPool;
  metrics: Metrics;
  lifecycle: Lifecycle;
}

const CONSUMES = ['application/json', ...MSGPACK_MEDIA_TYPES];

const ERROR_RESPONSES = {
  400: problemResponse('Malformed body, schema violation, tensor data not matching shape and dtype, or inconsistent shapes; errors[] names each field.'),
  406: problemResponse('Accept allows neither msgpack nor JSON.'),
  413: problemResponse('Body over CONVD_MAX_BODY_BYTES, or a tensor, the outputs or the work over CONVD_MAX_TENSOR_ELEMENTS, CONVD_MAX_OUTPUT_BYTES or CONVD_MAX_FLOPS.'),
  415: problemResponse('Content-Type is neither JSON nor msgpack.'),
  500: problemResponse('Unexpected server error; the log has the details.'),
  503: problemResponse('Work queue full, or the server is starting or shutting down; carries Retry-After.'),
  504: problemResponse('The computation passed its deadline (CONVD_DEADLINE_MS) and was cancelled.'),
};

const ENCODINGS_NOTE =
  'Request Content-Type application/json or application/msgpack (x-msgpack, vnd.msgpack); response by Accept: msgpack when absent or */*, ' +
  'else application/json or a msgpack type. Tensor data: msgpack bin (or msgpackr typed-array extension), JSON number array or base64 string; msgpack responses use bin.';

export const convRoutes: FastifyPluginAsyncZod<ConvRouteDeps> = async (app, deps) => {
  const { config, pool, metrics, lifecycle } = deps;
  app.decorateRequest('responseEncoding', null);

  app.addHook('onRequest', async (request) => {
    if (lifecycle.state !== 'ready') {
      throw new HttpProblem('not-ready', `the server is ${lifecycle.state}; retry later`, { headers: { 'retry-after': String(config.retryAfterSeconds) } });
    }
    request.responseEncoding = negotiateEncoding(request.headers.accept);
    if (!request.responseEncoding) {
      throw new HttpProblem('not-acceptable', `Accept ${JSON.stringify(request.headers.accept)} allows neither application/msgpack nor application/json`);
    }
  });

  async function run(call: ConvCall, dataAs: 'array' | 'base64', request: FastifyRequest, reply: FastifyReply) {
    const prepared = prepareConv(call, config);
    prepared.task.fault = faultFromHeaders(request.headers);
    const result = await dispatch(pool, prepared.task, clientGoneSignal(reply), config, prepared.slices);
    metrics.countComputed(call.op, prepared.flops, prepared.outputBytes);
    const encoded = encodeResult(resultTensors(prepared.task.geometry, result), request.responseEncoding!, dataAs);
    return reply.type(encoded.contentType).header('content-length', encoded.length).send(encoded.body);
  }

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
