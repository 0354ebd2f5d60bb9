/**
 * Piscina worker: allocates a task's outputs, runs the kernels on the transferred inputs and
 * moves the outputs back (transferred, not structured-cloned).
 */
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { numel } from '../src/conv/geometry.js';
import type { GradName } from '../src/conv/types.js';
import { allocReal, GRAD_RESULT, realView, resultShape, type ConvResult, type ConvTask } from '../src/conv-task.js';
import { convBackward, convForward } from './kernels/conv.js';
import type { ConvWorkerData } from '../src/pool.js';
import { setTileBudget } from './kernels/workspace.js';

setTileBudget((workerData as ConvWorkerData).tileBudgetBytes);

/** Marks every buffer of `result` for transfer (piscina moves only top-level values by itself). */
function moveAll(result: ConvResult) {
  return move({
    get [transferableSymbol]() {
      return Object.values(result);
    },
    get [valueSymbol]() {
      return result;
    },
  });
}

export default function runConvTask(task: ConvTask) {
  const g = task.geometry;
  const view = (buffer: ArrayBuffer) => realView(g.dtype, buffer);
  if (task.op === 'forward') {
    const output = allocReal(g.dtype, numel(g.outputShape));
    convForward(g, view(task.input), view(task.weight), task.bias && view(task.bias), output);
    return moveAll({ output: output.buffer });
  }
  const grads = Object.fromEntries(task.grads.map((name) => [name, allocReal(g.dtype, numel(resultShape(g, GRAD_RESULT[name])))]));
  convBackward(g, view(task.input), view(task.weight), view(task.gradOutput!), grads);
  return moveAll(Object.fromEntries(Object.entries(grads).map(([name, real]) => [GRAD_RESULT[name as GradName], real.buffer])));
}
