/**
 * Where the time of a compute request goes, stage by stage, measured with one clock read per
 * stage boundary (about a microsecond each):
 *
 * - `receive`: from the request's headers to its whole body read;
 * - `decode`: parsing the body (msgpack or JSON);
 * - `validate`: the schema, then the operation's geometry, limits and memory reservation;
 * - `copy_in`: the tensors copied from the body into the buffers the worker threads read (an
 *   aligned msgpack bin is read in place, wire/tensor-data.ts);
 * - `queue`: until a worker thread starts the task (the hand-off included);
 * - `kernel`: the worker threads running it (from the first start to the last finish of a
 *   split request), its result buffers' first-touch page faults included;
 * - `return`: the results back on the event loop (a split request's partial sums added);
 * - `encode`: the answer written (msgpack framing, JSON text);
 * - `write`: handing the answer to the socket, until its last byte is with the kernel.
 *
 * The answer carries the stages up to `encode` (and their sum, `total`) in a `Server-Timing`
 * header, which browsers' developer tools show; every stage of a successful request, `write`
 * included, is observed in the `convd_request_stage_seconds{op,stage}` histogram.
 */
import { epochMs } from '../shared/clock.js';

export const STAGES = [
  'receive',
  'decode',
  'validate',
  'copy_in',
  'queue',
  'kernel',
  'return',
  'encode',
  'write',
] as const;

export type Stage = (typeof STAGES)[number];

export class RequestStages {
  /** Milliseconds spent in each stage marked so far. */
  readonly durations: Partial<Record<Stage, number>> = {};
  private last: number;

  constructor(start: number = epochMs()) {
    this.last = start;
  }

  /** Ends `stage` at `at` (now by default): it lasted since the end of the stage before. */
  mark(stage: Stage, at: number = epochMs()): void {
    // a time from a worker's clock may be a hair behind this thread's: never negative, never back
    this.durations[stage] = (this.durations[stage] ?? 0) + Math.max(0, at - this.last);
    this.last = Math.max(this.last, at);
  }

  /** The stages so far and their sum, `total`, as a Server-Timing header value (W3C Server Timing: `name;dur=ms`). */
  serverTiming(): string {
    let total = 0;
    const metrics: string[] = [];
    for (const stage of STAGES) {
      const ms = this.durations[stage];
      if (ms === undefined) continue;
      total += ms;
      metrics.push(`${stage};dur=${ms.toFixed(3)}`);
    }
    metrics.push(`total;dur=${total.toFixed(3)}`);
    return metrics.join(', ');
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The stage clock of a compute request (routes/compute.ts starts it), else null. */
    stages: RequestStages | null;
  }
}
