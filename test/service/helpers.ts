/**
 * Shared by the service tests: an app with small, fast settings and silent logs, tensors in
 * every wire form, and response decoding.
 */
import assert from 'node:assert/strict';
import request, { type Response } from 'supertest';
import { Packr, Unpackr } from 'msgpackr';
import { buildApp, type BuildOptions, type ConvdApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { WorkerPool, type WorkerPoolOptions } from '../../src/worker-pool.js';
import type { FakeWorkerData } from './fixtures/fake-worker.js';

export const TEST_CONFIG: Partial<Config> = {
  logLevel: 'silent',
  poolThreads: 1,
  maxQueue: 4,
  deadlineMs: 10_000,
  smallLaneThreads: 0,
};

/** A ready app (not listening); close it with `app.close()`. */
export async function testApp(options: BuildOptions = {}): Promise<ConvdApp> {
  const built = await buildApp({ ...options, config: { ...TEST_CONFIG, ...options.config } });
  await built.app.ready();
  return built;
}

/** A pool of fake workers that block `blockMs` per task; `finished()` counts the tasks that ran to the end. */
export function fakePool(options: {
  threads?: number;
  maxQueue?: number;
  blockMs: number;
  fail?: boolean;
  smallLane?: WorkerPoolOptions['smallLane'];
}) {
  const finished = new Int32Array(new SharedArrayBuffer(4));
  const workerData: FakeWorkerData = { blockMs: options.blockMs, finished, fail: options.fail };
  const pool = new WorkerPool({
    threads: options.threads ?? 1,
    maxQueue: options.maxQueue ?? 0,
    workerData: { tileBudgetBytes: 2 ** 20 },
    worker: { url: new URL('./fixtures/fake-worker.js', import.meta.url), workerData },
    smallLane: options.smallLane,
  });
  return { pool, finished: () => Atomics.load(finished, 0) };
}

export const packBin = new Packr({ useRecords: false });
export const packTyped = new Packr({ useRecords: false, moreTypes: true });
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export type DType = 'float32' | 'float64';
export type Form = 'array' | 'base64' | 'bin' | 'typed';

export function typedArray(dtype: DType, values: number[]): Float32Array | Float64Array {
  return dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
}

const jsonNumber = (v: number) => (Number.isFinite(v) ? v : String(v));

/** A request tensor with its data in `form`. */
export function tensor(dtype: DType, shape: number[], values: number[], form: Form = 'array') {
  const typed = typedArray(dtype, values);
  const bytes = Buffer.from(typed.buffer);
  const data = { array: values.map(jsonNumber), base64: bytes.toString('base64'), bin: bytes, typed }[form];
  return { dtype, shape, data };
}

/** The values of a response tensor's data, whatever its form (bin, number array or base64). */
export function values(t: { dtype: DType; data: unknown }): number[] {
  const { dtype, data } = t;
  if (Array.isArray(data)) return data.map(Number);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : (data as Uint8Array);
  if (!(bytes instanceof Uint8Array)) throw new Error(`tensor data is neither bin, array nor base64: ${String(data)}`);
  const copy = Uint8Array.from(bytes); // aligned
  return Array.from(dtype === 'float32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer));
}

/** A supertest parser that keeps the raw body as a Buffer (for msgpack answers); superagent hands parsers the response stream. */
export function rawBody(res: unknown, done: (err: Error | null, body: Buffer) => void): void {
  const stream = res as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

/** 2-D example: input 1x1x3x3 = 1..9, weight 1x1x2x2 = [1, 0, 0, -1]; each output is x[i][j] - x[i+1][j+1] = -4. */
export const EXAMPLE = {
  input: { shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  weight: { shape: [1, 1, 2, 2], values: [1, 0, 0, -1] },
  output: { shape: [1, 1, 2, 2], values: [-4, -4, -4, -4] },
  // backward with grad_output = ones
  gradInput: [1, 1, 0, 1, 0, -1, 0, -1, -1],
  gradWeight: [12, 16, 24, 28],
  gradBias: [4],
};

export function exampleForward(dtype: DType = 'float32', form: Form = 'array') {
  return {
    input: tensor(dtype, EXAMPLE.input.shape, EXAMPLE.input.values, form),
    weight: tensor(dtype, EXAMPLE.weight.shape, EXAMPLE.weight.values, form),
  };
}

export function exampleBackward(dtype: DType = 'float32', form: Form = 'array') {
  return { ...exampleForward(dtype, form), grad_output: tensor(dtype, [1, 1, 2, 2], [1, 1, 1, 1], form) };
}

export type { ConvdApp };

/**
 * `res` is an RFC 9457 problem with `status` (well-formed, no stack trace); with `path`, its
 * errors[] name that field and so does its detail.
 */
export function assertProblem(res: Response, status: number, path?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
  const p = JSON.parse(res.text);
  for (const key of ['type', 'title', 'detail']) assert.equal(typeof p[key], 'string', `problem.${key}`);
  assert.equal(p.status, status);
  assert.doesNotMatch(res.text, /\bat .*\.(js|ts):\d+/, 'no stack trace');
  if (path !== undefined) {
    assert.ok(
      Array.isArray(p.errors) && p.errors.some((e: { path: string }) => e.path === path),
      `errors[].path ${path} in ${JSON.stringify(p.errors)}`,
    );
    assert.ok(p.detail.includes(path), `detail names ${path}: ${p.detail}`);
  }
}

/** POSTs `body` as JSON to `route`, asking for JSON. */
export const postJson = (convd: ConvdApp, route: string, body: unknown) =>
  request(convd.app.server)
    .post(route)
    .set('content-type', 'application/json')
    .set('accept', 'application/json')
    .send(JSON.stringify(body));

/** The FLOPs the server has counted for the computed-work metrics' label `op` so far. */
export async function flopsComputed(convd: ConvdApp, op: string): Promise<number> {
  const text = (await request(convd.app.server).get('/metrics').expect(200)).text;
  return Number(new RegExp(`convd_flops_computed_total\\{op="${op}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}
