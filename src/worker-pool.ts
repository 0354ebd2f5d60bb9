/**
 * The worker pool that runs the kernels off the event loop (piscina).
 *
 * One task per thread at a time (CPU-bound kernels), a fixed number of threads that never
 * idle out, and admission control: at most `threads` running plus `maxQueue` waiting; past
 * that `run` throws QueueFullError (the API answers 503). Optionally a second lane with its
 * own threads and queue serves small tasks only, so they never wait behind big ones. Tensor buffers are transferred
 * (ArrayBuffers) or shared (SharedArrayBuffers, the requests' reused memory). Aborting a task's signal removes it from the queue or, when it is running,
 * terminates its thread (piscina starts a replacement).
 */
import { once } from 'node:events';
import { Piscina } from 'piscina';
import type { EngineReport, Task, TaskResult, WorkerData } from './shared/task.js';

/** The compiled worker, beside this file's compiled form (dist/src/worker-pool.js -> dist/workers/). */
const WORKER = new URL('../workers/worker.js', import.meta.url);

export interface WorkerPoolOptions {
  threads: number;
  maxQueue: number;
  workerData: WorkerData;
  /** A stand-in worker module (tests), with its own workerData; by default workers/worker.ts. */
  worker?: { url: URL; workerData: unknown };
  /**
   * A lane of its own for small tasks (at most `maxFlops`): its threads and queue serve only
   * them, so a tiny request never waits behind queued big ones (no head-of-line blocking
   * across the whole pool). Its threads are busy only while small requests arrive.
   */
  smallLane?: { threads: number; maxFlops: number };
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

export interface WorkerPoolStats {
  threads: number;
  /** Tasks running on a thread. */
  active: number;
  /** Tasks waiting for a thread. */
  queued: number;
  /** Share of the pool's thread time spent running tasks since start, 0 to 1. */
  utilization: number;
}

/** Threads with one FIFO queue in front and admission control (at most threads + maxQueue tasks). */
class Lane {
  readonly started: Promise<void>;
  private readonly piscina: Piscina;
  private admitted = 0;

  constructor(
    readonly name: string,
    readonly threads: number,
    private readonly maxQueue: number,
    worker: { url: URL; workerData: unknown },
  ) {
    this.piscina = new Piscina({
      filename: worker.url.href,
      workerData: worker.workerData,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Infinity, // threads live as long as the pool
      concurrentTasksPerWorker: 1,
    });
    this.started = Promise.all(this.piscina.threads.map((t) => once(t, 'online'))).then(() => undefined);
  }

  async runAll(tasks: Task[], signal: AbortSignal): Promise<TaskResult[]> {
    if (this.admitted + tasks.length > this.threads + this.maxQueue) {
      throw new QueueFullError(
        `all ${this.threads} threads of the ${this.name} lane are busy and ${this.maxQueue} requests are already waiting`,
      );
    }
    this.admitted += tasks.length;
    const siblings = new AbortController();
    const cancel = AbortSignal.any([signal, siblings.signal]);
    try {
      return await Promise.all(
        tasks.map(async (task) => {
          const transferList = Object.values(task.tensors).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
          try {
            return (await this.piscina.run(task, { signal: cancel, transferList })) as TaskResult;
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

  /** Threads neither running nor promised a task. */
  idle(): number {
    return Math.max(0, this.threads - this.admitted);
  }

  stats(): WorkerPoolStats {
    const queued = this.piscina.queueSize;
    return { threads: this.threads, active: this.admitted - queued, queued, utilization: this.piscina.utilization };
  }

  /** The worker's `describe` export, run on one of this lane's threads (outside admission control). */
  async describe(): Promise<EngineReport[]> {
    return (await this.piscina.run(null, { name: 'describe' })) as EngineReport[];
  }

  close(): Promise<void> {
    return this.piscina.close();
  }
}

export class WorkerPool {
  /** Threads of the main lane (what a split request is cut for). */
  readonly threads: number;
  /** Resolves once every thread is up. */
  readonly started: Promise<void>;
  private readonly main: Lane;
  private readonly small: { lane: Lane; maxFlops: number } | null;

  constructor(options: WorkerPoolOptions) {
    const worker = options.worker ?? { url: WORKER, workerData: options.workerData };
    this.threads = options.threads;
    this.main = new Lane('main', options.threads, options.maxQueue, worker);
    const small = options.smallLane;
    this.small =
      small && small.threads > 0
        ? { lane: new Lane('small-task', small.threads, options.maxQueue, worker), maxFlops: small.maxFlops }
        : null;
    this.started = Promise.all([this.main.started, this.small?.lane.started]).then(() => undefined);
  }

  /** Runs `task` (of `flops` work) on a thread, moving its buffers there (they are detached here afterwards). */
  async run(task: Task, signal: AbortSignal, flops = Infinity): Promise<TaskResult> {
    const [result] = await this.runAll([task], signal, flops);
    return result;
  }

  /**
   * Runs the tasks of one request (`flops` of work in all), each on a thread, admitted all
   * together or not at all, on the small-task lane when it is small enough. ArrayBuffers are
   * moved; SharedArrayBuffers are shared. When one task fails, the others are cancelled.
   */
  runAll(tasks: Task[], signal: AbortSignal, flops = Infinity): Promise<TaskResult[]> {
    const lane = this.small && flops <= this.small.maxFlops ? this.small.lane : this.main;
    return lane.runAll(tasks, signal);
  }

  stats(): WorkerPoolStats {
    const lanes = [this.main, this.small?.lane].filter((l): l is Lane => l !== undefined).map((l) => l.stats());
    const threads = lanes.reduce((sum, l) => sum + l.threads, 0);
    return {
      threads,
      active: lanes.reduce((sum, l) => sum + l.active, 0),
      queued: lanes.reduce((sum, l) => sum + l.queued, 0),
      utilization: lanes.reduce((sum, l) => sum + l.utilization * l.threads, 0) / threads,
    };
  }

  /** Idle threads of the main lane: what a request arriving now may be split across (split.ts). */
  idleThreads(): number {
    return this.main.idle();
  }

  /**
   * The kernel engine the workers run each dtype on, as a worker reports it (same runtime, same
   * CONVD_KERNEL, so every thread answers alike); rejects when the worker cannot honour
   * CONVD_KERNEL (wasm asked for and not loadable).
   */
  describe(): Promise<EngineReport[]> {
    return this.main.describe();
  }

  /** Waits for running tasks, then stops the threads. */
  async close(): Promise<void> {
    await Promise.all([this.main.close(), this.small?.lane.close()]);
  }
}
