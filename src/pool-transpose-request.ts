/**
 * Validated pooling and conv_transpose requests -> tasks for a worker, and a worker's result
 * -> response tensors. The same order as conv requests (conv-request.ts): geometry, then work
 * limits (from shapes), then data lengths, and only then is any tensor data decoded, so a
 * small body declaring huge shapes never allocates.
 */
import { GeometryError } from './shared/geometry/common.js';
import { poolingWork, resolvePooling, type PoolingParams } from './shared/geometry/pooling.js';
import { resolveTranspose, transposeWork, type TransposeParams } from './shared/geometry/transpose.js';
import type { DType, TensorMeta } from './shared/tensor.js';
import type { FieldError } from './shared/geometry/common.js';
import { realView } from './shared/tensor.js';
import { type TaskResult, type Task, type PoolingTask, type ResultName } from './shared/task.js';
import { fieldProblem } from './http/problem.js';
import { checkWorkLimits, type OutputsInfo, type WorkLimits } from './limits.js';
import type { RequestTensor } from './schemas/tensor.js';
import { dataLengthError, decodeTensorData } from './wire/tensor-data.js';
import type { ResultTensor } from './wire/response.js';
import type { Prepared } from './dispatch.js';


export interface PoolCall {
  op: PoolingTask['op'];
  tensors: { input: RequestTensor; grad_output?: RequestTensor };
  params: PoolingParams;
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
    if (err instanceof GeometryError) throw fieldProblem('invalid-geometry', err.errors);
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

const dims = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** A request whose one output has the batch as its first dim, sized from input.shape (for a limit problem). */
const outputOf = (dtype: DType, name: string, shape: readonly number[], source: string): OutputsInfo => ({
  path: 'input.shape',
  source,
  dtype,
  batch: shape[0],
  tensors: [{ name, shape, perSample: true }],
});

const resultsOf =
  (dtype: DType, shapes: Partial<Record<ResultName, number[]>>) =>
  (result: TaskResult): Record<string, ResultTensor> =>
    Object.fromEntries(
      Object.entries(shapes).map(([name, shape]) => [name, { dtype, shape: shape!, data: realView(dtype, result[name as ResultName]!) }]),
    );

export function preparePool(call: PoolCall, limits: WorkLimits): Prepared {
  const { input, grad_output } = call.tensors;
  const backward = call.op === 'pool_backward';
  const operands = metas({ input, grad_output: backward ? grad_output : undefined });
  const g = resolved(() => resolvePooling({ input: operands.input, grad_output: operands.grad_output }, call.params));
  const work = poolingWork(g, backward);
  const w = g.window;
  const outputs = backward
    ? outputOf(w.dtype, 'grad_input', w.inputShape, `shaped like input.shape ${dims(w.inputShape)}`)
    : outputOf(w.dtype, 'output', w.outputShape, `from input.shape ${dims(w.inputShape)} and the window (kernel_size, stride, padding)`);
  checkWorkLimits(operands, work, limits, outputs);
  checkDataLengths({ input, grad_output });
  const task: PoolingTask = {
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

export function prepareTranspose(call: TransposeCall, limits: WorkLimits): Prepared {
  const { input, weight, bias } = call.tensors;
  const operands = metas({ input, weight, bias });
  const g = resolved(() => resolveTranspose({ input: operands.input, weight: operands.weight, bias: operands.bias }, call.params));
  const work = transposeWork(g, bias !== undefined);
  // the transposed convolution's output is the input of the convolution it transposes
  const source = `from input.shape ${dims(input.shape)}, weight.shape ${dims(weight.shape)}, stride, padding, output_padding and dilation`;
  checkWorkLimits(operands, work, limits, outputOf(g.dtype, 'output', g.inputShape, source));
  checkDataLengths({ input, weight, bias });
  const task: Task = {
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
