/**
 * Validated pooling and conv_transpose requests -> tasks for a worker, and a worker's result
 * -> response tensors. The same order as conv requests (conv-request.ts): geometry, then work
 * limits (from shapes), then data lengths, and only then is any tensor data decoded, so a
 * small body declaring huge shapes never allocates.
 */
import { ConvGeometryError } from './conv/geometry.js';
import { poolWork, resolvePool, type PoolParams } from './conv/pool-geometry.js';
import { resolveTranspose, transposeWork, type TransposeParams } from './conv/transpose-geometry.js';
import type { DType, FieldError, TensorMeta } from './conv/types.js';
import { realView, type ConvResult, type ConvTask, type PoolTask, type ResultName } from './conv-task.js';
import { fieldProblem } from './http/problem.js';
import { checkWorkLimits, reserveWork, type WorkLimits } from './limits.js';
import type { RequestTensor } from './schemas/tensor.js';
import { dataLengthError, decodeTensorData } from './wire/tensor-data.js';
import type { ResultTensor } from './wire/response.js';

export interface PreparedTask {
  task: ConvTask;
  flops: number;
  outputBytes: number;
  /** The response tensors of the worker's result. */
  results(result: ConvResult): Record<string, ResultTensor>;
}

export interface PoolCall {
  op: PoolTask['op'];
  tensors: { input: RequestTensor; grad_output?: RequestTensor };
  params: PoolParams;
}

export interface TransposeCall {
  tensors: { input: RequestTensor; weight: RequestTensor; bias?: RequestTensor };
  params: TransposeParams;
}

type Tensors = Record<string, RequestTensor | undefined>;

/** The shapes and dtypes of the tensors present. */
function metas(tensors: Tensors): Record<string, TensorMeta> {
  const out: Record<string, TensorMeta> = {};
  for (const [name, t] of Object.entries(tensors)) if (t) out[name] = { dtype: t.dtype, shape: t.shape };
  return out;
}

function resolved<T>(resolve: () => T): T {
  try {
    return resolve();
  } catch (err) {
    if (err instanceof ConvGeometryError) throw fieldProblem('invalid-geometry', err.errors);
    throw err;
  }
}

/** 400 unless every tensor's data fits its shape and dtype. */
function checkDataLengths(tensors: Tensors): void {
  const errors = Object.entries(tensors)
    .map(([name, t]) => (t ? dataLengthError(name, t) : null))
    .filter((e): e is FieldError => e !== null);
  if (errors.length > 0) throw fieldProblem('invalid-tensor-data', errors);
}

const bufferOf = (t: RequestTensor) => decodeTensorData(t).buffer;

const resultsOf =
  (dtype: DType, shapes: Partial<Record<ResultName, number[]>>) =>
  (result: ConvResult): Record<string, ResultTensor> =>
    Object.fromEntries(
      Object.entries(shapes).map(([name, shape]) => [name, { dtype, shape: shape!, data: realView(dtype, result[name as ResultName]!) }]),
    );

export function preparePool(call: PoolCall, limits: WorkLimits): PreparedTask {
  const { input, grad_output } = call.tensors;
  const backward = call.op === 'pool_backward';
  const operands = metas({ input, grad_output: backward ? grad_output : undefined });
  const g = resolved(() => resolvePool({ input: operands.input, grad_output: operands.grad_output }, call.params));
  const work = poolWork(g, backward);
  checkWorkLimits(operands, work, limits);
  checkDataLengths({ input, grad_output });
  reserveWork(operands, work, limits);
  const w = g.window;
  const task: PoolTask = {
    op: call.op,
    geometry: w,
    pool: { mode: g.mode, countIncludePad: g.countIncludePad },
    grads: [],
    input: bufferOf(input),
    weight: null,
    bias: null,
    gradOutput: backward && grad_output ? bufferOf(grad_output) : null,
  };
  const shapes = backward ? { grad_input: w.inputShape } : { output: w.outputShape };
  return { task, flops: work.flops, outputBytes: work.outputBytes, results: resultsOf(w.dtype, shapes) };
}

export function prepareTranspose(call: TransposeCall, limits: WorkLimits): PreparedTask {
  const { input, weight, bias } = call.tensors;
  const operands = metas({ input, weight, bias });
  const g = resolved(() => resolveTranspose({ input: operands.input, weight: operands.weight, bias: operands.bias }, call.params));
  const work = transposeWork(g, bias !== undefined);
  checkWorkLimits(operands, work, limits);
  checkDataLengths({ input, weight, bias });
  reserveWork(operands, work, limits);
  const task: ConvTask = {
    op: 'transpose',
    geometry: g,
    grads: [],
    input: bufferOf(input),
    weight: bufferOf(weight),
    bias: bias ? bufferOf(bias) : null,
    gradOutput: null,
  };
  // the transposed convolution's output is the input of the convolution it transposes
  return { task, flops: work.flops, outputBytes: work.outputBytes, results: resultsOf(g.dtype, { output: g.inputShape }) };
}
