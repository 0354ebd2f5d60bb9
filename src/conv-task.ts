/**
 * What travels between the HTTP layer and a worker thread. Tensor data crosses as whole
 * ArrayBuffers in the transfer list (moved, never cloned), or, for a request split across
 * threads (split.ts), as SharedArrayBuffers every thread reads; the geometry is plain data.
 */
import type { PoolSettings } from './conv/pool-geometry.js';
import type { BatchRange, ConvGeometry, DType, GradName, Real } from './conv/types.js';
import type { FaultKind } from '../workers/faults.js';

export type ConvOp = 'forward' | 'backward';

/** Tensor bytes: moved (ArrayBuffer) or shared between threads (SharedArrayBuffer). */
export type TensorBuffer = ArrayBuffer | SharedArrayBuffer;

/** A convolution forward or backward task. */
export interface ConvKernelTask {
  op: ConvOp;
  geometry: ConvGeometry;
  /** Backward only: the gradients to compute. */
  grads: GradName[];
  input: TensorBuffer;
  weight: TensorBuffer;
  /** Forward only (backward ignores bias values). */
  bias: TensorBuffer | null;
  /** Backward only. */
  gradOutput: TensorBuffer | null;
  /** Split requests: the images this task computes (all when absent). */
  batch?: BatchRange;
  /** Split requests: outputs every thread writes its images of, in place (not returned). */
  sharedOutputs?: Partial<Record<ResultName, SharedArrayBuffer>>;
  /** Tests only (CONVD_TEST_FAULTS=1): a fault the worker acts out, see workers/faults.ts. */
  fault?: FaultKind;
}

/** Pooling forward (result `output`) or backward (result `grad_input`), on the pooling's window geometry. */
export interface PoolTask extends Omit<ConvKernelTask, 'op' | 'weight' | 'bias'> {
  op: 'pool_forward' | 'pool_backward';
  pool: PoolSettings;
  weight: null;
  bias: null;
}

/** conv_transpose forward (result `output`): `geometry` is the convolution whose grad_input it is. */
export interface TransposeTask extends Omit<ConvKernelTask, 'op'> {
  op: 'transpose';
}

/** Every task a conv worker runs. */
export type ConvTask = ConvKernelTask | PoolTask | TransposeTask;

/** Whether `task` is a pooling or conv_transpose task (run by workers/pool-transpose-task.ts). */
export function isPoolOrTransposeTask(task: ConvTask): task is PoolTask | TransposeTask {
  return task.op === 'pool_forward' || task.op === 'pool_backward' || task.op === 'transpose';
}

/** Every op a task runs (the `op` label of the computed-work metrics). */
export type TaskOp = ConvTask['op'];

export type ResultName = 'output' | 'grad_input' | 'grad_weight' | 'grad_bias';

/** The computed tensors by response field name, each a whole buffer of the request dtype. */
export type ConvResult = Partial<Record<ResultName, TensorBuffer>>;

export const GRAD_RESULT: Record<GradName, ResultName> = { input: 'grad_input', weight: 'grad_weight', bias: 'grad_bias' };

/** The shape of a result: the forward output's, or that of the operand the gradient is for. */
export function resultShape(g: ConvGeometry, name: ResultName): number[] {
  switch (name) {
    case 'output':
      return g.outputShape;
    case 'grad_input':
      return g.inputShape;
    case 'grad_weight':
      return g.weightShape;
    case 'grad_bias':
      return [g.outChannels];
  }
}

/** A typed array of `dtype` over all of `buffer` (fresh buffers only: offset 0, aligned). */
export function realView(dtype: DType, buffer: TensorBuffer): Real {
  return dtype === 'float32' ? new Float32Array(buffer) : new Float64Array(buffer);
}

/** Real arrays that own a fresh ArrayBuffer (transferable). */
export type OwnedReal = Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>;

export function allocReal(dtype: DType, length: number): OwnedReal {
  return dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
}

/** A zeroed SharedArrayBuffer for `length` elements of `dtype`. */
export function allocShared(dtype: DType, length: number): SharedArrayBuffer {
  return new SharedArrayBuffer(length * (dtype === 'float32' ? 4 : 8));
}
