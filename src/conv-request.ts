/**
 * A validated conv request -> a task for a worker, and a worker's result -> response tensors.
 *
 * Order matters: geometry (shapes and parameters agree), then work limits (from shapes),
 * then data lengths (from lengths), and only then is any tensor data decoded, so that a small
 * body declaring huge shapes never allocates.
 */
import { convWork, ConvGeometryError, resolveConv } from './conv/geometry.js';
import type { BatchRange, ConvGeometry, ConvOperands, ConvParams, FieldError, GradName, TensorMeta } from './conv/types.js';
import { realView, resultShape, type ConvOp, type ConvResult, type ConvTask, type ResultName } from './conv-task.js';
import { fieldProblem } from './http/problem.js';
import { checkWorkLimits, reserveWork, type WorkLimits } from './limits.js';
import { batchSlices, type SplitSettings } from './split.js';
import type { RequestTensor } from './schemas/tensor.js';
import { dataLengthError, decodeTensorData } from './wire/tensor-data.js';
import type { ResultTensor } from './wire/response.js';
import type { PreparedCompute } from './routes/compute.js';

export interface ConvCall {
  op: ConvOp;
  tensors: { input: RequestTensor; weight: RequestTensor; bias?: RequestTensor; grad_output?: RequestTensor };
  params: ConvParams;
  /** Backward only. */
  grads?: GradName[];
}

export interface PreparedConv extends PreparedCompute {
  /** The batch ranges the task runs as: several when it is split across threads. */
  slices: BatchRange[];
}

const metaOf = (t: RequestTensor): TensorMeta => ({ dtype: t.dtype, shape: t.shape });

function geometryOf(operands: ConvOperands, params: ConvParams): ConvGeometry {
  try {
    return resolveConv(operands, params);
  } catch (err) {
    if (err instanceof ConvGeometryError) throw fieldProblem('invalid-geometry', err.errors);
    throw err;
  }
}

/** Validates and decodes a conv request; `idleThreads` (the main lane's, now) bounds its split. */
export function prepareConv(call: ConvCall, settings: WorkLimits & SplitSettings, idleThreads: number): PreparedConv {
  const { input, weight, bias, grad_output } = call.tensors;
  const operands: ConvOperands = { input: metaOf(input), weight: metaOf(weight) };
  if (bias) operands.bias = metaOf(bias);
  if (grad_output) operands.grad_output = metaOf(grad_output);

  const geometry = geometryOf(operands, call.params);
  const work = convWork(geometry, call.grads);
  checkWorkLimits(operands, work, settings);
  const slices = batchSlices(geometry.batch, work.flops, settings, idleThreads);

  const dataErrors = Object.entries(call.tensors)
    .map(([name, t]) => (t ? dataLengthError(name, t) : null))
    .filter((e): e is FieldError => e !== null);
  if (dataErrors.length > 0) throw fieldProblem('invalid-tensor-data', dataErrors);
  reserveWork(operands, work, settings);

  // A split request's tensors go to shared memory, read by every thread; else they are moved.
  const bufferOf = (t: RequestTensor) => decodeTensorData(t, slices.length > 1).buffer;
  const task: ConvTask = {
    op: call.op,
    geometry,
    grads: call.grads ?? [],
    input: bufferOf(input),
    weight: bufferOf(weight),
    bias: call.op === 'forward' && bias ? bufferOf(bias) : null,
    gradOutput: grad_output ? bufferOf(grad_output) : null,
  };
  return { task, flops: work.flops, outputBytes: work.outputBytes, slices, results: (result) => resultTensors(geometry, result) };
}

function resultTensors(geometry: ConvGeometry, result: ConvResult): Record<string, ResultTensor> {
  return Object.fromEntries(
    Object.entries(result).map(([name, buffer]) => [
      name,
      { dtype: geometry.dtype, shape: resultShape(geometry, name as ResultName), data: realView(geometry.dtype, buffer) },
    ]),
  );
}
