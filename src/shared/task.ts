/**
 * What travels between the HTTP layer and a worker thread. Tensor data crosses as whole
 * ArrayBuffers in the transfer list (moved, never cloned), or, for a request split across
 * threads (src/split.ts), as SharedArrayBuffers every thread reads; the geometry is plain data.
 */
import type { FaultKind } from './faults.js';
import type { ConvGeometry, GradName } from './geometry/conv.js';
import type { PoolingSettings } from './geometry/pooling.js';
import type { BatchRange, DType, TensorBuffer } from './tensor.js';

export type ConvOp = 'forward' | 'backward';

/** A convolution forward or backward task. */
export interface ConvTask {
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
  /** Tests only (CONVD_TEST_FAULTS=1): a fault the worker acts out, see faults.ts. */
  fault?: FaultKind;
}

/** Pooling forward (result `output`) or backward (result `grad_input`), on the pooling's window geometry. */
export interface PoolingTask extends Omit<ConvTask, 'op' | 'weight' | 'bias'> {
  op: 'pool_forward' | 'pool_backward';
  pool: PoolingSettings;
  weight: null;
  bias: null;
}

/** conv_transpose forward (result `output`): `geometry` is the convolution whose grad_input it is. */
export interface TransposeTask extends Omit<ConvTask, 'op'> {
  op: 'transpose';
}

/** Every task a worker runs. */
export type Task = ConvTask | PoolingTask | TransposeTask;

/** Whether `task` is a pooling or conv_transpose task (run by workers/pool-transpose-task.ts). */
export function isPoolOrTransposeTask(task: Task): task is PoolingTask | TransposeTask {
  return task.op === 'pool_forward' || task.op === 'pool_backward' || task.op === 'transpose';
}

/** Every op a task runs (the `op` label of the computed-work metrics). */
export type TaskOp = Task['op'];

export type ResultName = 'output' | 'grad_input' | 'grad_weight' | 'grad_bias';

/** The computed tensors by response field name, each a whole buffer of the request dtype. */
export type TaskResult = Partial<Record<ResultName, TensorBuffer>>;

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
