/**
 * convd client for TypeScript: openapi-fetch over the types that openapi-typescript generates
 * from openapi/openapi.json (src/schema.d.ts; `npm run clients:generate` rewrites it and
 * `npm run clients:check` fails when it is stale).
 *
 *   const convd = createConvdClient('http://127.0.0.1:8080');            // msgpack by default
 *   const { output } = await convd.forward({ input: tensor([1, 1, 3, 3], x), weight: tensor([1, 1, 2, 2], w), padding: 'same' });
 *   output.data                                                          // a Float32Array
 *
 * Tensors go in and come out as Float32Array / Float64Array with a shape. Two wires:
 * - msgpack (default): tensor data travels as bin (the raw little-endian bytes). openapi-fetch
 *   serialises JSON only, so the request goes through a `bodySerializer` (msgpackr) and the
 *   answer is read with `parseAs: 'arrayBuffer'` and unpacked here.
 * - json: tensor data as base64 of the same bytes, both ways (`"encoding": "base64"`): exact,
 *   NaN and infinities included, and about half the size of decimal number arrays.
 * Every other field (stride, padding, dilation, groups, padding_mode, layout, grads) is typed
 * by the generated schema. Errors throw ConvdError with the problem+json body.
 */
import createClient, { type Client } from 'openapi-fetch';
import { Packr, Unpackr } from 'msgpackr';
import type { components, paths } from './schema.js';

type Schemas = components['schemas'];
export type DType = Schemas['DTypeInput'];
export type Problem = Schemas['Problem'];
export type ForwardRequest = Schemas['ConvForwardRequestInput'];
export type BackwardRequest = Schemas['ConvBackwardRequestInput'];
export type Wire = 'msgpack' | 'json';

/** A tensor as the caller holds it: row-major data and its extents. */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Float64Array;
}

/** A tensor of `data`'s element type. */
export function tensor(shape: number[], data: Float32Array | Float64Array): Tensor {
  return { dtype: data instanceof Float64Array ? 'float64' : 'float32', shape, data };
}

type TensorFields = 'input' | 'weight' | 'bias' | 'grad_output' | 'encoding';
/** The forward's parameters (stride, padding, ...) as the schema types them, with Tensor operands. */
export type ForwardArgs = Omit<ForwardRequest, TensorFields> & { input: Tensor; weight: Tensor; bias?: Tensor };
/** The backward's parameters, with Tensor operands; `grads` picks the gradients (all three by default). */
export type BackwardArgs = Omit<BackwardRequest, TensorFields> & { input: Tensor; weight: Tensor; bias?: Tensor; grad_output: Tensor };
export interface ForwardResult {
  output: Tensor;
}
export interface BackwardResult {
  grad_input?: Tensor;
  grad_weight?: Tensor;
  grad_bias?: Tensor;
}

/** A non-2xx answer: `status` and the RFC 9457 problem (or the raw text when it is not JSON). */
export class ConvdError extends Error {
  override name = 'ConvdError';
  constructor(
    readonly status: number,
    readonly problem: Problem | string | undefined,
  ) {
    super(`convd answered ${status}: ${typeof problem === 'object' ? (problem.detail ?? problem.title) : (problem ?? '')}`);
  }
}

export interface ConvdClientOptions {
  /** The default wire of forward() and backward(); each call can override it. */
  wire?: Wire;
  /** A fetch to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request (e.g. x-request-id, authorisation added by a proxy). */
  headers?: Record<string, string>;
}

export interface ConvdClient {
  /** The typed openapi-fetch client, for any route of the document. */
  api: Client<paths>;
  forward(args: ForwardArgs, wire?: Wire): Promise<ForwardResult>;
  backward(args: BackwardArgs, wire?: Wire): Promise<BackwardResult>;
}

// useRecords: false keeps plain msgpack maps (any msgpack library reads them)
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

const bytesOf = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The element array of `bytes` (copied: a bin or a decoded string may sit at any offset). */
function typedArray(dtype: DType, bytes: Uint8Array): Float32Array | Float64Array {
  const copy = Uint8Array.from(bytes).buffer;
  return dtype === 'float64' ? new Float64Array(copy) : new Float32Array(copy);
}

type WireTensor = { dtype: DType; shape: number[]; data: unknown };

function fromWire(t: WireTensor): Tensor {
  let data: Float32Array | Float64Array;
  if (t.data instanceof Uint8Array) data = typedArray(t.dtype, t.data);
  else if (typeof t.data === 'string') data = typedArray(t.dtype, Buffer.from(t.data, 'base64'));
  else if (Array.isArray(t.data)) {
    const values = t.data.map(Number); // "NaN", "Infinity", "-Infinity" included
    data = t.dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
  }
  else throw new TypeError(`unexpected tensor data ${typeof t.data}`);
  return { dtype: t.dtype, shape: t.shape, data };
}

function results<K extends string>(body: Record<string, unknown>, keys: readonly K[]): Partial<Record<K, Tensor>> {
  const out: Partial<Record<K, Tensor>> = {};
  for (const key of keys) if (body[key] !== undefined) out[key] = fromWire(body[key] as WireTensor);
  return out;
}

export function createConvdClient(baseUrl: string, options: ConvdClientOptions = {}): ConvdClient {
  const api = createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, ''), fetch: options.fetch, headers: options.headers });
  const defaultWire = options.wire ?? 'msgpack';

  async function post(path: '/conv/forward' | '/conv/backward', args: ForwardArgs | BackwardArgs, wire: Wire): Promise<Record<string, unknown>> {
    const wireArgs: Record<string, unknown> = { ...args };
    for (const key of ['input', 'weight', 'bias', 'grad_output'] as const) {
      const t = (args as Partial<Record<typeof key, Tensor>>)[key];
      if (t === undefined) continue;
      const bytes = bytesOf(t.data);
      wireArgs[key] = { dtype: t.dtype, shape: t.shape, data: wire === 'msgpack' ? bytes : Buffer.from(bytes).toString('base64') };
    }
    if (wire === 'json') {
      wireArgs.encoding = 'base64';
      // the JSON body is exactly the generated request type: base64 strings are one of its data forms
      const { data, error, response } = await api.POST(path, {
        body: wireArgs as ForwardRequest & BackwardRequest,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
      });
      if (!response.ok || data === undefined) throw new ConvdError(response.status, error as Problem | string | undefined);
      return data as Record<string, unknown>;
    }
    // msgpack: the schema types data as JSON forms; on this wire it is a bin (Uint8Array)
    const { data, error, response } = await api.POST(path, {
      body: wireArgs as unknown as ForwardRequest & BackwardRequest,
      bodySerializer: (body: unknown) => Uint8Array.from(packr.pack(body)) as unknown as string,
      headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
      parseAs: 'arrayBuffer',
    });
    if (!response.ok || data === undefined) throw new ConvdError(response.status, error as Problem | string | undefined);
    return unpackr.unpack(new Uint8Array(data)) as Record<string, unknown>;
  }

  return {
    api,
    async forward(args, wire = defaultWire) {
      const { output } = results(await post('/conv/forward', args, wire), ['output'] as const);
      if (!output) throw new ConvdError(200, 'the answer has no output');
      return { output };
    },
    async backward(args, wire = defaultWire) {
      return results(await post('/conv/backward', args, wire), ['grad_input', 'grad_weight', 'grad_bias'] as const);
    },
  };
}
