/**
 * Piscina worker for large JSON bodies and answers (src/wire/json-offload.ts), so that neither
 * parsing nor writing them holds the event loop.
 *
 * parse: the body's bytes (moved here) are decoded and parsed exactly as Fastify's default
 * JSON parser does (UTF-8, secure-json-parse refusing `__proto__` and `constructor.prototype`).
 * Then every request tensor (`input`, `weight`, `bias`, `grad_output`) whose dtype is one of
 * convd's and whose data is an array of numbers and "NaN" / "Infinity" / "-Infinity" only gets
 * its data as a typed array of the dtype it is computed in (float32 for float16 and bfloat16,
 * each value rounded to the dtype), holding exactly the values the event loop would have
 * decoded (moved back, not copied); everything else comes back as parsed.
 *
 * stringify: result tensors (their buffers moved here) -> the JSON answer's UTF-8 bytes, the
 * same text as the event loop writes (wire/response.ts), moved back.
 */
import sjson from 'secure-json-parse';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { isHalf, roundToHalf } from '../src/shared/half.js';
import { WIRE_DTYPES, wireView, type WireDType } from '../src/shared/tensor.js';
import { JSON_TENSOR_FIELDS, jsonText, type JsonParseResult, type JsonTask } from '../src/shared/json.js';

const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `values` as a typed array of the dtype computed in (float16 and bfloat16: float32 values,
 * each rounded to the dtype), or null when one of them is not a number or a non-finite name.
 */
function typed(values: unknown[], dtype: WireDType): Float32Array | Float64Array | null {
  const out = dtype === 'float64' ? new Float64Array(values.length) : new Float32Array(values.length);
  const half = isHalf(dtype) ? dtype : null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let value: number;
    if (typeof v === 'number') value = v;
    else if (typeof v === 'string' && Object.hasOwn(NON_FINITE, v)) value = NON_FINITE[v];
    else return null;
    out[i] = half ? roundToHalf(half, value) : value;
  }
  return out;
}

function withTransfers<T extends object>(value: T, buffers: ArrayBuffer[]) {
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return value;
    },
  });
}

/**
 * Values nested deeper than this are not sent back: structured cloning is recursive and a
 * message nested some thousands deep never arrives. No request is nested more than 4 deep.
 */
const MAX_CLONE_DEPTH = 1000;

/** Whether `value` nests deeper than `limit` (arrays and objects), found without recursion. */
function deeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

function parse(chunks: ArrayBuffer[]) {
  const joined = chunks.length === 1 ? Buffer.from(chunks[0]) : Buffer.concat(chunks.map((c) => Buffer.from(c)));
  const bytes = joined.buffer.byteLength === joined.byteLength ? joined.buffer : Uint8Array.from(joined).buffer;
  const text = joined.toString('utf8');
  if (text.length === 0) return { ok: false, reason: 'empty' } satisfies JsonParseResult;
  let value: unknown;
  try {
    value = sjson.parse(text, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    return { ok: false, reason: 'invalid' } satisfies JsonParseResult;
  }
  // the event loop parses it again itself (a garbage body: it fails validation there as it would have)
  if (deeperThan(value, MAX_CLONE_DEPTH))
    return withTransfers({ ok: false, reason: 'deep', bytes } satisfies JsonParseResult, [bytes]);
  const buffers: ArrayBuffer[] = [];
  const converted: string[] = [];
  if (isPlainObject(value)) {
    for (const field of JSON_TENSOR_FIELDS) {
      const t = value[field];
      if (!isPlainObject(t) || !Array.isArray(t.data) || !(WIRE_DTYPES as readonly unknown[]).includes(t.dtype))
        continue;
      const data = typed(t.data, t.dtype as WireDType);
      if (!data) continue;
      t.data = data;
      buffers.push(data.buffer as ArrayBuffer);
      converted.push(field);
    }
  }
  return withTransfers({ ok: true, value, converted } satisfies JsonParseResult, buffers);
}

function stringify(tensors: Extract<JsonTask, { op: 'stringify' }>['tensors']) {
  const text = jsonText(
    Object.fromEntries(
      Object.entries(tensors).map(([name, t]) => [
        name,
        { dtype: t.dtype, shape: t.shape, data: wireView(t.dtype, t.buffer) },
      ]),
    ),
    'array',
  );
  const bytes = new Uint8Array(new ArrayBuffer(Buffer.byteLength(text)));
  Buffer.from(bytes.buffer).write(text);
  return withTransfers(bytes, [bytes.buffer]);
}

export default function runJsonTask(task: JsonTask) {
  return task.op === 'parse' ? parse(task.chunks) : stringify(task.tensors);
}
