/**
 * What an operation is to the service, in one place per operation (src/ops/<op>.ts): its request
 * schema and examples, its route (path, summary, description, tags), how its geometry, work and
 * results follow from a request, and the task a worker runs for it. The registry (index.ts)
 * lists them; the routes, the OpenAPI operations, the metrics' op labels and the tests' wiring
 * are made from it.
 *
 * `defineOp` turns a spec into what the registry holds, with the one request pipeline every
 * operation runs, in this order: geometry (shapes and parameters agree), then work limits (from
 * shapes), then data lengths (from lengths), then the memory reservation (limits.ts reserveWork,
 * when the context's limits carry one), and only then is any tensor data decoded, so that a small
 * body declaring huge shapes never allocates. An empty batch (N = 0) is answered there and then:
 * no data decoded, no task run (see `emptyBatchAnswer`).
 */
import type { z } from 'zod';
import type { Prepared } from '../dispatch.js';
import { fieldProblem } from '../http/problem.js';
import type { Lease } from '../buffer-pool.js';
import type { RequestStages } from '../http/request-stages.js';
import { checkWorkLimits, reserveWork, type WorkLimits } from '../limits.js';
import type { OperationExamples } from '../schemas/examples.js';
import type { ResponseDoc } from '../schemas/fields.js';
import type { RequestTensor } from '../schemas/tensor.js';
import { GeometryError, type FieldError, type Work } from '../shared/geometry/common.js';
import type { OpName, ResultName, ResultSpec, TaskFor, TaskResult, TensorField } from '../shared/task.js';
import { halfBitsOf, isHalf } from '../shared/half.js';
import {
  allocReal,
  numel,
  realView,
  type DType,
  operandOf,
  type TensorData,
  type TensorMeta,
  type WireArray,
  type WireDType,
} from '../shared/tensor.js';
import { batchSlices, type SplitSettings } from '../split.js';
import type { ResultTensor } from '../wire/response.js';
import { dataLengthError, decodeTensorData } from '../wire/tensor-data.js';

/** The route of an operation (POST), as the OpenAPI document and GET / show it. */
export interface RouteDoc {
  path: string;
  tags: string[];
  summary: string;
  /** Markdown; the notes on encodings every compute operation shares are appended. */
  description: string;
}

/** What preparing a request needs of the server. */
export interface PrepareContext {
  limits: WorkLimits & SplitSettings;
  /** The main lane's idle threads now: what a request that may be split is cut for. */
  idleThreads(): number;
  /** The request's stage clock: `validate` ends before the tensor data is decoded, `copy_in` after. */
  stages?: RequestStages | null;
  /** The request's lease of reused memory (buffer-pool.ts), which decoded tensors are copied into. */
  buffers?: Lease | null;
}

type RequestTensors = Partial<Record<TensorField, RequestTensor>>;

/** The dtypes and shapes of a request's tensors (those it has). */
export type Metas<T extends RequestTensors> = {
  [K in keyof T]: T[K] extends RequestTensor ? TensorMeta : TensorMeta | undefined;
};

/** The task of operation `N` without what the pipeline adds (op, tensors, results, split and fault fields). */
export type TaskHead<N extends OpName> = Omit<
  TaskFor<N>,
  'op' | 'tensors' | 'results' | 'batch' | 'sharedOutputs' | 'fault'
>;

/** A request resolved from its shapes and parameters alone. */
export interface Resolution<N extends OpName> {
  task: TaskHead<N>;
  work: Work;
  /** The results, in the order they are computed and returned. */
  results: Partial<Record<ResultName, ResultSpec>>;
  /** The request field the results' size follows from (errors[].path of an output-bytes problem), and how, naming it. */
  outputs: { path: string; source: string };
}

export interface OpSpec<
  N extends OpName,
  S extends z.ZodType<{ encoding: 'array' | 'base64' }>,
  T extends RequestTensors,
> {
  /** The task's op: the worker runs runners[name] (workers/runners.ts). */
  name: N;
  /** The `op` label of the computed-work metrics. */
  metricLabel: string;
  route: RouteDoc;
  /** The operation's name in components.examples (`<component>Request.<example>`, ...); its schema ids start with it too. */
  component: string;
  request: S;
  response: ResponseDoc;
  examples: OperationExamples;
  /** The request's tensors by field name, in the order problems list them. */
  tensors(body: z.output<S>): T;
  /** Tensors whose shapes are checked but whose values the kernels do not read: not decoded, not sent. */
  unsent?: readonly TensorField[];
  /** Geometry, work and results from the shapes and parameters; throws GeometryError listing every problem. */
  resolve(operands: Metas<T>, body: z.output<S>): Resolution<N>;
}

/** An operation as the registry holds it. */
export interface Operation {
  readonly name: OpName;
  readonly metricLabel: string;
  readonly route: RouteDoc;
  readonly component: string;
  readonly request: z.ZodType;
  readonly response: ResponseDoc;
  readonly examples: OperationExamples;
  /** Validates and decodes a request (the schema has passed): its task, work and how to read its result. */
  prepare(body: unknown, context: PrepareContext): Prepared;
}

