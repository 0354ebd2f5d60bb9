/**
 * fast-check arbitraries for the wire fuzz: small conv requests (mostly valid, in every
 * encoding), byte-level and structural mutations of them, hostile values, and a hand-made
 * msgpack writer for what msgpackr will not write (duplicated keys, unaligned typed-array
 * extensions, deep nesting).
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { rng } from '../reference/data.js';
import { halfBytes, type Half } from '../reference/half.js';

export const packBin = new Packr({ useRecords: false });
export const packTyped = new Packr({ useRecords: false, moreTypes: true });
export const packClone = new Packr({ useRecords: false, structuredClone: true });

export type Form = 'json-array' | 'json-base64' | 'msgpack-bin' | 'msgpack-typed' | 'msgpack-array' | 'msgpack-base64';
export const FORMS: readonly Form[] = [
  'json-array',
  'json-base64',
  'msgpack-bin',
  'msgpack-typed',
  'msgpack-array',
  'msgpack-base64',
];

export interface Spec {
  op: 'forward' | 'backward';
  dtype: 'float32' | 'float64' | Half;
  layout: string | undefined;
  channelsLast: boolean;
  d: number;
  batch: number;
  groups: number;
  cinG: number;
  coutG: number;
  inSp: number[];
  k: number[];
  params: Record<string, unknown>;
  withBias: boolean;
  grads: string[] | undefined;
  seed: number;
  /** Share of data elements replaced by NaN / +-Infinity. */
  nonFinite: boolean;
}

/** Request parameters and shapes, in range of the limits used by the fuzz (kept small: the naive reference checks every answer). */
export const specArb: fc.Arbitrary<Spec> = fc
  .record({
    op: fc.constantFrom('forward', 'backward'),
    dtype: fc.constantFrom('float32', 'float64', 'float16', 'bfloat16'),
    d: fc.integer({ min: 1, max: 3 }),
    layoutKind: fc.constantFrom('default', 'channels_first', 'channels_last', 'alias-first', 'alias-last'),
    batch: fc.integer({ min: 0, max: 3 }), // 0: an empty batch
    groups: fc.integer({ min: 1, max: 3 }),
    cinG: fc.integer({ min: 1, max: 3 }),
    coutG: fc.integer({ min: 1, max: 3 }),
    dims: fc.array(
      fc.record({
        in: fc.integer({ min: 1, max: 7 }),
        k: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 3 }),
        dil: fc.integer({ min: 1, max: 2 }),
        before: fc.integer({ min: 0, max: 2 }),
        after: fc.integer({ min: 0, max: 2 }),
      }),
      { minLength: 3, maxLength: 3 },
    ),
    paddingForm: fc.constantFrom('none', 'int', 'perDim', 'pairs', 'valid', 'same'),
    paddingMode: fc.constantFrom(undefined, 'zeros', 'reflect', 'replicate', 'circular'),
    strideForm: fc.constantFrom('none', 'int', 'perDim'),
    withBias: fc.boolean(),
    grads: fc.option(fc.subarray(['input', 'weight', 'bias']), { nil: undefined }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    nonFinite: fc.boolean(),
  })
  .map((r): Spec => {
    const d = r.d;
    const dims = r.dims.slice(0, d);
    const aliases: Record<string, string[]> = { first: ['NCW', 'NCHW', 'NCDHW'], last: ['NWC', 'NHWC', 'NDHWC'] };
    const layout = {
      default: undefined,
      channels_first: 'channels_first',
      channels_last: 'channels_last',
      'alias-first': aliases.first[d - 1],
      'alias-last': aliases.last[d - 1],
    }[r.layoutKind];
    const params: Record<string, unknown> = {};
    if (layout) params.layout = layout;
    if (r.strideForm === 'int') params.stride = dims[0].stride;
    if (r.strideForm === 'perDim') params.stride = dims.map((x) => x.stride);
    if (dims.some((x) => x.dil > 1)) params.dilation = dims.map((x) => x.dil);
    if (r.paddingForm === 'int') params.padding = dims[0].before;
    if (r.paddingForm === 'perDim') params.padding = dims.map((x) => x.before);
    if (r.paddingForm === 'pairs') params.padding = dims.map((x) => [x.before, x.after]);
    if (r.paddingForm === 'valid' || r.paddingForm === 'same') params.padding = r.paddingForm;
    if (r.paddingMode) params.padding_mode = r.paddingMode;
    if (r.groups > 1) params.groups = r.groups;
    return {
      op: r.op,
      dtype: r.dtype,
      layout,
      channelsLast: layout === 'channels_last' || (layout !== undefined && aliases.last.includes(layout)),
      d,
      batch: r.batch,
      groups: r.groups,
      cinG: r.cinG,
      coutG: r.coutG,
      inSp: dims.map((x) => x.in),
      k: dims.map((x) => x.k),
      params,
      withBias: r.withBias,
      grads: r.grads,
      seed: r.seed,
      nonFinite: r.nonFinite && r.seed % 5 === 0,
    };
  });

