/**
 * Every error answer is application/problem+json: the service's own HttpProblems, Fastify's
 * errors (body too large, unsupported media type, bad JSON, unknown route) and anything
 * unexpected (500, details only in the log: no stack traces to clients).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from './problem.js';

export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  return reply.code(problem.status).headers(problem.headers).type('application/problem+json').send(JSON.stringify(problem));
}

function fromFastifyError(err: FastifyError, request: FastifyRequest): HttpProblem {
  switch (err.statusCode) {
    case 413: {
      const sent = request.headers['content-length'];
      const limit = request.routeOptions.bodyLimit;
      return new HttpProblem('body-too-large', `the request body${sent ? ` of ${sent} bytes` : ''} exceeds the limit of ${limit} bytes (CONVD_MAX_BODY_BYTES)`);
    }
    case 415:
      return new HttpProblem(
        'unsupported-media-type',
        `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} is not supported; send application/json or application/msgpack (also application/x-msgpack, application/vnd.msgpack)`,
      );
    default:
      return new HttpProblem('malformed-body', `the request body cannot be parsed: ${err.message}`);
  }
}

function toProblem(err: FastifyError, request: FastifyRequest): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return fromFastifyError(err, request);
  return new HttpProblem('internal', `internal error while handling request ${request.id}; the server log has the details`);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const problem = toProblem(err, request);
    // a 503 is the service protecting itself (queue, memory budget, draining): no stack trace
    if (problem.status === 503) request.log.warn({ problem: problem.kind, detail: problem.message }, 'request refused: retry later');
    else if (problem.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ problem: problem.kind, detail: problem.message }, 'request refused');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, new HttpProblem('not-found', `there is no route ${request.method} ${request.url}`)));
}
