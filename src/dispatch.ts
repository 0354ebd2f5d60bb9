/**
 * Runs a prepared task on the pool under the request's deadline, cancelling it when the
 * deadline passes (504) or the client goes away, and turning a full queue into 503. A request
 * prepared with its answer (an empty batch) is answered without a task.
 */
import type { FastifyReply } from 'fastify';
import type { Lease } from './buffer-pool.js';
import type { RequestStages } from './http/request-stages.js';
import { taskClocks } from './shared/clock.js';
import type { BatchRange } from './shared/tensor.js';
import type { TaskResult, Task } from './shared/task.js';
import { HttpProblem } from './http/problem.js';
import { QueueFullError, type WorkerPool } from './worker-pool.js';
import { runSplit } from './split.js';
import type { ResultTensor } from './wire/response.js';

export interface DispatchSettings {
  deadlineMs: number;
  retryAfterSeconds: number;
}

/** Aborts when the client closes the connection before the response is complete. */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client closed the connection'));
  });
  return controller.signal;
}

/** A validated, limit-checked request: its task, its FLOPs (which lane), its batch slices (split.ts; one range when it is not split), and how to read its result. */
export interface Prepared {
  task: Task;
  flops: number;
  slices?: BatchRange[];
  /** The result, when the request has nothing to compute (an empty batch): no task is run. */
  answer?: TaskResult;
  outputBytes: number;
  /** How a JSON response writes tensor data (the request's encoding field). */
  encoding: 'array' | 'base64';
  /** The response tensors of the worker's result. */
  results(result: TaskResult): Record<string, ResultTensor>;
}

/**
 * Ends the `queue`, `kernel` and `return` stages from the times the workers wrote: the kernel
 * ran from the first task's start to the last one's finish. A worker that wrote no times (a
 * stand-in) leaves it all to `return`.
 */
function markWorkerStages(stages: RequestStages, times: Float64Array): void {
  let started = Infinity;
  let finished = -Infinity;
  for (let i = 0; i < times.length; i += 2) {
    started = Math.min(started, times[i]);
    finished = Math.max(finished, times[i + 1]);
  }
  if (Number.isFinite(started) && Number.isFinite(finished)) {
    stages.mark('queue', started);
    stages.mark('kernel', finished);
  }
  stages.mark('return');
}

/** What a request's run is measured with and where its results go. */
export interface DispatchRequest {
  stages?: RequestStages | null;
  /** The request's lease of reused memory (buffer-pool.ts): its per-sample results are taken from it. */
  buffers?: Lease | null;
}

/**
 * Runs the task, whole or split by batch (split.ts); its per-sample results are shared buffers
 * the threads write in place, from the request's lease when it has one (which then holds them
 * until the threads are done: reused only when every task finished).
 */
export async function dispatch(
  pool: WorkerPool,
  work: Pick<Prepared, 'task' | 'flops' | 'slices' | 'answer'>,
  clientGone: AbortSignal,
  settings: DispatchSettings,
  { stages, buffers }: DispatchRequest = {},
): Promise<TaskResult> {
  if (work.answer) return work.answer;
  const { flops, slices = [[0, work.task.geometry.batch]] } = work;
  const times = stages ? taskClocks(slices.length) : null;
  const task = times ? { ...work.task, clock: { times, slot: 0 } } : work.task;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error('deadline exceeded')), settings.deadlineMs);
  const cancel = AbortSignal.any([deadline.signal, clientGone]);
  buffers?.lend();
  let ok = false;
  try {
    const result = await runSplit(pool, task, slices, cancel, {
      flops,
      allocate: buffers ? (bytes) => buffers.takeZeroed(bytes) : undefined,
    });
    ok = true;
    if (stages && times) markWorkerStages(stages, times);
    return result;
  } catch (err) {
    if (err instanceof QueueFullError) {
      throw new HttpProblem('overloaded', `the work queue is full: ${err.message}; retry later`, {
        headers: { 'retry-after': String(settings.retryAfterSeconds) },
      });
    }
    if (deadline.signal.aborted) {
      throw new HttpProblem(
        'deadline-exceeded',
        `the computation did not finish within the ${settings.deadlineMs} ms deadline (CONVD_DEADLINE_MS) and was cancelled`,
      );
    }
    if (clientGone.aborted)
      throw new HttpProblem('client-closed-request', 'the client closed the connection; the computation was cancelled');
    throw err;
  } finally {
    clearTimeout(timer);
    buffers?.settle(ok);
  }
}
