/**
 * The examples of the OpenAPI document (src/openapi.ts puts them on each operation's request
 * body and responses): per operation, named request examples, each with the JSON answer the
 * service gives it, and per error status the problem documents the operation can answer.
 * test/service/openapi.test.ts sends every one of these requests (and provokes every problem)
 * against the real service and checks that the answer is exactly the documented one.
 */
import { halfBitsOf, isHalf, roundToHalf } from '../shared/half.js';
import type { WireDType } from '../shared/tensor.js';
import type { Problem } from './problem.js';

/** An OpenAPI Example Object. */
export interface Example<T> {
  summary: string;
  description?: string;
  value: T;
}

export type Examples<T> = Record<string, Example<T>>;

/** A result tensor as a JSON response holds it. */
export interface JsonTensorExample {
  dtype: WireDType;
  shape: number[];
  data: (number | 'NaN' | 'Infinity' | '-Infinity')[] | string;
}

/** A request example and the JSON answer to it. */
export interface RequestExample {
  summary: string;
  description?: string;
  request: Record<string, unknown>;
  response: Record<string, JsonTensorExample>;
}

export interface OperationExamples {
  /** By name; the first is what /docs prefills in "Try it out". */
  requests: Record<string, RequestExample>;
  /** This operation's own problem examples, by status (merged with SHARED_PROBLEMS). */
  problems: Partial<Record<400 | 413, Examples<Problem>>>;
}

/** The error statuses every compute operation documents, in order. */
export const ERROR_STATUSES = [400, 406, 408, 413, 415, 500, 503, 504] as const;
export type ErrorStatus = (typeof ERROR_STATUSES)[number];

const problem = (kind: string, title: string, status: number, detail: string, errors?: Problem['errors']): Problem => ({
  type: `urn:convd:problem:${kind}`,
  title,
  status,
  detail,
  ...(errors ? { errors } : {}),
});

/** A 400 or 413 whose errors[] has one entry, its message the detail. */
export const fieldProblem = (kind: string, title: string, status: 400 | 413, path: string, message: string): Problem =>
  problem(kind, title, status, message, [{ path, message }]);

export const schemaViolation = (path: string, message: string) =>
  fieldProblem('schema-violation', 'Request does not match the schema', 400, path, message);
export const invalidGeometry = (path: string, message: string) =>
  fieldProblem('invalid-geometry', 'Inconsistent shapes or parameters', 400, path, message);
export const invalidTensorData = (path: string, message: string) =>
  fieldProblem('invalid-tensor-data', 'Tensor data does not match its shape and dtype', 400, path, message);
export const limitExceeded = (path: string, message: string) =>
  fieldProblem('limit-exceeded', 'Request exceeds a configured limit', 413, path, message);

/** The 400 invalid-tensor-data example: `example` (a float32 request example) with one value of `field` too few for its shape. */
export function shortDataExample(example: string, field: string, shape: number[]): Example<Problem> {
  const needed = shape.reduce((a, b) => a * b, 1);
  const dims = `[${shape.join(', ')}]`;
  return {
    summary: 'Data not matching the shape',
    description: `The ${example} with ${needed - 1} ${field} values for its shape ${dims}.`,
    value: invalidTensorData(
      `${field}.data`,
      `${field}.data has ${needed - 1} values but shape ${dims} of float32 needs ${needed}`,
    ),
  };
}

