/**
 * Every error answer is application/problem+json: the service's own HttpProblems, Fastify's
 * errors (body too large, unsupported media type, bad JSON), unknown paths (404), known paths
 * asked with a method they do not serve (405 with Allow) and anything unexpected (500, details
 * only in the log: no stack traces to clients).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from './problem.js';
import type { RouteTable } from './routes.js';

export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type('application/problem+json')
    .send(JSON.stringify(problem));
}

function fromFastifyError(err: FastifyError, request: FastifyRequest): HttpProblem {
  switch (err.statusCode) {
    case 413: {
      const sent = request.headers['content-length'];
      const limit = request.routeOptions.bodyLimit;
      return new HttpProblem(
        'body-too-large',
        `the request body${sent ? ` of ${sent} bytes` : ''} exceeds the limit of ${limit} bytes (CONVD_MAX_BODY_BYTES)`,
      );
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
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
    return fromFastifyError(err, request);
  return new HttpProblem(
    'internal',
    `internal error while handling request ${request.id}; the server log has the details`,
  );
}

/**
 * 405 with Allow when the path is served but not with this method, else 404: no route at all,
 * or a route that found nothing to serve (a static file of /docs that does not exist).
 */
function noRoute(app: FastifyInstance, routes: RouteTable, request: FastifyRequest): HttpProblem {
  const path = request.url.split('?')[0];
  const allowed = routes.allowedMethods(app, request.url);
  if (allowed.length === 0) return new HttpProblem('not-found', `there is no route ${request.method} ${request.url}`);
  if (allowed.includes(request.method))
    return new HttpProblem('not-found', `${request.method} ${request.url}: not found`);
  const list = allowed.join(', ');
  return new HttpProblem('method-not-allowed', `${path} does not accept ${request.method}; it accepts ${list}`, {
    headers: { allow: list },
  });
}

/** `routes`: the route table (trackRoutes), to tell a wrong method (405) from an unknown path (404). */
export function registerErrorHandling(app: FastifyInstance, routes: RouteTable): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const problem = toProblem(err, request);
    // a 503 is the service protecting itself (queue, memory budget, draining): no stack trace
    if (problem.status === 503)
      request.log.warn({ problem: problem.kind, detail: problem.message }, 'request refused: retry later');
    else if (problem.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ problem: problem.kind, detail: problem.message }, 'request refused');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, noRoute(app, routes, request)));
}
