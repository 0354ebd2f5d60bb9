/**
 * /metrics for admission (admission.ts) and the JSON threads (wire/json-offload.ts): the memory
 * budget's total and use, refusals, dropped slow bodies and connections, open connections.
 * Event-loop delay comes with prom-client's process metrics (`nodejs_eventloop_lag_*_seconds`,
 * from monitorEventLoopDelay, reset at each scrape, so `nodejs_eventloop_lag_max_seconds` is the
 * worst delay since the previous scrape).
 */
import { Counter, type Registry } from 'prom-client';
import { collectedGauge } from '../metrics.js';
import type { JsonOffload } from '../wire/json-offload.js';
import type { Admission } from './admission.js';

export function registerAdmissionMetrics(registry: Registry, admission: Admission, json: JsonOffload): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number) => collectedGauge(registry, name, help, read);
  const counter = (
    name: string,
    help: string,
    read: () => number,
    labelNames: string[] = [],
    labels: Record<string, () => number> = {},
  ) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        if (labelNames.length === 0) this.inc(read());
        else for (const [value, get] of Object.entries(labels)) this.inc({ [labelNames[0]]: value }, get());
      },
    });
  const { budget, stats } = admission;
  gauge(
    'convd_memory_budget_bytes',
    'Memory budget for requests in flight (CONVD_MEMORY_BUDGET_BYTES)',
    () => budget.total,
  );
  gauge(
    'convd_memory_budget_in_use_bytes',
    'Bytes of the memory budget reserved by requests in flight',
    () => budget.inUse,
  );
  gauge('convd_memory_budget_reservations', 'Requests holding a reservation in the memory budget', () => budget.active);
  counter(
    'convd_memory_budget_refused_total',
    'Requests refused by the memory budget: full (503) or too large for any budget (413)',
    () => 0,
    ['reason'],
    {
      full: () => stats.refusedFull,
      too_large: () => stats.refusedTooLarge,
    },
  );
  counter(
    'convd_slow_bodies_dropped_total',
    'Request bodies dropped for arriving slower than CONVD_MIN_BODY_BYTES_PER_SECOND (408)',
    () => stats.stalledBodies,
  );
  counter(
    'convd_connections_dropped_total',
    'Connections closed at once because CONVD_MAX_CONNECTIONS were open',
    () => stats.droppedConnections,
  );
  gauge('convd_open_connections', 'Client connections open', () => stats.openConnections);
  counter(
    'convd_json_offloaded_total',
    'JSON bodies parsed and answers written on the JSON threads',
    () => 0,
    ['kind'],
    {
      body: () => json.counts.parsed,
      answer: () => json.counts.written,
    },
  );
}
