/**
 * convd client for TypeScript: openapi-fetch over the types that openapi-typescript generates
 * from openapi/openapi.json (src/schema.d.ts; `npm run clients:generate` in the convd
 * repository rewrites it and `npm run clients:check` fails when it is stale).
 *
 *   const convd = createConvdClient('http://127.0.0.1:8080');            // msgpack by default
 *   const { output } = await convd.convForward({ input: tensor([1, 1, 3, 3], x), weight: tensor([1, 1, 2, 2], w), padding: 'same' });
 *   output.data                                                          // a Float32Array
 *
 * One method per compute endpoint: convForward, convBackward, convTranspose,
 * convTransposeBackward, poolForward, poolBackward, adaptivePoolForward, adaptivePoolBackward,
 * unfold, fold. Tensors go in and come out as Float32Array / Float64Array with a shape; a
 * float16 or bfloat16 tensor holds its values in a Float32Array, rounded to the dtype when sent
 * (half.ts), and comes back as a Float32Array of the dtype's values. Two wires:
 * - msgpack (default): tensor data travels as bin (the raw little-endian bytes). openapi-fetch
 *   serialises JSON only, so the request goes through a `bodySerializer` (msgpackr) and the
 *   answer is read with `parseAs: 'arrayBuffer'` and unpacked here.
 * - json: tensor data as base64 of the same bytes, both ways (`"encoding": "base64"`): exact,
 *   NaN and infinities included, and about half the size of decimal number arrays.
 * Every other field (stride, padding, dilation, groups, padding_mode, layout, grads, mode,
 * kernel_size, ...) is typed by the generated schema. A non-2xx answer throws ConvdError with
 * the problem+json body.
 */
import createClient, { type Client } from 'openapi-fetch';
import { Packr, Unpackr } from 'msgpackr';
import { fromHalf, isHalf, toHalf } from './half.js';
import type { components, paths } from './schema.js';

export type { components, paths } from './schema.js';
export { roundToHalf, type HalfDType } from './half.js';

type Schemas = components['schemas'];
export type DType = Schemas['DType'];
/** The RFC 9457 problem document of every error answer. */
export type Problem = Schemas['Problem'];
export type FieldError = Schemas['FieldError'];
export type Wire = 'msgpack' | 'json';

/**
 * A tensor as the caller holds it: row-major (C order) data and its extents. float16 and
 * bfloat16 tensors hold float32 values (rounded to the dtype on the wire; answers hold the
 * dtype's values exactly).
 */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * A tensor of `data`'s element type (float64 for a Float64Array, float32 for a Float32Array),
 * or of `dtype`: 'float16' or 'bfloat16' take a Float32Array, sent rounded to the dtype.
 */
export function tensor(shape: readonly number[], data: Float32Array | Float64Array, dtype?: DType): Tensor {
  const own = data instanceof Float64Array ? 'float64' : 'float32';
  if (dtype !== undefined && dtype !== own && !(isHalf(dtype) && data instanceof Float32Array))
    throw new TypeError(
      `a ${dtype} tensor needs a ${isHalf(dtype) ? 'Float32Array' : `${dtype} array`}, not a ${data.constructor.name}`,
    );
  return { dtype: dtype ?? own, shape: [...shape], data };
}

/** A request's fields as the schema types them, with Tensor operands in place of the wire tensors. */
type WithTensors<Request, Required extends string, Optional extends string = never> = Omit<
  Request,
  Required | Optional | 'encoding'
> & {
  [K in Required]: Tensor;
} & { [K in Optional]?: Tensor };

/** conv forward: input, weight, optional bias; stride, padding, dilation, groups, padding_mode, layout. */
export type ConvForwardArgs = WithTensors<Schemas['ConvForwardRequest'], 'input' | 'weight', 'bias'>;
/** conv backward: the forward's fields plus grad_output; `grads` picks the gradients (all three by default). */
export type ConvBackwardArgs = WithTensors<Schemas['ConvBackwardRequest'], 'input' | 'weight' | 'grad_output', 'bias'>;
/** conv_transpose: input, weight ([C_in, C_out/groups, *k]), optional bias; stride, padding, output_padding, dilation, groups, layout. */
export type ConvTransposeArgs = WithTensors<Schemas['ConvTransposeRequest'], 'input' | 'weight', 'bias'>;
/** conv_transpose backward: the transposed convolution's fields plus grad_output; `grads` picks the gradients (all three by default). */
export type ConvTransposeBackwardArgs = WithTensors<
  Schemas['ConvTransposeBackwardRequest'],
  'input' | 'weight' | 'grad_output',
  'bias'
