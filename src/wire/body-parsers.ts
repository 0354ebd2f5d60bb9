/**
 * Request body parsers: JSON (any charset parameter) and the three msgpack media types.
 * Anything else is answered 415 by Fastify (no parser), including text/plain, whose default
 * parser is removed. Both parsers buffer the body under Fastify's bodyLimit (413 past it).
 */
import type { FastifyInstance } from 'fastify';
import { HttpProblem } from '../http/problem.js';
import { MSGPACK_MEDIA_TYPES, unpackr } from './msgpack.js';

export function registerBodyParsers(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, json);
  app.addContentTypeParser([...MSGPACK_MEDIA_TYPES], { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, unpackr.unpack(body as Buffer));
    } catch (err) {
      done(new HttpProblem('malformed-body', `body is not valid msgpack: ${(err as Error).message}`), undefined);
    }
  });
}