export function defineOp<
  N extends OpName,
  S extends z.ZodType<{ encoding: 'array' | 'base64' }>,
  T extends RequestTensors,
>(spec: OpSpec<N, S, T>): Operation {
  const { name, metricLabel, route, component, request, response, examples } = spec;
  return {
    name,
    metricLabel,
    route,
    component,
    request,
    response,
    examples,
    prepare: (body, context) => prepare(spec, body as z.output<S>, context),
  };
}

/** `resolve()`, its GeometryError answered 400 invalid-geometry. */
function resolved<R>(resolve: () => R): R {
  try {
    return resolve();
  } catch (err) {
    if (err instanceof GeometryError) throw fieldProblem('invalid-geometry', err.errors);
    throw err;
  }
}

function prepare<N extends OpName, S extends z.ZodType<{ encoding: 'array' | 'base64' }>, T extends RequestTensors>(
  spec: OpSpec<N, S, T>,
  body: z.output<S>,
  context: PrepareContext,
): Prepared {
  const present = Object.entries(spec.tensors(body)).filter(
    (e): e is [TensorField, RequestTensor] => e[1] !== undefined,
  );
  const operands = Object.fromEntries(
    present.map(([field, t]) => [field, { dtype: t.dtype, shape: t.shape }]),
  ) as Metas<T>;

  const r = resolved(() => spec.resolve(operands, body));
  const g = r.task.geometry;
  // the request's dtype (geometry has checked that every operand has input's); g.dtype is the one computed in
  const dtype = present[0][1].dtype;
  const tensors = Object.entries(r.results).map(([field, { shape, perSample }]) => ({ name: field, shape, perSample }));
  checkWorkLimits(operands, r.work, context.limits, { ...r.outputs, dtype, batch: g.batch, tensors });
  // every operation's kernels take a batch range: a big request is split across the idle threads (split.ts)
  const slices = batchSlices(g.batch, r.work.splitFlops, context.limits, context.idleThreads());

  const dataErrors = present.map(([field, t]) => dataLengthError(field, t)).filter((e): e is FieldError => e !== null);
  if (dataErrors.length > 0) throw fieldProblem('invalid-tensor-data', dataErrors);
  // what the request will hold, reserved from the memory budget before anything is decoded (admission/)
  reserveWork(operands, r.work, context.limits, slices.length);
  context.stages?.mark('validate');

  const empty = g.batch === 0;
  // A split request's tensors go to shared memory, read by every thread; else they are moved,
  // or shared with the one thread when they are copied into the lease's reused memory (or
  // read in place there: an aligned bin of the body, tensor-data.ts).
  const shared = slices.length > 1;
  const { buffers } = context;
  const take = buffers ? (bytes: number) => buffers.take(bytes) : undefined;
  const sent = present
    .filter(([field]) => !empty && !spec.unsent?.includes(field))
    .map(([field, t]): [TensorField, TensorData] => [field, operandOf(decodeTensorData(t, shared, take))]);
  const task = { ...r.task, op: spec.name, tensors: Object.fromEntries(sent), results: r.results } as TaskFor<N>;
  context.stages?.mark('copy_in');
  return {
    task,
    answer: empty ? emptyBatchAnswer(g.dtype, r.results) : undefined,
    flops: r.work.flops,
    outputBytes: r.work.outputBytes,
    slices,
    encoding: body.encoding,
    results: (result) => responseTensors(dtype, r.results, result),
  };
}

/**
 * The results of an empty batch (N = 0), as PyTorch gives them: each per-sample result empty
 * (its first extent is N), and each sum over the batch (grad_weight, grad_bias) zeros.
 */
function emptyBatchAnswer(dtype: DType, results: Resolution<OpName>['results']): TaskResult {
  return Object.fromEntries(
    Object.entries(results).map(([name, { shape }]) => [name, allocReal(dtype, numel(shape)).buffer]),
  );
}

/** The response tensors of a worker's result, in the order it holds them; float16 and bfloat16 results rounded once from float32. */
function responseTensors(
  dtype: WireDType,
  specs: Resolution<OpName>['results'],
  result: Partial<Record<ResultName, ArrayBuffer | SharedArrayBuffer>>,
): Record<string, ResultTensor> {
  const data = (buffer: ArrayBuffer | SharedArrayBuffer): WireArray =>
    isHalf(dtype) ? halfBitsOf(dtype, realView('float32', buffer) as Float32Array) : realView(dtype, buffer);
  return Object.fromEntries(
    (Object.entries(result) as [ResultName, ArrayBuffer | SharedArrayBuffer][]).map(([name, buffer]) => [
      name,
      { dtype, shape: specs[name]!.shape, data: data(buffer) },
    ]),
  );
}

/** A shape as messages write it. */
export const dims = (shape: readonly number[]) => `[${shape.join(', ')}]`;
