/**
 * The worker's pooling and conv_transpose tasks (src/shared/task.ts: PoolingTask,
 * TransposeTask): allocates the output (or writes the shared one of a split request, for the
 * images of the task's batch range) and runs the kernel on the task's inputs.
 */
import type { PoolingTask, ResultName, TaskResult, TransposeTask } from '../src/shared/task.js';
import { allocReal, numel, realView, type Real } from '../src/shared/tensor.js';
import { engineFor } from './engines/index.js';
import { poolBackward, poolForward } from './kernels/pooling.js';
import { convTranspose } from './kernels/transpose.js';

/** Runs `task`; returns the results to move back (none for shared outputs). */
export function runPoolTransposeTask(task: PoolingTask | TransposeTask): TaskResult {
  const g = task.geometry;
  const view = (buffer: ArrayBuffer | SharedArrayBuffer): Real => realView(g.dtype, buffer);
  const moved: TaskResult = {};
  const output = (name: ResultName, shape: number[]): Real => {
    const shared = task.sharedOutputs?.[name];
    if (shared) return view(shared);
    const fresh = allocReal(g.dtype, numel(shape));
    moved[name] = fresh.buffer;
    return fresh;
  };
  switch (task.op) {
    case 'pool_forward':
      poolForward(g, task.pool, view(task.input), output('output', g.outputShape), task.batch);
      break;
    case 'pool_backward':
      poolBackward(g, task.pool, view(task.input), view(task.gradOutput!), output('grad_input', g.inputShape), task.batch);
      break;
    case 'transpose':
      // the transposed convolution's output is its convolution's input
      convTranspose(g, view(task.input), view(task.weight), task.bias && view(task.bias), output('output', g.inputShape), engineFor(g.dtype), task.batch);
      break;
  }
  return moved;
}