>;
/** unfold (im2col): input (the image), kernel_size; stride, padding, dilation, layout. */
export type UnfoldArgs = WithTensors<Schemas['UnfoldRequest'], 'input'>;
/** fold (col2im): input (the columns [N, C * prod(k), L]), output_size, kernel_size; stride, padding, dilation, layout. */
export type FoldArgs = WithTensors<Schemas['FoldRequest'], 'input'>;
/**
 * pooling forward: input, mode ('max' | 'avg' | 'lp'), kernel_size; stride, padding, dilation, ceil_mode,
 * count_include_pad, divisor_override, p, return_indices, storage_order, layout.
 */
export type PoolForwardArgs = WithTensors<Schemas['PoolForwardRequest'], 'input'>;
/** pooling backward: the forward's fields plus grad_output. */
export type PoolBackwardArgs = WithTensors<Schemas['PoolBackwardRequest'], 'input' | 'grad_output'>;
/** adaptive pooling forward: input, mode, output_size (1: global pooling); p, return_indices, storage_order, layout. */
export type AdaptivePoolForwardArgs = WithTensors<Schemas['AdaptivePoolForwardRequest'], 'input'>;
/** adaptive pooling backward: the forward's fields plus grad_output. */
export type AdaptivePoolBackwardArgs = WithTensors<Schemas['AdaptivePoolBackwardRequest'], 'input' | 'grad_output'>;

export interface OutputResult {
  output: Tensor;
}
/** Exactly the gradients the request named in `grads`. */
export interface ConvBackwardResult {
  grad_input?: Tensor;
  grad_weight?: Tensor;
  grad_bias?: Tensor;
}
/**
 * With return_indices, also each maximum's flat spatial index within its channel, in the request dtype:
 * row-major (PyTorch's), or column-major with storage_order 1 (ONNX's).
 */
export interface PoolForwardResult extends OutputResult {
  indices?: Tensor;
}
export interface PoolBackwardResult {
  grad_input: Tensor;
}

/** A non-2xx answer: `status`, the RFC 9457 problem (or the raw text when the body is not JSON) and the headers. */
export class ConvdError extends Error {
  override name = 'ConvdError';
  constructor(
    readonly status: number,
    readonly problem: Problem | string | undefined,
    readonly headers: Headers = new Headers(),
  ) {
    super(
      `convd answered ${status}: ${typeof problem === 'object' && problem !== null ? (problem.detail ?? problem.title) : (problem ?? '')}`,
    );
  }

  private field<K extends keyof Problem>(key: K): Problem[K] | undefined {
    return typeof this.problem === 'object' && this.problem !== null ? this.problem[key] : undefined;
  }
  /** A URI naming the kind of problem, e.g. urn:convd:problem:invalid-geometry. */
  get type(): string | undefined {
    return this.field('type');
  }
  get title(): string | undefined {
    return this.field('title');
  }
  get detail(): string | undefined {
    return this.field('detail');
  }
  /** Every problem found with the request, by field path (e.g. "weight.shape[1]"); empty when the answer lists none. */
  get errors(): FieldError[] {
    return this.field('errors') ?? [];
  }
}

export interface ConvdClientOptions {
  /** The default wire of every call; each call can override it. */
  wire?: Wire;
  /** A fetch to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request (e.g. x-request-id, authorisation added by a proxy). */
  headers?: Record<string, string>;
}

export interface CallOptions {
  /** This call's wire (default: the client's). */
  wire?: Wire;
  /** Aborts the request; convd cancels the computation when the client goes away. */
  signal?: AbortSignal;
  /** Headers for this call only. */
  headers?: Record<string, string>;
}

