/**
 * The worker pool that runs conv kernels off the event loop (piscina).
 *
 * One task per thread at a time (CPU-bound kernels), a fixed number of threads that never
 * idle out, and admission control: at most `threads` running plus `maxQueue` waiting; past
 * that `run` throws QueueFullError (the API answers 503). Tensor buffers are transferred
 * both ways. Aborting a task's signal removes it from the queue or, when it is running,
 * terminates its thread (piscina starts a replacement).
 */
import { once } from 'node:events';
import { Piscina } from 'piscina';
import type { ConvResult, ConvTask } from './conv-task.js';

/** The compiled worker, beside this file's compiled form (dist/src/pool.js -> dist/workers/). */
const CONV_WORKER = new URL('../workers/conv-worker.js', import.meta.url);

/** What every conv worker thread starts with. */
export interface ConvWorkerData {
  /** Kernel scratch budget per thread (bytes). */
  tileBudgetBytes: number;
}

export interface ConvPoolOptions {
  threads: number;
  maxQueue: number;
  workerData: ConvWorkerData;
  /** A stand-in worker module (tests), with its own workerData; by default the conv worker. */
  worker?: { url: URL; workerData: unknown };
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

export interface PoolStats {
  threads: number;
  /** Tasks running on a thread. */
  active: number;
  /** Tasks waiting for a thread. */
  queued: number;
  /** Share of the pool's thread time spent running tasks since start, 0 to 1. */
  utilization: number;
}

export class ConvPool {
  readonly threads: number;
  readonly maxQueue: number;
  /** Resolves once every thread is up. */
  readonly started: Promise<void>;
  private readonly piscina: Piscina;
  private admitted = 0;

  constructor(options: ConvPoolOptions) {
    this.threads = options.threads;
    this.maxQueue = options.maxQueue;
    this.piscina = new Piscina({
      filename: (options.worker?.url ?? CONV_WORKER).href,
      workerData: options.worker ? options.worker.workerData : options.workerData,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Infinity, // threads live as long as the pool
      concurrentTasksPerWorker: 1,
    });
    this.started = Promise.all(this.piscina.threads.map((t) => once(t, 'online'))).then(() => undefined);
  }

  /** Runs `task` on a thread, moving its buffers there (they are detached here afterwards). */
  async run(task: ConvTask, signal: AbortSignal): Promise<ConvResult> {
    const [result] = await this.runAll([task], signal);
    return result;
  }

  /**
   * Runs the tasks of one request, each on a thread, admitted all together or not at all.
   * ArrayBuffers are moved; SharedArrayBuffers are shared. When one task fails, the others
   * are cancelled.
   */
  async runAll(tasks: ConvTask[], signal: AbortSignal): Promise<ConvResult[]> {
    if (this.admitted + tasks.length > this.threads + this.maxQueue) {
      throw new QueueFullError(`all ${this.threads} threads are busy and ${this.maxQueue} requests are already waiting`);
    }
    this.admitted += tasks.length;
    const siblings = new AbortController();
    const cancel = AbortSignal.any([signal, siblings.signal]);
    try {
      return await Promise.all(
        tasks.map(async (task) => {
          const transferList = [task.input, task.weight, task.bias, task.gradOutput].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
          try {
            return (await this.piscina.run(task, { signal: cancel, transferList })) as ConvResult;
          } catch (err) {
            siblings.abort(err);
            throw err;
          }
        }),
      );
    } finally {
      this.admitted -= tasks.length;
    }
  }

  stats(): PoolStats {
    const queued = this.piscina.queueSize;
    return { threads: this.threads, active: this.admitted - queued, queued, utilization: this.piscina.utilization };
  }

  /** Waits for running tasks, then stops the threads. */
  close(): Promise<void> {
    return this.piscina.close();
  }
}
