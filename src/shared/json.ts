/**
 * What the event loop and the JSON threads (workers/json-worker.ts, src/wire/json-offload.ts)
 * share: the tasks they exchange, a parse's outcome, and the JSON answer's text, written the
 * same way on either side.
 */
import { halfValues, isHalf } from './half.js';
import type { WireArray, WireDType } from './tensor.js';

/** The request fields whose data a parse turns into typed arrays. */
export const JSON_TENSOR_FIELDS = ['input', 'weight', 'bias', 'grad_output'] as const;

export type JsonTask =
  | { op: 'parse'; chunks: ArrayBuffer[] }
  | { op: 'stringify'; tensors: Record<string, { dtype: WireDType; shape: number[]; buffer: ArrayBuffer }> };

/** A parse's outcome; `deep`: nested too deeply to send back, the body's bytes returned for the event loop to parse. */
export type JsonParseResult =
  | { ok: true; value: unknown; converted: string[] }
  | { ok: false; reason: 'empty' | 'invalid' }
  | { ok: false; reason: 'deep'; bytes: ArrayBuffer };

/** A result tensor as a JSON answer writes it. */
export interface JsonResultTensor {
  dtype: WireDType;
  shape: number[];
  data: WireArray;
}

/** The bytes of `a`, viewed (not copied). */
const bytesOf = (a: WireArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The numbers of a result tensor (a 2-byte dtype's bits read as its values). */
const numbersOf = (t: JsonResultTensor) =>
  isHalf(t.dtype) && t.data instanceof Uint16Array ? halfValues(t.dtype, t.data) : t.data;

const jsonNumber = (v: number): number | string => (Number.isFinite(v) ? v : String(v));

/** The JSON answer's text (written on the event loop by wire/response.ts, by the JSON threads for large answers). */
export function jsonText(tensors: Record<string, JsonResultTensor>, dataAs: 'array' | 'base64'): string {
  const encode = (t: JsonResultTensor) => ({
    dtype: t.dtype,
    shape: t.shape,
    data: dataAs === 'base64' ? bytesOf(t.data).toString('base64') : Array.from(numbersOf(t), jsonNumber),
  });
  return JSON.stringify(Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, encode(t)])));
}
