/**
 * Shared by the fuzz and reliability tests: a raw HTTP client with a timeout (a hang is a
 * failure, not a stuck test), the problem+json checker, and an oracle that decides, from a
 * request body alone and independently of src/, whether a conv request is valid and what its
 * answer must be (the naive float64 reference of test/reference/).
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Unpackr } from 'msgpackr';
import {
  refGeometry,
  referenceBackward,
  referenceForward,
  prod,
  type RefGeom,
  type RefResult,
} from '../reference/naive-conv.js';
import { halfValuesOf, nearestHalf, type Half } from '../reference/half.js';
import { checkClose, type Dt } from '../reference/tolerance.js';

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 });

export interface SendOptions {
  port: number;
  path: string;
  method?: string;
  headers?: Record<string, string | number>;
  body?: Uint8Array | string;
  /** A request still unanswered after this long fails as a hang. */
  timeoutMs?: number;
  agent?: Agent | false;
}

/** One request over loopback; rejects on a socket error or when no answer came within timeoutMs. */
export function send(o: SendOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path,
        method: o.method ?? 'POST',
        headers: o.headers,
        agent: o.agent ?? keepAlive,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy(
        new Error(`no answer within ${o.timeoutMs ?? 15_000} ms (a hang) for ${o.method ?? 'POST'} ${o.path}`),
      );
    }, o.timeoutMs ?? 15_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(o.body);
  });
}

// ---------------------------------------------------------------------------------------------
// problem+json

