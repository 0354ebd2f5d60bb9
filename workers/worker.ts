/**
 * Piscina worker: runs the kernels on a task's inputs and hands the outputs back: moved
 * (transferred, not structured-cloned), or, for the shared outputs of a split request,
 * written in place for the images of the task's batch range.
 */
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { injectFault } from '../src/shared/faults.js';
import { allocReal, numel, realView } from '../src/shared/tensor.js';
import { GRAD_RESULT, isPoolOrTransposeTask, resultShape, type EngineReport, type ResultName, type Task, type TaskResult, type WorkerData } from '../src/shared/task.js';
import { convBackward, convForward } from './kernels/conv.js';
import { engineFor } from './engines/index.js';
import { setTileBudget } from './kernels/workspace.js';
import { runPoolTransposeTask } from './pool-transpose-task.js';

setTileBudget((workerData as WorkerData).tileBudgetBytes);

/** Marks every buffer of `result` for transfer (piscina moves only top-level values by itself). */
function moveAll(result: TaskResult) {
  return move({
    get [transferableSymbol]() {
      return Object.values(result);
    },
    get [valueSymbol]() {
      return result;
    },
  });
}

export default function runTask(task: Task) {
  injectFault(task.fault);
  if (isPoolOrTransposeTask(task)) return moveAll(runPoolTransposeTask(task));
  const g = task.geometry;
  const view = realView.bind(null, g.dtype);
  const moved: TaskResult = {};
  /** The output array for `name`: the shared one when the request is split, else a fresh one to move back. */
  const output = (name: ResultName) => {
    const shared = task.sharedOutputs?.[name];
    if (shared) return view(shared);
    const fresh = allocReal(g.dtype, numel(resultShape(g, name)));
    moved[name] = fresh.buffer;
    return fresh;
  };
  const engine = engineFor(g.dtype);
  if (task.op === 'forward') {
    convForward(g, view(task.input), view(task.weight), task.bias && view(task.bias), output('output'), engine, task.batch);
  } else {
    const grads = Object.fromEntries(task.grads.map((name) => [name, output(GRAD_RESULT[name])]));
    convBackward(g, view(task.input), view(task.weight), view(task.gradOutput!), grads, engine, task.batch);
  }
  return moveAll(moved);
}

/** The engine each dtype runs on in this thread (what the convd_kernel_info metric shows); throws when CONVD_KERNEL cannot be honoured. */
export function describe(): EngineReport[] {
  return (['float32', 'float64'] as const).map((dtype) => {
    const engine = engineFor(dtype);
    return { dtype, engine: engine.name, isa: engine.isa };
  });
}