/** The output extents of a spec (may be < 1: the request is then invalid, which the oracle knows). */
function outExtents(s: Spec): number[] {
  const stride = (i: number) =>
    Array.isArray(s.params.stride) ? (s.params.stride as number[])[i] : ((s.params.stride as number) ?? 1);
  const dil = (i: number) => (Array.isArray(s.params.dilation) ? (s.params.dilation as number[])[i] : 1);
  return s.inSp.map((inE, i) => {
    const p = s.params.padding;
    let before = 0;
    let after = 0;
    if (typeof p === 'number') before = after = p;
    else if (p === 'same') {
      const out = Math.ceil(inE / stride(i));
      const total = Math.max((out - 1) * stride(i) + dil(i) * (s.k[i] - 1) + 1 - inE, 0);
      before = Math.floor(total / 2);
      after = total - before;
    } else if (Array.isArray(p)) {
      const e = p[i] as number | number[];
      if (typeof e === 'number') before = after = e;
      else [before, after] = e;
    }
    return Math.floor((inE + before + after - dil(i) * (s.k[i] - 1) - 1) / stride(i)) + 1;
  });
}

export interface Tensor {
  dtype: Spec['dtype'];
  shape: number[];
  /** float16 and bfloat16: the values before rounding (the wire forms carry them rounded, or as numbers the server rounds). */
  values: Float32Array | Float64Array;
}

export interface RequestObject {
  tensors: Record<string, Tensor>;
  params: Record<string, unknown>;
}

function values(dtype: Spec['dtype'], n: number, rand: () => number, nonFinite: boolean): Float32Array | Float64Array {
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = Math.round((rand() * 2 - 1) * 1024) / 256; // exact in float64, float32 and float16; bfloat16 rounds most
    if (nonFinite && rand() < 0.1) a[i] = [NaN, Infinity, -Infinity][Math.floor(rand() * 3)];
  }
  return a;
}

/** The request a spec describes (its data from the spec's seed). */
export function requestOf(s: Spec): RequestObject {
  const rand = rng(s.seed);
  const cin = s.groups * s.cinG;
  const cout = s.groups * s.coutG;
  const inputShape = s.channelsLast ? [s.batch, ...s.inSp, cin] : [s.batch, cin, ...s.inSp];
  const weightShape = s.channelsLast ? [...s.k, s.cinG, cout] : [cout, s.cinG, ...s.k];
  const t = (shape: number[]): Tensor => ({
    dtype: s.dtype,
    shape,
    values: values(
      s.dtype,
      shape.reduce((a, b) => a * b, 1),
      rand,
      s.nonFinite,
    ),
  });
  const tensors: Record<string, Tensor> = { input: t(inputShape), weight: t(weightShape) };
  if (s.withBias) tensors.bias = t([cout]);
  const params = { ...s.params };
  if (s.op === 'backward') {
    const out = outExtents(s).map((e) => Math.max(e, 1));
    tensors.grad_output = t(s.channelsLast ? [s.batch, ...out, cout] : [s.batch, cout, ...out]);
    if (s.grads) params.grads = s.grads;
  }
  return { tensors, params };
}

const jsonNumber = (v: number) => (Number.isFinite(v) ? v : String(v));
/** The bytes of a tensor's data: its values in its dtype, little-endian. */
const bytesOf = (t: Tensor) =>
  t.dtype === 'float16' || t.dtype === 'bfloat16'
    ? halfBytes(t.dtype, t.values)
    : Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength);

/** The request as a plain value whose tensor data takes `form`. */
export function wireValue(r: RequestObject, form: Form): Record<string, unknown> {
  const data = (t: Tensor) => {
    switch (form) {
      case 'json-array':
      case 'msgpack-array':
        return Array.from(t.values, jsonNumber);
      case 'json-base64':
      case 'msgpack-base64':
        return bytesOf(t).toString('base64');
      case 'msgpack-bin':
        return bytesOf(t);
      case 'msgpack-typed':
        return t.values;
    }
  };
  const tensors = Object.fromEntries(
    Object.entries(r.tensors).map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: data(t) }]),
  );
  return { ...tensors, ...r.params };
}