/** Why `a` is not a well-formed RFC 9457 problem of its own status, or null when it is. */
export function problemDefect(a: Answer): string | null {
  const type = String(a.headers['content-type'] ?? '');
  if (!type.startsWith('application/problem+json'))
    return `content-type ${JSON.stringify(type)} is not application/problem+json`;
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(a.body.toString('utf8'));
  } catch {
    return `body is not JSON: ${a.body.subarray(0, 80).toString()}`;
  }
  if (typeof p !== 'object' || p === null) return 'body is not an object';
  if (typeof p.type !== 'string' || !p.type.startsWith('urn:convd:problem:')) return `type ${JSON.stringify(p.type)}`;
  if (typeof p.title !== 'string' || p.title === '') return 'no title';
  if (p.status !== a.status) return `status field ${JSON.stringify(p.status)} but HTTP ${a.status}`;
  if (typeof p.detail !== 'string' || p.detail === '') return 'no detail';
  if (/\n\s+at /.test(p.detail)) return 'detail carries a stack trace';
  if (p.errors !== undefined) {
    if (!Array.isArray(p.errors) || p.errors.length === 0 || p.errors.length > 20)
      return 'errors is not a non-empty list of at most 20';
    for (const e of p.errors)
      if (typeof e?.path !== 'string' || typeof e?.message !== 'string') return `bad errors entry ${JSON.stringify(e)}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The oracle

export interface Limits {
  maxBodyBytes: number;
  maxTensorElements: number;
  maxOutputBytes: number;
  maxFlops: number;
}

export type Expectation =
  | { kind: 'invalid'; why: string }
  /** The oracle cannot tell (e.g. a body Fastify's secure JSON parser may refuse): any 4xx, or a 200 that must still be correct. */
  | { kind: 'unknown'; why: string }
  | { kind: 'valid'; json: boolean; outputs: Record<string, ExpectedTensor> };

export interface ExpectedTensor {
  dtype: Dt;
  shape: number[];
  ref: RefResult;
}

const MSGPACK_TYPES = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'];
export const oracleUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const MAX_PARAM = 2 ** 31 - 1;
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };
const DTYPES: readonly Dt[] = ['float32', 'float64', 'float16', 'bfloat16'];
const isHalf = (dtype: Dt): dtype is Half => dtype === 'float16' || dtype === 'bfloat16';
/** Bytes an element on the wire. */
const wireSize = (dtype: Dt) => (isHalf(dtype) ? 2 : dtype === 'float32' ? 4 : 8);

class Invalid extends Error {}
const invalid = (why: string): never => {
  throw new Invalid(why);
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  !ArrayBuffer.isView(v) &&
  Object.getPrototypeOf(v) === Object.prototype;
const isInt = (v: unknown, min: number) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= MAX_PARAM;

/** The response encoding `accept` asks for: 'json', 'msgpack', or null (406). Mirrors the contract. */
export function acceptFormat(accept: string | undefined): 'json' | 'msgpack' | null {
  if (accept === undefined || accept.trim() === '') return 'msgpack';
  let best: 'json' | 'msgpack' | null = null;
  let bestQ = 0;
  for (const entry of accept.split(',')) {
    const [range, ...params] = entry.split(';').map((s) => s.trim().toLowerCase());
    const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? 1);
    const f =
      range === '*/*' || range === 'application/*' || MSGPACK_TYPES.includes(range)
        ? 'msgpack'
        : range === 'application/json'
          ? 'json'
          : null;
    if (f && q > bestQ) {
      best = f;
      bestQ = q;
    }
  }
  return best;
}

interface Tensor {
  dtype: Dt;
  shape: number[];
  data: unknown;
}

function checkTensor(name: string, v: unknown, minRank: number, maxRank: number): Tensor {
  if (!isObject(v)) invalid(`${name} is not an object`);
  const t = v as Record<string, unknown>;
  for (const key of Object.keys(t))
    if (!['dtype', 'shape', 'data'].includes(key)) invalid(`${name}.${key} is not a field`);
  if (!(DTYPES as unknown[]).includes(t.dtype)) invalid(`${name}.dtype`);
  if (
    !Array.isArray(t.shape) ||
    t.shape.length < minRank ||
    t.shape.length > maxRank ||
    // the batch (the first extent of input and grad_output) may be 0: an empty answer
    !t.shape.every((e, i) => isInt(e, i === 0 && (name === 'input' || name === 'grad_output') ? 0 : 1))
  )
    invalid(`${name}.shape`);
  const d = t.data;
  const ok =
    (Array.isArray(d) && d.every((x) => typeof x === 'number' || (typeof x === 'string' && x in NON_FINITE))) ||
    (typeof d === 'string' && /^[0-9a-zA-Z+/]*={0,2}$/.test(d) && d.length % 4 === 0) ||
    d instanceof Uint8Array ||
    d instanceof Float32Array ||
    d instanceof Float64Array;
  if (!ok) invalid(`${name}.data`);
  return t as unknown as Tensor;
}

/** The tensor's values (float16 and bfloat16: each number rounded to the dtype), or an Invalid when the data does not fit shape and dtype. */
function tensorValues(name: string, t: Tensor): Float32Array | Float64Array {
  const n = prod(t.shape);
  const size = wireSize(t.dtype);
  const make = (bytes: Uint8Array) => {
    if (bytes.byteLength !== n * size) invalid(`${name}.data has ${bytes.byteLength} bytes, not ${n * size}`);
    if (isHalf(t.dtype)) return Float32Array.from(halfValuesOf(t.dtype, bytes));
    const copy = Uint8Array.from(bytes);
    return t.dtype === 'float32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer);
  };
  const d = t.data;
  if (d instanceof Float32Array || d instanceof Float64Array) {
    if ((d instanceof Float32Array ? 'float32' : 'float64') !== t.dtype || d.length !== n)
      invalid(`${name}.data typed array`);
    return d;
  }
  if (d instanceof Uint8Array) return make(d);
  if (typeof d === 'string') return make(Buffer.from(d, 'base64'));
  const values = d as (number | string)[];
  if (values.length !== n) invalid(`${name}.data has ${values.length} values, not ${n}`);
  const out = t.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const value = typeof values[i] === 'number' ? (values[i] as number) : NON_FINITE[values[i] as string];
    out[i] = isHalf(t.dtype) ? nearestHalf(t.dtype, value) : value;
  }
  return out;
}

const perDimOk = (v: unknown, min: number) =>
  v === undefined ||
  isInt(v, min) ||
  (Array.isArray(v) && v.length >= 1 && v.length <= 3 && v.every((x) => isInt(x, min)));
function paddingOk(v: unknown): boolean {
  if (v === undefined || v === 'valid' || v === 'same' || isInt(v, 0)) return true;
  if (!Array.isArray(v) || v.length < 1 || v.length > 3) return false;
  return (
    v.every((e) => isInt(e, 0)) ||
    v.every((e) => Array.isArray(e) && e.length === 2 && isInt(e[0], 0) && isInt(e[1], 0))
  );
}

/** Parses a body the way the contract says the server must, or says why it is refused. */
export function parseBody(contentType: string | undefined, body: Uint8Array): unknown {
  const media = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (media === 'application/json') {
    if (body.byteLength === 0) invalid('empty JSON body');
    let risky = false;
    const text = Buffer.from(body).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text, (k, v) => {
        if (k === '__proto__' || k === 'constructor') risky = true;
        return v;
      });
    } catch {
      invalid('not JSON');
    }
    if (risky) throw new Unknown('__proto__ / constructor keys (secure-json-parse refuses some)');
    return parsed;
  }
  if (MSGPACK_TYPES.includes(media)) {
    if (body.byteLength === 0) invalid('empty msgpack body');
    try {
      return oracleUnpackr.unpack(body);
    } catch {
      return invalid('not msgpack');
    }
  }
  return invalid(`content-type ${JSON.stringify(contentType)}`);
}

class Unknown extends Error {}

/** What the answer to `POST path` with this body must be. */
export function expectConv(
  path: string,
  headers: { contentType?: string; accept?: string },
  body: Uint8Array,
  limits: Limits,
): Expectation {
  try {
    if (body.byteLength > limits.maxBodyBytes) invalid('body over the limit');
    const format = acceptFormat(headers.accept);
    if (format === null) invalid('406');
    const op = path === '/conv/forward' ? 'forward' : path === '/conv/backward' ? 'backward' : null;
    if (op === null) return { kind: 'unknown', why: `no oracle for ${path}` };
    const req = parseBody(headers.contentType, body);
    if (!isObject(req)) return invalid('body is not a map');
    const r = req;
    const allowed = [
      'input',
      'weight',
      'bias',
      'stride',
      'padding',
      'dilation',
      'groups',
      'padding_mode',
      'layout',
      'encoding',
    ];
    if (op === 'backward') allowed.push('grad_output', 'grads');
    for (const key of Object.keys(r)) if (!allowed.includes(key)) invalid(`unknown field ${key}`);
    const input = checkTensor('input', r.input, 3, 5);
    const weight = checkTensor('weight', r.weight, 3, 5);
    const bias = r.bias === undefined ? undefined : checkTensor('bias', r.bias, 1, 1);
    const gradOutput = op === 'backward' ? checkTensor('grad_output', r.grad_output, 3, 5) : undefined;
    if (!perDimOk(r.stride, 1) || !perDimOk(r.dilation, 1) || !paddingOk(r.padding))
      invalid('stride / dilation / padding');
    if (r.groups !== undefined && !isInt(r.groups, 1)) invalid('groups');
    if (
      r.padding_mode !== undefined &&
      !['zeros', 'reflect', 'replicate', 'circular'].includes(r.padding_mode as string)
    )
      invalid('padding_mode');
    const layouts = ['channels_first', 'channels_last', 'NCW', 'NWC', 'NCHW', 'NHWC', 'NCDHW', 'NDHWC'];
    if (r.layout !== undefined && !layouts.includes(r.layout as string)) invalid('layout');
    if (r.encoding !== undefined && r.encoding !== 'array' && r.encoding !== 'base64') invalid('encoding');
    let grads = ['input', 'weight', 'bias'];
    if (op === 'backward' && r.grads !== undefined) {
      const g = r.grads;
      if (
        !Array.isArray(g) ||
        g.length > 3 ||
        !g.every((x) => ['input', 'weight', 'bias'].includes(x)) ||
        new Set(g).size !== g.length
      )
        invalid('grads');
      grads = g as string[];
    }

    const tensors = { input, weight, ...(bias ? { bias } : {}), ...(gradOutput ? { grad_output: gradOutput } : {}) };
    for (const t of Object.values(tensors)) if (t.dtype !== input.dtype) invalid('dtypes differ');
    let g: RefGeom;
    try {
      g = refGeometry(input.shape, weight.shape, {
        stride: r.stride as number,
        padding: r.padding as number,
        dilation: r.dilation as number,
        groups: r.groups as number,
        padding_mode: r.padding_mode as 'zeros',
        layout: r.layout as 'NCHW',
      });
    } catch (err) {
      return invalid(`geometry: ${(err as Error).message}`);
    }
    if (bias && bias.shape[0] !== g.cout) invalid('bias.shape');
    if (gradOutput && gradOutput.shape.join() !== g.outputShape.join()) invalid('grad_output.shape');

    for (const t of Object.values(tensors))
      if (prod(t.shape) > limits.maxTensorElements) invalid('413: tensor elements');
    const positions = g.batch * g.cout * prod(g.outSp);
    const gemm = 2 * positions * (g.cin / g.groups) * prod(g.k);
    const itemSize = input.dtype === 'float64' ? 8 : 4; // float16 and bfloat16 are computed in float32
    const outElems =
      op === 'forward'
        ? prod(g.outputShape)
        : grads.reduce(
            (s, n) => s + (n === 'input' ? prod(g.inputShape) : n === 'weight' ? prod(g.weightShape) : g.cout),
            0,
          );
    const flops = op === 'forward' ? gemm : grads.reduce((s, n) => s + (n === 'bias' ? positions : gemm), 0);
    if (outElems * itemSize > limits.maxOutputBytes || flops > limits.maxFlops) invalid('413: output bytes or FLOPs');

    const values = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, tensorValues(name, t)]));
    const outputs: Record<string, ExpectedTensor> = {};
    if (op === 'forward') {
      outputs.output = {
        dtype: input.dtype,
        shape: g.outputShape,
        ref: referenceForward(g, values.input, values.weight, values.bias ?? null),
      };
    } else {
      const refs = referenceBackward(g, values.input, values.weight, values.grad_output);
      const shapes = { input: g.inputShape, weight: g.weightShape, bias: [g.cout] };
      for (const name of grads as ('input' | 'weight' | 'bias')[])
        outputs[`grad_${name}`] = { dtype: input.dtype, shape: shapes[name], ref: refs[name] };
    }
    return { kind: 'valid', json: format === 'json', outputs };
  } catch (err) {
    if (err instanceof Invalid) return { kind: 'invalid', why: err.message };
    if (err instanceof Unknown) return { kind: 'unknown', why: err.message };
    throw err;
  }
}

/** Values of a response tensor's data (bin, number array with "NaN" strings, or base64). */
function answerValues(dtype: string, data: unknown): number[] | null {
  if (Array.isArray(data)) return data.map((v) => (typeof v === 'string' ? NON_FINITE[v] : v));
  const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : data instanceof Uint8Array ? data : null;
  if (!bytes) return null;
  if (!(DTYPES as string[]).includes(dtype) || bytes.byteLength % wireSize(dtype as Dt) !== 0) return null;
  if (isHalf(dtype as Dt)) return halfValuesOf(dtype as Half, bytes);
  const copy = Uint8Array.from(bytes);
  return Array.from(dtype === 'float32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer));
}

/** Why a 200 answer does not match the expectation, or null when it does. */
export function answerDefect(a: Answer, expected: Extract<Expectation, { kind: 'valid' }>): string | null {
  const type = String(a.headers['content-type'] ?? '');
  let body: Record<string, { dtype: string; shape: number[]; data: unknown }>;
  try {
    if (expected.json) {
      if (!type.startsWith('application/json')) return `content-type ${type}, expected JSON`;
      body = JSON.parse(a.body.toString('utf8'));
    } else {
      if (!MSGPACK_TYPES.some((t) => type.startsWith(t))) return `content-type ${type}, expected msgpack`;
      body = oracleUnpackr.unpack(a.body);
    }
  } catch (err) {
    return `undecodable answer: ${(err as Error).message}`;
  }
  const names = Object.keys(expected.outputs).sort();
  if (Object.keys(body).sort().join() !== names.join()) return `answer has ${Object.keys(body)}, expected ${names}`;
  for (const name of names) {
    const want = expected.outputs[name];
    const got = body[name];
    if (got.dtype !== want.dtype || JSON.stringify(got.shape) !== JSON.stringify(want.shape))
      return `${name}: ${got.dtype} ${JSON.stringify(got.shape)}, expected ${want.dtype} ${JSON.stringify(want.shape)}`;
    const values = answerValues(got.dtype, got.data);
    if (!values) return `${name}: data is not a tensor`;
    const report = checkClose(values, want.ref.ref, want.ref.absBound, want.ref.nTerms, want.dtype, {
      float64Reference: true,
    });
    if (!report.ok) return `${name}: ${report.message}`;
  }
  return null;
}
