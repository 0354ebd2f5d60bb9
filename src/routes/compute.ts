/**
 * The compute routes, one POST per operation of the registry (src/ops/): the OpenAPI notes on
 * encodings and errors they share, the scope hook that refuses while not ready (503) and
 * negotiates the response encoding (406), then validation (zod, then the operation's geometry
 * and limits), running the prepared task on the pool and encoding its result.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Admission } from '../admission/admission.js';
import type { BufferPool, Lease } from '../buffer-pool.js';
import type { Config } from '../config.js';
import { clientGoneSignal, dispatch } from '../dispatch.js';
import { HttpProblem } from '../http/problem.js';
import { RequestStages } from '../http/request-stages.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import { OPS } from '../ops/index.js';
import type { Operation } from '../ops/spec.js';
import type { WorkerPool } from '../worker-pool.js';
import { problemResponse } from '../schemas/problem.js';
import { negotiateEncoding, type ResponseEncoding } from '../wire/accept.js';
import { MSGPACK_MEDIA_TYPES } from '../wire/msgpack.js';
import type { JsonOffload } from '../wire/json-offload.js';
import { ChunkStream } from '../wire/response.js';
import { faultFromHeaders } from '../shared/faults.js';

declare module 'fastify' {
  interface FastifyRequest {
    responseEncoding: ResponseEncoding | null;
    /** The memory a compute request reuses (its body, tensors and results), given back when its response closes. */
    buffers: Lease | null;
  }
}

export interface ComputeRouteDeps {
  config: Config;
  pool: WorkerPool;
  metrics: Metrics;
  lifecycle: Lifecycle;
  admission: Admission;
  json: JsonOffload;
  buffers: BufferPool;
}

export const CONSUMES = ['application/json', ...MSGPACK_MEDIA_TYPES];

export const ERROR_RESPONSES = {
  400: problemResponse(
    'Malformed body (not JSON, or not msgpack), unparseable HTTP request, schema violation, tensor data not matching its shape and dtype, or inconsistent shapes; errors[] names each field.',
  ),
  406: problemResponse('Accept allows neither msgpack nor JSON.'),
  408: problemResponse(
    'The request was not received within CONVD_REQUEST_TIMEOUT_MS (a stalled upload); the connection is closed.',
  ),
  413: problemResponse(
    'Body over CONVD_MAX_BODY_BYTES (JSON: CONVD_MAX_JSON_BODY_BYTES), a tensor, the outputs or the work over CONVD_MAX_TENSOR_ELEMENTS, CONVD_MAX_OUTPUT_BYTES or CONVD_MAX_FLOPS, ' +
      'or more memory than the whole CONVD_MEMORY_BUDGET_BYTES.',
  ),
  415: problemResponse('Content-Type is neither JSON nor msgpack.'),
  500: problemResponse('Unexpected server error; the log has the details.'),
  503: problemResponse(
    'Work queue full, memory budget spent, or the server is starting or shutting down; carries Retry-After.',
  ),
  504: problemResponse('The computation passed its deadline (CONVD_DEADLINE_MS) and was cancelled.'),
};

export const ENCODINGS_NOTE =
  '\n\n**Encodings.** Request body: Content-Type application/json, or msgpack as application/msgpack, application/x-msgpack or application/vnd.msgpack; ' +
  'any other Content-Type answers 415. Response: chosen by Accept. No Accept (or an empty one), `*/*` and `application/*` get msgpack (application/msgpack), ' +
  'the default for API clients; `application/json` gets JSON; a msgpack type gets msgpack labelled with that type. q-values are honoured (q=0 excludes), ' +
  'between equal q-values the earlier entry wins; an Accept allowing none of these answers 406. Errors are application/problem+json whatever the Accept. ' +
  'Tensor data: a msgpack bin (or msgpackr typed-array extension), a JSON number array or a base64 string; msgpack responses use bin.' +
  '\n\n**On this page.** "Try it out" asks for application/json unless another media type is chosen under Responses; a msgpack answer is shown ' +
  'decoded by the page, each bin as the base64 of its bytes. With a msgpack request type, the JSON typed in the editor is encoded to msgpack by the ' +
  'page before it is sent (numbers as msgpack ints or float64; bins cannot be typed here, base64 strings can); text that is not valid JSON is sent ' +
  'unchanged and answers 400 (malformed-body).';

/**
 * Registers, in the calling plugin's scope, the readiness check, the response encoding
 * negotiation, and each request's stage clock and lease of reused memory.
 */
function computeScope(
  app: FastifyInstance,
  { config, lifecycle, buffers }: Pick<ComputeRouteDeps, 'config' | 'lifecycle' | 'buffers'>,
): void {
  app.decorateRequest('responseEncoding', null);
  app.decorateRequest('stages', null);
  app.decorateRequest('buffers', null);
  app.addHook('onRequest', async (request, reply) => {
    request.stages = new RequestStages();
    const lease = buffers.lease();
    request.buffers = lease;
    // the answer's bytes are its result buffers: they are reused only once it is written (or abandoned)
    reply.raw.once('close', () => lease.release());
    if (lifecycle.state !== 'ready') {
      throw new HttpProblem('not-ready', `the server is ${lifecycle.state}; retry later`, {
        headers: { 'retry-after': String(config.retryAfterSeconds) },
      });
    }
    request.responseEncoding = negotiateEncoding(request.headers.accept);
    if (!request.responseEncoding) {
      throw new HttpProblem(
        'not-acceptable',
        `Accept ${JSON.stringify(request.headers.accept)} allows neither application/msgpack nor application/json`,
      );
    }
  });
}

/** Validates `request` for `op`, runs its task on the pool, counts its work and sends its result. */
async function compute(deps: ComputeRouteDeps, op: Operation, request: FastifyRequest, reply: FastifyReply) {
  const { stages, buffers } = request;
  const prepared = op.prepare(request.body, {
    limits: deps.admission.limitsFor(request, deps.config),
    idleThreads: () => deps.pool.idleThreads(),
    stages,
    buffers,
  });
  prepared.task.fault = faultFromHeaders(request.headers);
  const result = await dispatch(deps.pool, prepared, clientGoneSignal(reply), deps.config, { stages, buffers });
  deps.metrics.countComputed(op.metricLabel, prepared.flops, prepared.outputBytes);
  const encoded = await deps.json.encode(prepared.results(result), request.responseEncoding!, prepared.encoding);
  if (stages) {
    stages.mark('encode');
    reply.header('server-timing', stages.serverTiming());
    reply.raw.once('finish', () => {
      stages.mark('write');
      deps.metrics.observeStages(op.metricLabel, stages.durations);
    });
  }
  // the answer's head and chunks leave in one writev (response.ts)
  if (encoded.body instanceof ChunkStream) encoded.body.corking(reply.raw);
  return reply.type(encoded.contentType).header('content-length', encoded.length).send(encoded.body);
}

export const computeRoutes: FastifyPluginAsyncZod<ComputeRouteDeps> = (app, deps) => {
  computeScope(app, deps);
  for (const op of OPS) {
    const { path, tags, summary, description } = op.route;
    app.post(
      path,
      {
        schema: {
          tags,
          summary,
          description: `${description}${ENCODINGS_NOTE}`,
          consumes: CONSUMES,
          body: op.request,
          response: { 200: op.response, ...ERROR_RESPONSES },
        },
      },
      (request, reply) => compute(deps, op, request, reply),
    );
  }
  return Promise.resolve();
};