export const isJsonForm = (form: Form) => form.startsWith('json');

/** Bytes of a wire value: JSON text or msgpack (typed arrays as msgpackr's extension only for msgpack-typed). */
export function encode(value: unknown, form: Form): Buffer {
  if (isJsonForm(form)) return Buffer.from(JSON.stringify(value));
  return Buffer.from(form === 'msgpack-typed' ? packTyped.pack(value) : packBin.pack(value));
}

export const contentTypeOf = (form: Form, variant = 0) =>
  isJsonForm(form)
    ? ['application/json', 'application/json; charset=utf-8'][variant % 2]
    : ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'][variant % 3];

export const acceptArb = fc.constantFrom(
  undefined,
  'application/json',
  'application/msgpack',
  '*/*',
  'application/x-msgpack',
  'application/json;q=0.5, application/msgpack',
  'text/html',
  'application/xml;q=1, application/json;q=0.1',
);

// ---------------------------------------------------------------------------------------------
// Hand-made msgpack

/** A msgpack map from entries (keys may repeat), each key and value packed by msgpackr. */
export function mapWithEntries(
  entries: [string, unknown][],
  pack: (v: unknown) => Uint8Array = (v) => packBin.pack(v),
): Buffer {
  const n = entries.length;
  const head = n < 16 ? Buffer.of(0x80 | n) : Buffer.of(0xde, n >> 8, n & 0xff);
  return Buffer.concat([head, ...entries.flatMap(([k, v]) => [Buffer.from(pack(k)), Buffer.from(pack(v))])]);
}

/** msgpackr's typed-array extension (ext 0x74) with any element-type code and payload length. */
export function typedExt(typeCode: number, payload: Uint8Array): Buffer {
  const len = payload.byteLength + 1;
  const head = len < 256 ? Buffer.of(0xc7, len, 0x74) : Buffer.of(0xc8, len >> 8, len & 0xff, 0x74);
  return Buffer.concat([head, Buffer.of(typeCode), payload]);
}

/** A tensor map {dtype, shape, data} whose data is raw pre-packed bytes. */
export function tensorWithRawData(dtype: string, shape: number[], rawData: Buffer): Buffer {
  return Buffer.concat([
    Buffer.of(0x83),
    Buffer.from(packBin.pack('dtype')),
    Buffer.from(packBin.pack(dtype)),
    Buffer.from(packBin.pack('shape')),
    Buffer.from(packBin.pack(shape)),
    Buffer.from(packBin.pack('data')),
    rawData,
  ]);
}

/** `depth` nested one-element arrays around `inner` (msgpack fixarray 0x91, or JSON brackets). */
export const deepMsgpack = (depth: number, inner = Buffer.of(0x01)) =>
  Buffer.concat([Buffer.alloc(depth, 0x91), inner]);
export const deepJson = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);

// ---------------------------------------------------------------------------------------------
// Mutations

/** Values that break schemas, index arithmetic or printers. */
export const hostileValueArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.anything({
      maxDepth: 3,
      withTypedArray: true,
      withBigInt: true,
      withMap: true,
      withSet: true,
      withDate: true,
      withNullPrototype: true,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.constantFrom<unknown>(
      NaN,
      Infinity,
      -Infinity,
      -0,
      0,
      -1,
      0.5,
      1.5,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32,
      2 ** 32 + 1,
      2 ** 53,
      2 ** 53 + 2,
      1e308,
      -1e308,
      Number.MIN_VALUE,
      '1',
      '',
      'NaN',
      'Infinity',
      'same',
      'valid',
      true,
      false,
      null,
      [],
      {},
      [[]],
      [0],
      [-1],
      [1, 2, 3, 4],
      [2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1],
      [2 ** 30, 2 ** 30, 2 ** 30],
      [[2 ** 31 - 1, 2 ** 31 - 1]],
      [[1, 2, 3]],
      ['NaN'],
      'x'.repeat(100_000),
      new Uint8Array(3),
      new Float32Array(3),
      new Float64Array(0),
      new Int32Array(4),
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2000 }).map((n) => new Array(n).fill(0)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 100, max: 20_000 }).map((depth) => JSON.parse(deepJson(Math.min(depth, 3000)))),
  },
);

