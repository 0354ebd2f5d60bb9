/**
 * What travels between the HTTP layer and a worker thread. A task names its operation (the
 * worker runs `runners[task.op]`, workers/runners.ts), carries the geometry the kernels run from,
 * its operand tensors by request field name, and the results it asks for with their shapes.
 * Tensor data crosses as whole ArrayBuffers in the transfer list (moved, never cloned), or as
 * SharedArrayBuffers (the request's reused memory, src/buffer-pool.ts; those of a request split
 * across threads, src/split.ts, every thread reads), whole or as a typed array over part of one
 * (a bin of the request body, read in place); the rest is plain data.
 */
import type { TaskClock } from './clock.js';
import type { FaultKind } from './faults.js';
import type { OperandShapes } from './geometry/common.js';
import type { AdaptivePoolingGeometry } from './geometry/adaptive-pooling.js';
import type { ConvGeometry } from './geometry/conv.js';
import type { PoolingSettings } from './geometry/pooling.js';
import type { BatchRange, DType, TensorBuffer, TensorData } from './tensor.js';

/** Every operation a worker runs (src/ops/ has one OpSpec each). */
export type OpName =
  | 'conv_forward'
  | 'conv_backward'
  | 'conv_transpose'
  | 'conv_transpose_backward'
  | 'pool_forward'
  | 'pool_backward'
  | 'adaptive_pool_forward'
  | 'adaptive_pool_backward'
  | 'unfold'
  | 'fold';

/** The operand tensors of a request, by field name. */
export type TensorField = 'input' | 'weight' | 'bias' | 'grad_output';

/** `indices`: max pooling's argmax positions, shaped like the output (in the request dtype). */
export type ResultName = 'output' | 'indices' | 'grad_input' | 'grad_weight' | 'grad_bias';

/** A result a task computes. */
export interface ResultSpec {
  shape: number[];
  /**
   * Its first dim is the batch: the threads of a split request each write their images of it
   * into one shared buffer. Otherwise (grad_weight, grad_bias) each returns a partial sum.
   */
  perSample: boolean;
}

interface TaskOf<Op extends OpName, G extends { dtype: DType; batch: number } = ConvGeometry> {
  op: Op;
  /**
   * What the kernels run from: a convolution (for pooling its window geometry; for
   * conv_transpose the convolution whose grad_input it is; for unfold and fold the unfold), or
   * adaptive pooling's own.
   */
  geometry: G;
  /** The operands the kernels read (a tensor whose values are not read, conv backward's bias, is not sent). */
  tensors: Partial<Record<TensorField, TensorData>>;
  /** The results to compute, in the order they are returned. */
  results: Partial<Record<ResultName, ResultSpec>>;
  /** Split requests: the images this task computes (all when absent). */
  batch?: BatchRange;
  /** Per-sample results the task writes in place (a split request's threads each their images), named in its answer. */
  sharedOutputs?: Partial<Record<ResultName, SharedArrayBuffer>>;
  /** Tests only (CONVD_TEST_FAULTS=1): a fault the worker acts out, see faults.ts. */
  fault?: FaultKind;
  /** Where the worker writes when it started and finished the task (the request's stage timing). */
  clock?: TaskClock;
}

/** A pooling task: the window geometry plus the pooling's mode. */
interface PoolingTaskOf<Op extends OpName> extends TaskOf<Op> {
  pooling: PoolingSettings;
}

/** Every task a worker runs. */
export type Task =
  | TaskOf<'conv_forward'>
  | TaskOf<'conv_backward'>
  | TaskOf<'conv_transpose'>
  | TaskOf<'conv_transpose_backward'>
  | PoolingTaskOf<'pool_forward'>
  | PoolingTaskOf<'pool_backward'>
  | TaskOf<'adaptive_pool_forward', AdaptivePoolingGeometry>
  | TaskOf<'adaptive_pool_backward', AdaptivePoolingGeometry>
  | TaskOf<'unfold'>
  | TaskOf<'fold'>;

/** The task of operation `N`. */
export type TaskFor<N extends OpName> = Extract<Task, { op: N }>;

/** The computed tensors by response field name, each a whole buffer of the request dtype. */
export type TaskResult = Partial<Record<ResultName, TensorBuffer>>;

/** What every worker thread starts with. */
export interface WorkerData {
  /** Kernel scratch budget per thread (bytes). */
  tileBudgetBytes: number;
}

/** The kernel engine a worker runs a dtype on (the worker's `describe` export answers one per dtype). */
export interface EngineReport {
  dtype: DType;
  engine: string;
  /** The instruction set its kernels run on. */
  isa: string;
}

/** The operand a gradient result is for. */
export const GRAD_OF = { grad_input: 'input', grad_weight: 'weight', grad_bias: 'bias' } as const satisfies Record<
  Exclude<ResultName, 'output' | 'indices'>,
  TensorField
>;

/** The result that is the gradient of operand `name`. */
export const gradResult = (name: 'input' | 'weight' | 'bias'): ResultName => `grad_${name}`;

/**
 * The shape of a result: the output's (indices too), or that of the operand the gradient is for, both in the
 * operation's own terms (`shapes`: geometry/conv.ts convShapes, transpose.ts transposeShapes,
 * pooling.ts poolingShapes).
 */
export function resultShape(shapes: OperandShapes, name: ResultName): number[] {
  if (name === 'output' || name === 'indices') return shapes.output;
  const shape = shapes[GRAD_OF[name]];
  if (!shape) throw new RangeError(`${name}: the operation has no ${GRAD_OF[name]}`);
  return shape;
}
