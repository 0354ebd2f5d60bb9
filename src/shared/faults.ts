/**
 * Test-only fault injection, for the reliability tests (test/reliability/) and scripts.
 *
 * Off unless the server starts with CONVD_TEST_FAULTS=1 (worker threads inherit the
 * environment). When on, a request may carry `x-convd-test-fault: <kind>`; the route copies
 * the kind into the task and the worker acts it out before computing:
 *   throw   the kernel throws (the thread survives)                -> 500
 *   exit    the thread dies mid-task (process.exit in the worker)  -> 500, piscina starts a new thread
 *   hang    the thread blocks until it is terminated               -> 504 at the deadline (or cancelled
 *           when the client leaves), piscina starts a new thread
 * Without CONVD_TEST_FAULTS=1 the header is ignored on both sides.
 */
import type { IncomingHttpHeaders } from 'node:http';

export const FAULT_KINDS = ['throw', 'exit', 'hang'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const FAULT_HEADER = 'x-convd-test-fault';

export const faultsEnabled = (): boolean => process.env.CONVD_TEST_FAULTS === '1';

/** Main thread: the fault a request asks for, when faults are enabled. */
export function faultFromHeaders(headers: IncomingHttpHeaders): FaultKind | undefined {
  if (!faultsEnabled()) return undefined;
  const kind = headers[FAULT_HEADER];
  return (FAULT_KINDS as readonly unknown[]).includes(kind) ? (kind as FaultKind) : undefined;
}

/** Blocks this thread for `ms` (Infinity: until it is terminated). */
const block = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Worker thread: acts out `fault` (after a little "work", so that the task is mid-flight). */
export function injectFault(fault: FaultKind | undefined): void {
  if (fault === undefined || !faultsEnabled()) return;
  if (fault === 'hang') {
    block(Infinity);
    return;
  }
  block(20);
  switch (fault) {
    case 'throw':
      throw new Error('injected fault: the kernel threw (CONVD_TEST_FAULTS)');
    case 'exit':
      process.exit(70);
  }
}