/** Where a structural mutation may act. */
export const FIELD_PATHS = [
  [],
  ['input'],
  ['weight'],
  ['bias'],
  ['grad_output'],
  ['input', 'shape'],
  ['input', 'shape', 0],
  ['input', 'shape', 1],
  ['weight', 'shape', 2],
  ['input', 'data'],
  ['input', 'data', 0],
  ['weight', 'data'],
  ['input', 'dtype'],
  ['weight', 'dtype'],
  ['bias', 'shape'],
  ['grad_output', 'shape'],
  ['stride'],
  ['padding'],
  ['dilation'],
  ['groups'],
  ['padding_mode'],
  ['layout'],
  ['encoding'],
  ['grads'],
  ['__proto__'],
  ['constructor'],
  ['extra'],
] as const;

export type StructuralMutation =
  | { kind: 'set'; path: readonly (string | number)[]; value: unknown }
  | { kind: 'delete'; path: readonly (string | number)[] }
  | { kind: 'huge-shape'; tensor: string; factor: number };

export const structuralMutationArb: fc.Arbitrary<StructuralMutation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      path: fc.constantFrom(...FIELD_PATHS),
      value: hostileValueArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...FIELD_PATHS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('huge-shape' as const),
      tensor: fc.constantFrom('input', 'weight', 'bias', 'grad_output'),
      factor: fc.constantFrom(2 ** 10, 2 ** 20, 2 ** 30, 2 ** 31 - 1),
    }),
  },
);

/** Applies a structural mutation to a wire value (a deep copy where it writes). */
export function mutateStructure(value: Record<string, unknown>, m: StructuralMutation): unknown {
  const copy = structuredCloneLoose(value) as Record<string, unknown>;
  if (m.kind === 'huge-shape') {
    const t = copy[m.tensor] as { shape: number[] } | undefined;
    if (t) t.shape = t.shape.map((e, i) => (i === 0 ? e * m.factor : e));
    return copy;
  }
  if (m.path.length === 0) return m.kind === 'set' ? m.value : undefined;
  let parent: Record<string | number, unknown> = copy;
  for (const key of m.path.slice(0, -1)) {
    const next = parent[key];
    // only plain objects and arrays are edited (a typed array's elements cannot be deleted)
    if (
      !Array.isArray(next) &&
      !(next !== null && typeof next === 'object' && Object.getPrototypeOf(next) === Object.prototype)
    )
      return copy;
    parent = next as Record<string | number, unknown>;
  }
  const last = m.path[m.path.length - 1];
  if (m.kind === 'delete') delete parent[last];
  else Object.defineProperty(parent, last, { value: m.value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** A deep copy of plain objects and arrays, sharing everything else (typed arrays, Buffers). */
function structuredCloneLoose(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(structuredCloneLoose);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structuredCloneLoose(x)]));
  }
  return v;
}

export type ByteMutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'json-token'; at: number; token: string };

/** `at` is a fraction of the body length, so one mutation fits any body. */
export const byteMutationArb: fc.Arbitrary<ByteMutation[]> = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      value: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({
      kind: fc.constant('delete' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      length: fc.integer({ min: 1, max: 32 }),
    }),
    fc.record({
      kind: fc.constant('duplicate' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      length: fc.integer({ min: 1, max: 64 }),
    }),
    fc.record({
      kind: fc.constant('json-token' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      token: fc.constantFrom(
        'NaN',
        'Infinity',
        '-Infinity',
        '1e999',
        '-0',
        '0x10',
        '01',
        'null',
        '"__proto__":{}',
        '{',
        ']',
        ',',
        '"',
        '\\u0000',
        '\u00ff',
        '2147483648',
        '9007199254740993',
      ),
    }),
  ),
  { minLength: 1, maxLength: 4 },
);

export function mutateBytes(body: Buffer, mutations: ByteMutation[]): Buffer {
  let b = body;
  for (const m of mutations) {
    const at = Math.min(b.length, Math.floor(m.at * (b.length + 1)));
    switch (m.kind) {
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'flip':
        if (at < b.length) {
          b = Buffer.from(b);
          b[at] = m.value;
        }
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at)]);
        break;
      case 'json-token': {
        // replace the number-ish token at `at` (or insert) with the token
        let end = at;
        while (end < b.length && /[-+0-9.eE]/.test(String.fromCharCode(b[end]))) end++;
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.token), b.subarray(end)]);
        break;
      }
    }
  }
  return b;
}

/** Content types a client might send, good and bad. */
export const contentTypeArb = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/msgpack',
  'application/x-msgpack',
  'application/vnd.msgpack',
  'text/plain',
  'application/xml',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/jsonx',
  'application/msgpack+json',
  '',
  'application/json; charset=utf-16',
  ';;;',
  'application/',
);