export interface ConvdClient {
  /** The typed openapi-fetch client, for any route of the document (e.g. GET /healthz). */
  api: Client<paths>;
  /** POST /conv/forward: output = conv(input, weight) + bias (PyTorch conv1d/2d/3d). */
  convForward(args: ConvForwardArgs, options?: CallOptions): Promise<OutputResult>;
  /** POST /conv/backward: the gradients named in `grads`, given grad_output. */
  convBackward(args: ConvBackwardArgs, options?: CallOptions): Promise<ConvBackwardResult>;
  /** POST /conv/transpose: output = conv_transpose(input, weight) + bias (PyTorch conv_transpose1d/2d/3d). */
  convTranspose(args: ConvTransposeArgs, options?: CallOptions): Promise<OutputResult>;
  /** POST /conv/transpose/backward: the gradients of conv_transpose named in `grads`, given grad_output. */
  convTransposeBackward(args: ConvTransposeBackwardArgs, options?: CallOptions): Promise<ConvBackwardResult>;
  /** POST /pool/forward: max, average or lp pooling (PyTorch max_pool / avg_pool / lp_pool, ONNX MaxPool / AveragePool / LpPool). */
  poolForward(args: PoolForwardArgs, options?: CallOptions): Promise<PoolForwardResult>;
  /** POST /pool/backward: the gradient w.r.t. input, given grad_output. */
  poolBackward(args: PoolBackwardArgs, options?: CallOptions): Promise<PoolBackwardResult>;
  /** POST /pool/adaptive/forward: adaptive or (output_size 1) global max, average or lp pooling (PyTorch adaptive_*_pool). */
  adaptivePoolForward(args: AdaptivePoolForwardArgs, options?: CallOptions): Promise<PoolForwardResult>;
  /** POST /pool/adaptive/backward: the gradient w.r.t. input, given grad_output. */
  adaptivePoolBackward(args: AdaptivePoolBackwardArgs, options?: CallOptions): Promise<PoolBackwardResult>;
  /** POST /unfold: every kernel window of the image as a column, [N, C * prod(k), L] (PyTorch F.unfold); its backward is fold. */
  unfold(args: UnfoldArgs, options?: CallOptions): Promise<OutputResult>;
  /** POST /fold: columns added back into an image of output_size (PyTorch F.fold); its backward is unfold. */
  fold(args: FoldArgs, options?: CallOptions): Promise<OutputResult>;
}

type ComputePath =
  | '/conv/forward'
  | '/conv/backward'
  | '/conv/transpose'
  | '/conv/transpose/backward'
  | '/pool/forward'
  | '/pool/backward'
  | '/pool/adaptive/forward'
  | '/pool/adaptive/backward'
  | '/unfold'
  | '/fold';
const TENSOR_FIELDS = ['input', 'weight', 'bias', 'grad_output'] as const;

// useRecords: false keeps plain msgpack maps (any msgpack library reads them)
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

/** The little-endian bytes of a tensor's data in its dtype. */
function bytesOf(t: Tensor): Uint8Array {
  const elements = isHalf(t.dtype) ? toHalf(t.dtype, t.data) : t.data;
  return new Uint8Array(elements.buffer, elements.byteOffset, elements.byteLength);
}

// base64 with btoa / atob, which Node (>= 16) and browsers both have
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The element array of `bytes` (copied: a bin may sit at any offset of the answer); float16 and bfloat16 widened to float32. */
function typedArray(dtype: DType, bytes: Uint8Array): Float32Array | Float64Array {
  const copy = Uint8Array.from(bytes).buffer;
  if (isHalf(dtype)) return fromHalf(dtype, new Uint16Array(copy));
  return dtype === 'float64' ? new Float64Array(copy) : new Float32Array(copy);
}

type WireTensor = { dtype: DType; shape: number[]; data: unknown };

function fromWire(name: string, t: WireTensor): Tensor {
  let data: Float32Array | Float64Array;
  if (t.data instanceof Uint8Array) data = typedArray(t.dtype, t.data);
  else if (typeof t.data === 'string') data = typedArray(t.dtype, fromBase64(t.data));
  else if (Array.isArray(t.data)) {
    const values = t.data.map(Number); // "NaN", "Infinity", "-Infinity" included
    data = t.dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
  } else throw new TypeError(`convd answered ${name}.data of type ${typeof t.data}`);
  return { dtype: t.dtype, shape: t.shape, data };
}

function results<K extends string>(body: Record<string, unknown>, keys: readonly K[]): Partial<Record<K, Tensor>> {
  const out: Partial<Record<K, Tensor>> = {};
  for (const key of keys) if (body[key] !== undefined) out[key] = fromWire(key, body[key] as WireTensor);
  return out;
}

