/**
 * Request body parsers: JSON (any charset parameter) and the three msgpack media types.
 * Anything else is answered 415 by Fastify (no parser), including text/plain, whose default
 * parser is removed. Both parsers read the body under Fastify's bodyLimit (413 past it), a
 * msgpack body of a compute request into reused memory (its lease, buffer-pool.ts).
 * A JSON body of at least CONVD_JSON_OFFLOAD_BYTES is parsed on a JSON thread
 * (json-offload.ts) with the same outcome, errors included, its bytes never joined or touched
 * on the event loop; smaller ones by Fastify's default JSON parser here.
 */
import type { Readable } from 'node:stream';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import { HttpProblem } from '../http/problem.js';
import type { JsonOffload } from './json-offload.js';
import { copyBytes } from './bytes.js';
import { MSGPACK_MEDIA_TYPES, unpackr } from './msgpack.js';

type Done = (err: Error | null, body?: unknown) => void;

/** `chunks`, one after the other, copied into `target` (which holds them exactly). */
function joinInto(target: Buffer, chunks: readonly Buffer[]): Buffer {
  let offset = 0;
  for (const chunk of chunks) offset += copyBytes(chunk, target, offset);
  return target;
}

export function registerBodyParsers(app: FastifyInstance, offload?: JsonOffload): void {
  const json = app.getDefaultJsonParser('error', 'error');
  const {
    FST_ERR_CTP_BODY_TOO_LARGE,
    FST_ERR_CTP_EMPTY_JSON_BODY,
    FST_ERR_CTP_INVALID_CONTENT_LENGTH,
    FST_ERR_CTP_INVALID_JSON_BODY,
  } = errorCodes;
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  app.removeAllContentTypeParsers();

  const parseJson = (request: FastifyRequest, chunks: Buffer[], length: number, parsed: Done) => {
    request.stages?.mark('receive');
    const done: Done = (err, body) => {
      request.stages?.mark('decode');
      parsed(err, body);
    };
    // decoded at once, as Fastify's parseAs 'string' does
    if (!offload?.offloadsBody(length)) {
      void json(request, (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)).toString('utf8'), done);
      return;
    }
    void offload.parse(chunks).then(
      (result) => {
        if (result.ok) done(null, result.value);
        else if (result.reason === 'deep') void json(request, Buffer.from(result.bytes).toString('utf8'), done);
        else
          done(
            result.reason === 'empty' ? new FST_ERR_CTP_EMPTY_JSON_BODY() : new FST_ERR_CTP_INVALID_JSON_BODY(),
            undefined,
          );
      },
      (err: Error) => done(err, undefined),
    );
  };

  /**
   * Fastify's own body reading (parseAs 'buffer', lib/content-type-parser.js rawBody: the same
   * limits, errors and Content-Length check), except that the chunks are not joined here: they
   * go to `onBody` as they arrived, with their length, once the body is whole.
   */
  const readBody = (
    request: FastifyRequest,
    payload: Readable,
    done: Done,
    onBody: (chunks: Buffer[], length: number) => void,
  ) => {
    const stream = payload as Readable & { receivedEncodedLength?: number };
    const contentLength = Number(request.headers['content-length']);
    if (contentLength > bodyLimit) {
      done(new FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
      return;
    }
    let received = 0;
    const chunks: Buffer[] = [];
    const stop = () => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onFinish);
      stream.removeListener('error', onFinish);
    };
    function onData(chunk: Buffer | string) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += bytes.length;
      if (received > bodyLimit || (stream.receivedEncodedLength ?? 0) > bodyLimit) {
        stop();
        done(new FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
        return;
      }
      chunks.push(bytes);
    }
    function onFinish(err?: Error & { statusCode?: number }) {
      stop();
      if (err != null) {
        if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
        done(err, undefined);
        return;
      }
      if (!Number.isNaN(contentLength) && (stream.receivedEncodedLength || received) !== contentLength) {
        done(new FST_ERR_CTP_INVALID_CONTENT_LENGTH(), undefined);
        return;
      }
      onBody(chunks, received);
    }
    stream.on('data', onData);
    stream.on('end', onFinish);
    stream.on('error', onFinish);
    stream.resume();
  };

  // A large JSON body goes to a JSON thread as the chunks it arrived in.
  app.addContentTypeParser('application/json', (request, payload, done: Done) => {
    readBody(request, payload, done, (chunks, length) => parseJson(request, chunks, length, done));
  });

  // A compute request's msgpack body is joined into a buffer of its lease (buffer-pool.ts: memory
  // reused from request to request, not faulted in afresh), which its decoded bins view: the
  // worker threads read an aligned bin there in place (tensor-data.ts). (Joined once whole, as
  // Fastify does: copying each chunk as it arrived measured slower.)
  app.addContentTypeParser([...MSGPACK_MEDIA_TYPES], (request, payload, done: Done) => {
    const lease = request.buffers;
    readBody(request, payload, done, (chunks, length) => {
      const body =
        lease && length > 0 ? joinInto(Buffer.from(lease.take(length)), chunks) : Buffer.concat(chunks, length);
      request.stages?.mark('receive');
      try {
        const value: unknown = unpackr.unpack(body);
        request.stages?.mark('decode');
        done(null, value);
      } catch (err) {
        done(new HttpProblem('malformed-body', `body is not valid msgpack: ${(err as Error).message}`), undefined);
      }
    });
  });
}