/** The problems every compute operation answers alike (a server with the default settings). */
export const SHARED_PROBLEMS: Record<ErrorStatus, Examples<Problem>> = {
  400: {
    'malformed-json': {
      summary: 'Malformed JSON body',
      description: 'The body is sent as application/json but is not valid JSON.',
      value: problem(
        'malformed-body',
        'Malformed request body',
        400,
        "the request body cannot be parsed: Body is not valid JSON but content-type is set to 'application/json'",
      ),
    },
    'json-sent-as-msgpack': {
      summary: 'JSON text sent as msgpack',
      description: 'The body is labelled application/msgpack but holds JSON text (123 is the byte of its opening "{").',
      value: problem(
        'malformed-body',
        'Malformed request body',
        400,
        'body is not valid msgpack: Data read, but end of buffer not reached 123',
      ),
    },
    'malformed-request': {
      summary: 'Unparseable HTTP request',
      description:
        'The HTTP request itself cannot be parsed, here a non-numeric Content-Length. The connection is closed afterwards.',
      value: problem(
        'malformed-request',
        'Malformed HTTP request',
        400,
        'the HTTP request cannot be parsed (HPE_INVALID_CONTENT_LENGTH)',
      ),
    },
  },
  406: {
    'not-acceptable': {
      summary: 'Accept allows neither msgpack nor JSON',
      description: 'The answer to Accept: text/html. Errors are application/problem+json whatever the Accept.',
      value: problem(
        'not-acceptable',
        'Not acceptable',
        406,
        'Accept "text/html" allows neither application/msgpack nor application/json',
      ),
    },
  },
  408: {
    'request-timeout': {
      summary: 'Request not received in time',
      description:
        'The headers and body did not all arrive within CONVD_REQUEST_TIMEOUT_MS (60 s by default). The connection is closed afterwards.',
      value: problem('request-timeout', 'Request timeout', 408, 'the request was not received in time'),
    },
  },
  413: {
    'body-too-large': {
      summary: 'Body over CONVD_MAX_BODY_BYTES',
      description:
        'A body of 100000000 bytes, over the default limit of 64 MiB. Refused from its Content-Length, before it is read.',
      value: problem(
        'body-too-large',
        'Request body too large',
        413,
        'the request body of 100000000 bytes exceeds the limit of 67108864 bytes (CONVD_MAX_BODY_BYTES)',
      ),
    },
  },
  415: {
    'unsupported-media-type': {
      summary: 'Content-Type neither JSON nor msgpack',
      description: 'The answer to Content-Type: text/plain.',
      value: problem(
        'unsupported-media-type',
        'Unsupported media type',
        415,
        'Content-Type "text/plain" is not supported; send application/json or application/msgpack (also application/x-msgpack, application/vnd.msgpack)',
      ),
    },
  },
  500: {
    internal: {
      summary: 'Unexpected server error',
      description:
        'Nothing about the failure reaches the client but the request id (also sent as x-request-id); the server log has the details.',
      value: problem(
        'internal',
        'Internal server error',
        500,
        'internal error while handling request 6f1c2a9e-3b4d-4e8f-9a70-5c1d2e3f4a5b; the server log has the details',
      ),
    },
  },
  503: {
    overloaded: {
      summary: 'Work queue full',
      description:
        'Every thread of the lane the request would run on is busy and CONVD_MAX_QUEUE (16 by default) requests are waiting. Small requests such as the examples run on the small-task lane (CONVD_SMALL_LANE_THREADS, 1 by default), the others on the main lane (CONVD_POOL_THREADS). Carries Retry-After.',
      value: problem(
        'overloaded',
        'Work queue full',
        503,
        'the work queue is full: all 1 threads of the small-task lane are busy and 16 requests are already waiting; retry later',
      ),
    },
    'not-ready': {
      summary: 'Starting or shutting down',
      description:
        'The server is draining after SIGTERM (or still starting: "the server is starting"). Carries Retry-After.',
      value: problem('not-ready', 'Not ready', 503, 'the server is draining; retry later'),
    },
  },
  504: {
    'deadline-exceeded': {
      summary: 'Computation past its deadline',
      description:
        'The computation did not finish within CONVD_DEADLINE_MS (60 s by default); its worker thread was stopped.',
      value: problem(
        'deadline-exceeded',
        'Deadline exceeded',
        504,
        'the computation did not finish within the 60000 ms deadline (CONVD_DEADLINE_MS) and was cancelled',
      ),
    },
  },
};

/** The tensor data of a JSON example as the little-endian bytes a msgpack bin holds, base64-encoded. */
export function binBase64(t: JsonTensorExample): string {
  if (typeof t.data === 'string') return t.data;
  const values = t.data.map(Number);
  const { dtype } = t;
  const typed = isHalf(dtype)
    ? halfBitsOf(
        dtype,
        Float32Array.from(values, (v) => roundToHalf(dtype, v)),
      )
    : dtype === 'float32'
      ? Float32Array.from(values)
      : Float64Array.from(values);
  return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString('base64');
}