function required<K extends string>(path: string, found: Partial<Record<K, Tensor>>, key: K): Tensor {
  const t = found[key];
  if (!t) throw new TypeError(`convd answered ${path} without ${key}`);
  return t;
}

/**
 * A client of the convd at `baseUrl` (e.g. http://127.0.0.1:8080). Every call speaks msgpack
 * unless `options.wire` (or the call's own `wire`) is 'json'.
 */
export function createConvdClient(baseUrl: string, options: ConvdClientOptions = {}): ConvdClient {
  const api = createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    fetch: options.fetch,
    headers: options.headers,
  });
  const defaultWire = options.wire ?? 'msgpack';

  async function post(path: ComputePath, args: object, call: CallOptions = {}): Promise<Record<string, unknown>> {
    const wire = call.wire ?? defaultWire;
    if (wire !== 'msgpack' && wire !== 'json')
      throw new TypeError(`wire must be 'msgpack' or 'json', not ${JSON.stringify(wire)}`);
    const body: Record<string, unknown> = { ...args };
    for (const key of TENSOR_FIELDS) {
      const t = body[key] as Tensor | undefined;
      if (t === undefined) continue;
      const bytes = bytesOf(t);
      body[key] = { dtype: t.dtype, shape: t.shape, data: wire === 'msgpack' ? bytes : toBase64(bytes) };
    }
    // The generated request types give tensor data its JSON forms (number arrays, base64 strings);
    // on the msgpack wire it is a bin (Uint8Array), so the body is handed over untyped.
    type AnyBody = never;
    const init = { signal: call.signal };
    if (wire === 'json') {
      body.encoding = 'base64';
      const { data, error, response } = await api.POST(path, {
        ...init,
        body: body as AnyBody,
        headers: { ...call.headers, 'content-type': 'application/json', accept: 'application/json' },
      });
      if (!response.ok || data === undefined) throw new ConvdError(response.status, error, response.headers);
      return data;
    }
    const { data, error, response } = await api.POST(path, {
      ...init,
      body: body as AnyBody,
      // a copy: packr.pack returns a view into a buffer it reuses
      bodySerializer: (b: unknown) => Uint8Array.from(packr.pack(b)) as unknown as string,
      headers: { ...call.headers, 'content-type': 'application/msgpack', accept: 'application/msgpack' },
      parseAs: 'arrayBuffer',
    });
    if (!response.ok || data === undefined) throw new ConvdError(response.status, error, response.headers);
    return unpackr.unpack(new Uint8Array(data)) as Record<string, unknown>;
  }

  const output = async (path: ComputePath, args: object, call?: CallOptions): Promise<OutputResult> => ({
    output: required(path, results(await post(path, args, call), ['output'] as const), 'output'),
  });

  const gradients = async (path: ComputePath, args: object, call?: CallOptions): Promise<ConvBackwardResult> =>
    results(await post(path, args, call), ['grad_input', 'grad_weight', 'grad_bias'] as const);
  /** A pooling's answer: output, and indices when asked for. */
  const pooled = async (path: ComputePath, args: object, call?: CallOptions): Promise<PoolForwardResult> => {
    const found = results(await post(path, args, call), ['output', 'indices'] as const);
    return { ...found, output: required(path, found, 'output') };
  };
  const gradInput = async (path: ComputePath, args: object, call?: CallOptions): Promise<PoolBackwardResult> => ({
    grad_input: required(path, results(await post(path, args, call), ['grad_input'] as const), 'grad_input'),
  });

  return {
    api,
    convForward: (args, call) => output('/conv/forward', args, call),
    convBackward: (args, call) => gradients('/conv/backward', args, call),
    convTranspose: (args, call) => output('/conv/transpose', args, call),
    convTransposeBackward: (args, call) => gradients('/conv/transpose/backward', args, call),
    poolForward: (args, call) => pooled('/pool/forward', args, call),
    poolBackward: (args, call) => gradInput('/pool/backward', args, call),
    adaptivePoolForward: (args, call) => pooled('/pool/adaptive/forward', args, call),
    adaptivePoolBackward: (args, call) => gradInput('/pool/adaptive/backward', args, call),
    unfold: (args, call) => output('/unfold', args, call),
    fold: (args, call) => output('/fold', args, call),
  };
}
