/**
 * Errors as RFC 9457 problem details. Every error the service answers is an HttpProblem of
 * one of the kinds below; the error handler (errors.ts) turns anything else into one.
 */
import type { FieldError } from '../shared/geometry/common.js';
import type { Problem } from '../schemas/problem.js';

const KINDS = {
  'malformed-body': { status: 400, title: 'Malformed request body' },
  'malformed-request': { status: 400, title: 'Malformed HTTP request' },
  'schema-violation': { status: 400, title: 'Request does not match the schema' },
  'invalid-geometry': { status: 400, title: 'Inconsistent shapes or parameters' },
  'invalid-tensor-data': { status: 400, title: 'Tensor data does not match its shape and dtype' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'not-acceptable': { status: 406, title: 'Not acceptable' },
  'request-timeout': { status: 408, title: 'Request timeout' },
  'body-too-large': { status: 413, title: 'Request body too large' },
  'limit-exceeded': { status: 413, title: 'Request exceeds a configured limit' },
  'memory-budget-exceeded': { status: 413, title: 'Request needs more memory than the whole budget' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'headers-too-large': { status: 431, title: 'Request header fields too large' },
  // nginx's convention: logged and counted, never received (the client is gone)
  'client-closed-request': { status: 499, title: 'Client closed request' },
  internal: { status: 500, title: 'Internal server error' },
  overloaded: { status: 503, title: 'Work queue full' },
  'memory-budget-full': { status: 503, title: 'Memory budget for requests in flight is spent' },
  'not-ready': { status: 503, title: 'Not ready' },
  'deadline-exceeded': { status: 504, title: 'Deadline exceeded' },
} as const;

export type ProblemKind = keyof typeof KINDS;

/** The `type` URI of a problem kind. */
const problemType = (kind: ProblemKind): string => `urn:convd:problem:${kind}`;

export class HttpProblem extends Error {
  override name = 'HttpProblem';
  readonly kind: ProblemKind;
  readonly status: number;
  readonly errors?: FieldError[];
  readonly headers: Record<string, string>;

  constructor(
    kind: ProblemKind,
    detail: string,
    options: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.kind = kind;
    this.status = KINDS[kind].status;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }

  toJSON(): Problem {
    return {
      type: problemType(this.kind),
      title: KINDS[this.kind].title,
      status: this.status,
      detail: this.message,
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

/** Field errors listed in one problem at most (a garbage array could otherwise list millions). */
const MAX_LISTED_ERRORS = 20;

/** A 400 listing field errors, its detail the first of them, by field (and how many more there are). */
export function fieldProblem(
  kind: 'schema-violation' | 'invalid-geometry' | 'invalid-tensor-data',
  errors: FieldError[],
): HttpProblem {
  const [{ path, message }] = errors;
  const first = message.includes(path) ? message : `${path}: ${message}`;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : '';
  return new HttpProblem(kind, `${first}${more}`, { errors: errors.slice(0, MAX_LISTED_ERRORS) });
}
