/**
 * Test data helpers: decoding the conformance cases' base64 tensors, loading the cases, a
 * small seeded PRNG for random tensors, dtype conversion.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Dt = 'float32' | 'float64';
export type Arr = Float32Array | Float64Array;

export function alloc(dtype: Dt, n: number): Arr {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/** A typed array of `dtype` holding `values` (rounded to float32 when dtype is float32). */
export function toDtype(values: ArrayLike<number>, dtype: Dt): Arr {
  const a = alloc(dtype, values.length);
  a.set(values);
  return a;
}

/**
 * Decode base64 little-endian bytes into a fresh typed array: the bytes are copied into a new
 * ArrayBuffer first (a Buffer's byteOffset may not be aligned to the element size).
 */
export function decodeB64(b64: string, dtype: Dt): Arr {
  const buf = Buffer.from(b64, 'base64');
  const size = dtype === 'float32' ? 4 : 8;
  if (buf.length % size !== 0) throw new Error(`base64 payload of ${buf.length} bytes is not a multiple of ${size}`);
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  // The test hosts are little-endian; guard against a silent byte-order surprise.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('big-endian host');
  return dtype === 'float32' ? new Float32Array(ab) : new Float64Array(ab);
}

export interface CaseTensor {
  dtype: Dt;
  shape: number[];
  data_b64: string;
}

export interface ConformanceCase {
  file: string;
  name: string;
  op: 'forward' | 'backward';
  request: {
    input: CaseTensor;
    weight: CaseTensor;
    bias?: CaseTensor;
    grad_output?: CaseTensor;
    grads?: ('input' | 'weight' | 'bias')[];
    stride?: number | number[];
    padding?: number | number[] | [number, number][] | 'valid' | 'same';
    dilation?: number | number[];
    groups?: number;
    padding_mode?: 'zeros' | 'reflect' | 'replicate' | 'circular';
    layout?: 'channels_first' | 'channels_last' | 'NCW' | 'NWC' | 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC';
  };
  expected: Record<string, { shape: number[]; data_b64: string }>;
  abs_bound: Record<string, { data_b64: string }>;
  n_terms: Record<string, number>;
}

/**
 * The vendored public conformance cases (test/fixtures/conformance, refreshed by
 * `npm run conformance:refresh`); this module runs as dist/test/reference/data.js.
 */
export const CONFORMANCE_DIR = fileURLToPath(new URL('../../../test/fixtures/conformance/', import.meta.url));

/** Load every valid case; throws (never skips) when the directory is missing or empty. */
export function loadValidCases(): ConformanceCase[] {
  const dir = path.join(CONFORMANCE_DIR, 'cases', 'valid');
  if (!fs.existsSync(dir)) {
    throw new Error(`conformance cases directory ${dir} is missing: restore test/fixtures/conformance from git`);
  }
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`no conformance cases in ${dir}`);
  return files.map((f) => ({ file: f, ...JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) }));
}

/** The conv parameters of a case request (everything but tensors and grads). */
export function caseParams(c: ConformanceCase) {
  const r = c.request;
  const p: Record<string, unknown> = {};
  for (const k of ['stride', 'padding', 'dilation', 'groups', 'padding_mode', 'layout'] as const) {
    if (r[k] !== undefined) p[k] = r[k];
  }
  return p as Pick<
    ConformanceCase['request'],
    'stride' | 'padding' | 'dilation' | 'groups' | 'padding_mode' | 'layout'
  >;
}

export function hasNonFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return true;
  return false;
}

/** mulberry32: a tiny deterministic PRNG in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [-scale, scale), rounded to dtype. */
export function randomTensor(n: number, dtype: Dt, rand: () => number, scale = 2): Arr {
  const a = alloc(dtype, n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}
