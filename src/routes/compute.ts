/**
 * What every compute route (conv, pooling, conv_transpose) shares: the OpenAPI notes on
 * encodings and errors, the scope hook that refuses while not ready (503) and negotiates the
 * response encoding (406), and running a prepared task on the pool and encoding its result.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Admission } from '../admission/admission.js';
import type { Config } from '../config.js';
import type { ConvResult, TaskOp } from '../conv-task.js';
import { clientGoneSignal, dispatch, type Work } from '../dispatch.js';
import { HttpProblem } from '../http/problem.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import type { ConvPool } from '../pool.js';
import { problemResponse } from '../schemas/problem.js';
import { negotiateEncoding, type ResponseEncoding } from '../wire/accept.js';
import { MSGPACK_MEDIA_TYPES } from '../wire/msgpack.js';
import type { JsonOffload } from '../wire/json-offload.js';
import type { ResultTensor } from '../wire/response.js';
import { faultFromHeaders } from '../../workers/faults.js';

declare module 'fastify' {
  interface FastifyRequest {
    responseEncoding: ResponseEncoding | null;
  }
}

export interface ComputeRouteDeps {
  config: Config;
  pool: ConvPool;
  metrics: Metrics;
  lifecycle: Lifecycle;
  admission: Admission;
  json: JsonOffload;
}

export const CONSUMES = ['application/json', ...MSGPACK_MEDIA_TYPES];

export const ERROR_RESPONSES = {
  400: problemResponse('Malformed body, schema violation, tensor data not matching shape and dtype, or inconsistent shapes; errors[] names each field.'),
  406: problemResponse('Accept allows neither msgpack nor JSON.'),
  413: problemResponse(
    'Body over CONVD_MAX_BODY_BYTES (JSON: CONVD_MAX_JSON_BODY_BYTES), a tensor, the outputs or the work over CONVD_MAX_TENSOR_ELEMENTS, CONVD_MAX_OUTPUT_BYTES or CONVD_MAX_FLOPS, ' +
      'or more memory than the whole CONVD_MEMORY_BUDGET_BYTES.',
  ),
  415: problemResponse('Content-Type is neither JSON nor msgpack.'),
  500: problemResponse('Unexpected server error; the log has the details.'),
  503: problemResponse('Work queue full, memory budget spent, or the server is starting or shutting down; carries Retry-After.'),
  504: problemResponse('The computation passed its deadline (CONVD_DEADLINE_MS) and was cancelled.'),
};

export const ENCODINGS_NOTE =
  'Request Content-Type application/json or application/msgpack (x-msgpack, vnd.msgpack); response by Accept: msgpack when absent or */*, ' +
  'else application/json or a msgpack type. Tensor data: msgpack bin (or msgpackr typed-array extension), JSON number array or base64 string; msgpack responses use bin.';

/** Registers, in the calling plugin's scope, the readiness check and the response encoding negotiation. */
export function computeScope(app: FastifyInstance, { config, lifecycle }: Pick<ComputeRouteDeps, 'config' | 'lifecycle'>): void {
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
}

/** A validated, limit-checked request: its work (task, FLOPs, maybe batch slices) and how to read its result. */
export interface PreparedCompute extends Work {
  outputBytes: number;
  results(result: ConvResult): Record<string, ResultTensor>;
}

/** Runs a prepared (validated, limit-checked) task on the pool, counts its work and sends its result. */
export async function sendComputed(
  deps: ComputeRouteDeps,
  op: TaskOp,
  prepared: PreparedCompute,
  dataAs: 'array' | 'base64',
  request: FastifyRequest,
  reply: FastifyReply,
) {
  prepared.task.fault = faultFromHeaders(request.headers);
  const result = await dispatch(deps.pool, prepared, clientGoneSignal(reply), deps.config);
  deps.metrics.countComputed(op, prepared.flops, prepared.outputBytes);
  const encoded = await deps.json.encode(prepared.results(result), request.responseEncoding!, dataAs);
  return reply.type(encoded.contentType).header('content-length', encoded.length).send(encoded.body);
}
