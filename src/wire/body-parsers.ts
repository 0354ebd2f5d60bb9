/**
 * Request body parsers: JSON (any charset parameter) and the three msgpack media types.
 * Anything else is answered 415 by Fastify (no parser), including text/plain, whose default
 * parser is removed. Both parsers buffer the body under Fastify's bodyLimit (413 past it).
 * A JSON body of at least CONVD_JSON_OFFLOAD_BYTES is parsed on a JSON thread
 * (json-offload.ts) with the same outcome, errors included; smaller ones by Fastify's default
 * JSON parser here.
 */
import { errorCodes, type FastifyInstance } from 'fastify';
import { HttpProblem } from '../http/problem.js';
import type { JsonOffload } from './json-offload.js';
import { MSGPACK_MEDIA_TYPES, unpackr } from './msgpack.js';

export function registerBodyParsers(app: FastifyInstance, offload?: JsonOffload): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    const body = raw as Buffer;
    // decoded at once, as Fastify's parseAs 'string' does
    if (!offload?.offloadsBody(body.length)) return json(request, body.toString('utf8'), done);
    offload.parse(body).then(
      (result) => {
        if (result.ok) done(null, result.value);
        else if (result.reason === 'deep') json(request, Buffer.from(result.bytes).toString('utf8'), done);
        else done(result.reason === 'empty' ? new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY() : new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), undefined);
      },
      (err: Error) => done(err, undefined),
    );
  });
  app.addContentTypeParser([...MSGPACK_MEDIA_TYPES], { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, unpackr.unpack(body as Buffer));
    } catch (err) {
      done(new HttpProblem('malformed-body', `body is not valid msgpack: ${(err as Error).message}`), undefined);
    }
  });
}
