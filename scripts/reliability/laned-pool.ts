/**
 * PROTOTYPE (measured by `npm run load -- --server laned`, not used by the service): a small-
 * request lane against head-of-line blocking.
 *
 * The service's pool is one FIFO in front of all threads, so a tiny request that arrives behind
 * queued S1-sized ones waits for all of them. Here tasks of at most `smallTaskFlops` go to a
 * lane of their own (one extra thread, its own admission limit); everything else, and every
 * split request, goes to the main pool as before. A tiny request then waits only for other
 * tiny ones, whatever the big queue holds; the extra thread costs the big lane little, because
 * it is busy only while small requests arrive.
 *
 * As a ConvPool subclass it drops into buildApp({ pool }) unchanged. Folded into ConvPool itself
 * it would be an option (smallLaneThreads, smallTaskFlops) and one env setting.
 */
import { convWork, numel } from '../../src/conv/geometry.js';
import type { ConvResult, ConvTask } from '../../src/conv-task.js';
import { ConvPool, type ConvPoolOptions, type PoolStats } from '../../src/pool.js';

/** FLOPs of a conv task (forward, backward, transposed); other tasks count as 64 per input element. */
export function taskFlops(task: ConvTask): number {
  if (task.op === 'forward' || task.op === 'transpose') return convWork(task.geometry).flops;
  if (task.op === 'backward') return convWork(task.geometry, task.grads).flops;
  return 64 * numel(task.geometry.inputShape);
}

export interface LanedPoolOptions extends ConvPoolOptions {
  smallTaskFlops: number;
  smallThreads: number;
  smallMaxQueue: number;
}

export class LanedPool extends ConvPool {
  private readonly small: ConvPool;
  private readonly smallTaskFlops: number;

  constructor(options: LanedPoolOptions) {
    super(options);
    this.small = new ConvPool({ ...options, threads: options.smallThreads, maxQueue: options.smallMaxQueue });
    this.smallTaskFlops = options.smallTaskFlops;
    const bothStarted = Promise.all([this.started, this.small.started]).then(() => undefined);
    (this as { started: Promise<void> }).started = bothStarted;
  }

  override run(task: ConvTask, signal: AbortSignal): Promise<ConvResult> {
    return taskFlops(task) <= this.smallTaskFlops ? this.small.run(task, signal) : super.run(task, signal);
  }

  override stats(): PoolStats {
    const big = super.stats();
    const small = this.small.stats();
    const threads = big.threads + small.threads;
    return {
      threads,
      active: big.active + small.active,
      queued: big.queued + small.queued,
      utilization: (big.utilization * big.threads + small.utilization * small.threads) / threads,
    };
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.small.close()]);
  }
}
