/**
 * How many bytes a request holds, estimated before it holds them (admission/admission.ts
 * reserves these in the memory budget).
 *
 * - Reading and parsing a body: msgpack holds the body once (bins are views into it); a JSON
 *   body is held as bytes, then as text, then as parsed numbers while it becomes typed arrays:
 *   JSON_PARSE_FACTOR times the body.
 * - Once the shapes are known: the body still referenced (msgpack), each tensor's decoded data
 *   (prod(shape) x itemsize, float16 and bfloat16 widened to float32), the outputs (from the
 *   geometry) and the encoded answer (msgpack answers are the output buffers themselves, or for
 *   float16 and bfloat16 their 2-byte conversion; a JSON number array takes up to
 *   JSON_ANSWER_BYTES_PER_ELEMENT per number while it is written; base64 4/3 of the bytes).
 * - Workspace: a convolution's weight sent in the other layout family (weight_layout) is
 *   permuted into a copy by each of the request's tasks, and grad_weight too when asked for
 *   (Work.workspaceBytes).
 * Kernel scratch is not per request: each kernel thread allocates its own (at most
 * CONVD_TILE_BUDGET_BYTES) once and reuses it, outside the budget.
 */
import type { WorkNeed } from '../limits.js';
import { isHalf } from '../shared/half.js';
import { itemSize } from '../shared/tensor.js';
import { MSGPACK_MEDIA_TYPES } from '../wire/msgpack.js';

export type BodyFormat = 'json' | 'msgpack' | 'other';

/** Bytes held per byte of a JSON body while it is read and parsed (bytes, text, parsed values). */
export const JSON_PARSE_FACTOR = 3;

/** Bytes per number of a JSON answer while it is written (up to 24 characters and a comma, and the number itself). */
export const JSON_ANSWER_BYTES_PER_ELEMENT = 32;

/** The body's wire format, from its Content-Type. */
export function bodyFormat(contentType: string | undefined): BodyFormat {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if ((MSGPACK_MEDIA_TYPES as readonly string[]).includes(type)) return 'msgpack';
  return 'other';
}

/** Bytes held while a body of `length` bytes is read and parsed. */
export function bodyBytes(length: number, format: BodyFormat): number {
  return format === 'json' ? length * JSON_PARSE_FACTOR : length;
}

/** Bytes of the encoded answer beyond the output buffers themselves. */
export function answerBytes(need: WorkNeed, format: 'msgpack' | 'json', dataAs: 'array' | 'base64'): number {
  const wireBytes = need.outputElements * itemSize(need.dtype);
  // float16 and bfloat16 results are converted from the float32 outputs into buffers of their own
  const converted = isHalf(need.dtype) ? wireBytes : 0;
  if (format === 'msgpack') return converted;
  if (dataAs === 'base64') return converted + Math.ceil(wireBytes / 3) * 4 + 1024;
  return converted + need.outputElements * JSON_ANSWER_BYTES_PER_ELEMENT + 1024;
}
