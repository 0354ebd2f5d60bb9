/**
 * The conv worker's pooling and conv_transpose tasks (src/conv-task.ts: PoolTask,
 * TransposeTask): allocates the output (or writes the shared one of a split request, for the
 * images of the task's batch range) and runs the kernel on the task's inputs.
 */
import { numel } from '../src/conv/geometry.js';
import type { Real } from '../src/conv/types.js';
import { allocReal, realView, type ConvResult, type PoolTask, type ResultName, type TransposeTask } from '../src/conv-task.js';
import { engineFor } from './kernels/engine.js';
import { poolBackward, poolForward } from './kernels/pooling.js';
import { convTranspose } from './kernels/transpose.js';

/** Runs `task`; returns the results to move back (none for shared outputs). */
export function runPoolTransposeTask(task: PoolTask | TransposeTask): ConvResult {
  const g = task.geometry;
  const view = (buffer: ArrayBuffer | SharedArrayBuffer): Real => realView(g.dtype, buffer);
  const moved: ConvResult = {};
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
