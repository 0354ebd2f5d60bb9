/**
 * Piscina worker: allocates a task's results, runs its operation's runner (runners.ts) and hands
 * the results back: moved (transferred, not structured-cloned), or, for the results the task
 * brings shared buffers for (the request's reused memory; a split request's threads each write
 * the images of their batch range), written in place and named in the answer (shared, not copied).
 */
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { epochMs } from '../src/shared/clock.js';
import { injectFault } from '../src/shared/faults.js';
import type { EngineReport, ResultName, Task, TaskResult, WorkerData } from '../src/shared/task.js';
import { allocReal, numel, operandView, realView, type TensorData } from '../src/shared/tensor.js';
import { engineFor } from './engines/index.js';
import { setTileBudget } from './kernels/workspace.js';
import { runners, type Outputs, type Runner } from './runners.js';

setTileBudget((workerData as WorkerData).tileBudgetBytes);

/** Marks every ArrayBuffer of `result` for transfer (piscina moves only top-level values by itself); shared ones are shared. */
function moveAll(result: TaskResult) {
  return move({
    get [transferableSymbol]() {
      return Object.values(result).filter((b) => b instanceof ArrayBuffer);
    },
    get [valueSymbol]() {
      return result;
    },
  });
}

/** The arrays of `task.results`: the shared one where the task has one, else a fresh one; all returned in `moved`. */
function allocate(task: Task): { out: Outputs; moved: TaskResult } {
  const dtype = task.geometry.dtype;
  const out: Outputs = {};
  const moved: TaskResult = {};
  for (const [name, { shape }] of Object.entries(task.results) as [ResultName, { shape: number[] }][]) {
    const shared = task.sharedOutputs?.[name];
    if (shared) {
      out[name] = realView(dtype, shared);
      moved[name] = shared;
    } else {
      const fresh = allocReal(dtype, numel(shape));
      out[name] = fresh;
      moved[name] = fresh.buffer;
    }
  }
  return { out, moved };
}

export default function runTask(task: Task) {
  const { clock } = task;
  if (clock) clock.times[2 * clock.slot] = epochMs();
  injectFault(task.fault);
  const { out, moved } = allocate(task);
  const view = (data: TensorData | undefined) => {
    if (!data) throw new TypeError(`a ${task.op} task lacks an operand its kernels read`);
    return operandView(task.geometry.dtype, data);
  };
  (runners[task.op] as Runner<Task['op']>)(task, out, view);
  if (clock) clock.times[2 * clock.slot + 1] = epochMs();
  return moveAll(moved);
}

/** The engine each dtype runs on in this thread (what the convd_kernel_info metric shows); throws when CONVD_KERNEL cannot be honoured. */
export function describe(): EngineReport[] {
  return (['float32', 'float64'] as const).map((dtype) => {
    const engine = engineFor(dtype);
    return { dtype, engine: engine.name, isa: engine.isa };
  });
}
