/**
 * Prometheus metrics (prom-client), one registry per app: request durations by route and
 * status, the pool's queue depth, active tasks, threads and utilisation, the FLOPs and output
 * bytes computed, which kernels each dtype runs on (as the workers report it), where the time
 * of compute requests goes by stage (http/request-stages.ts), plus the process defaults.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { STAGES, type Stage } from './http/request-stages.js';
import type { EngineReport } from './shared/task.js';
import type { WorkerPool } from './worker-pool.js';

/** A gauge that reads its value from `read` at each scrape. */
export function collectedGauge(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export interface Metrics {
  registry: Registry;
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** `op`: the operation's label (its OpSpec's metricLabel). */
  countComputed(op: string, flops: number, outputBytes: number): void;
  /** Records the kernel engine of each dtype, as the workers report it (WorkerPool.describe). */
  setKernels(reports: readonly EngineReport[]): void;
  /** Observes the stages of one successful compute request (milliseconds each, http/request-stages.ts). */
  observeStages(op: string, durations: Partial<Record<Stage, number>>): void;
}

export function createMetrics(pool: WorkerPool): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const requestDuration = new Histogram({
    name: 'convd_http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const poolGauge = (name: string, help: string, read: () => number) => collectedGauge(registry, name, help, read);
  poolGauge('convd_pool_queue_depth', 'Conv tasks waiting for a worker thread', () => pool.stats().queued);
  poolGauge('convd_pool_active_tasks', 'Conv tasks running on a worker thread', () => pool.stats().active);
  poolGauge('convd_pool_threads', 'Worker threads in the pool', () => pool.stats().threads);
  poolGauge(
    'convd_pool_utilization_ratio',
    'Share of worker thread time spent running tasks since start (0-1)',
    () => pool.stats().utilization,
  );
  // The engine the workers pick for each dtype, set once they have said (before the app is ready).
  const kernel = new Gauge({
    name: 'convd_kernel_info',
    help: 'Kernel engine and instruction set per dtype (value 1)',
    labelNames: ['dtype', 'engine', 'isa'] as const,
    registers,
  });
  const flops = new Counter({
    name: 'convd_flops_computed_total',
    help: 'Floating-point operations computed',
    labelNames: ['op'] as const,
    registers,
  });
  const stageSeconds = new Histogram({
    name: 'convd_request_stage_seconds',
    help: 'Time of a successful compute request spent in each stage, from receiving its body to writing its answer',
    labelNames: ['op', 'stage'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const bytes = new Counter({
    name: 'convd_output_bytes_computed_total',
    help: 'Bytes of output tensors computed',
    labelNames: ['op'] as const,
    registers,
  });

  return {
    registry,
    observeRequest: (method, route, status, seconds) =>
      requestDuration.observe({ method, route, status: String(status) }, seconds),
    countComputed: (op, f, b) => {
      flops.inc({ op }, f);
      bytes.inc({ op }, b);
    },
    setKernels: (reports) => {
      for (const { dtype, engine, isa } of reports) kernel.set({ dtype, engine, isa }, 1);
    },
    observeStages: (op, durations) => {
      for (const stage of STAGES) {
        const ms = durations[stage];
        if (ms !== undefined) stageSeconds.observe({ op, stage }, ms / 1000);
      }
    },
  };
}
