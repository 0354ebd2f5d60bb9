/**
 * Tensor memory reused from one request to the next.
 *
 * Fresh memory is expensive: the first touch of each page of a new buffer faults it in (0.5 to
 * 0.7 ms per MB written on the 2-core machines, against 0.04 ms per MB for memory already
 * mapped; docs/performance.md), and a fresh buffer of megabytes is garbage for the collector
 * to track once the request is done. A big request would pay that for its body, its tensors
 * and its outputs every time. So
 * the body a msgpack request is read into, the shared buffers its tensors are copied into and
 * those its per-sample results are written into are taken from this pool, exactly sized, and
 * given back when the request is done with them.
 *
 * A request holds its buffers through a `Lease`. They go back to the pool only once both
 * - its answer is written or its connection closed (`release`), since the answer's bytes are
 *   the result buffers themselves, and the body's are viewed by the parsed request, and
 * - the worker threads are done with them (`settle(true)`). A task that was cancelled or
 *   failed may still be running on a thread that is being terminated, writing into its
 *   buffers: those are never reused (`settle(false)`), only left to the garbage collector.
 * So a buffer is never in two requests at once.
 *
 * Idle buffers are kept up to `maxIdleBytes` (the least recently given back go first). They
 * sit outside the memory budget (admission/budget.ts) like the kernels' scratch, while the
 * requests using them reserve them as before.
 */

/**
 * Zeroes `buffer` 8 bytes at a time: V8 fills a byte array over a SharedArrayBuffer one byte
 * at a time (2 ms for S1's 6.4 MB output), a Float64Array over it at memset speed (0.26 ms).
 */
export function zero(buffer: SharedArrayBuffer): void {
  const words = buffer.byteLength >>> 3;
  new Float64Array(buffer, 0, words).fill(0);
  new Uint8Array(buffer, words << 3).fill(0);
}

export class BufferPool {
  /** Idle buffers, the least recently given back first. */
  private readonly idle: SharedArrayBuffer[] = [];
  private idleBytes = 0;
  /** Buffers taken since start: from the idle ones, or fresh. */
  readonly counts = { reused: 0, fresh: 0 };

  constructor(readonly maxIdleBytes: number) {}

  /** Bytes kept idle now. */
  get idleByteLength(): number {
    return this.idleBytes;
  }

  /** A buffer of exactly `bytes` bytes: an idle one (its contents whatever its last user left), else a fresh, zeroed one. */
  take(bytes: number): SharedArrayBuffer {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const buffer = this.idle[i];
      if (buffer.byteLength !== bytes) continue;
      this.idle.splice(i, 1);
      this.idleBytes -= bytes;
      this.counts.reused++;
      return buffer;
    }
    this.counts.fresh++;
    return new SharedArrayBuffer(bytes);
  }

  /** Keeps `buffers` for reuse, dropping the oldest idle ones past maxIdleBytes. */
  giveBack(buffers: Iterable<SharedArrayBuffer>): void {
    for (const buffer of buffers) {
      if (buffer.byteLength === 0 || buffer.byteLength > this.maxIdleBytes) continue;
      this.idle.push(buffer);
      this.idleBytes += buffer.byteLength;
    }
    while (this.idleBytes > this.maxIdleBytes) this.idleBytes -= this.idle.shift()!.byteLength;
  }

  lease(): Lease {
    return new Lease(this);
  }
}

/** The buffers one request took from the pool, given back once the request and the threads are both done with them. */
export class Lease {
  private readonly held: SharedArrayBuffer[] = [];
  private released = false;
  /** Whether the threads are done with the buffers: null while a task may still use them. */
  private settled: boolean | null = true;
  /**
   * Whether the buffers went back already: a request whose connection closed before its task
   * was dispatched. What it takes after that never goes back (its threads may still use it).
   */
  private spent = false;

  constructor(private readonly pool: BufferPool) {}

  /** A buffer of `bytes` bytes, its contents stale: for what is overwritten whole (a body, a tensor's data). */
  take(bytes: number): SharedArrayBuffer {
    const buffer = this.pool.take(bytes);
    if (!this.spent) this.held.push(buffer);
    return buffer;
  }

  /** A zeroed buffer of `bytes` bytes: for results, which kernels may accumulate into. */
  takeZeroed(bytes: number): SharedArrayBuffer {
    const buffer = this.take(bytes);
    zero(buffer);
    return buffer;
  }

  /** The buffers are about to be used by worker threads: nothing goes back until `settle`. */
  lend(): void {
    this.settled = null;
  }

  /** The threads are done with the buffers: `ok` when every task finished (else they are never reused). */
  settle(ok: boolean): void {
    if (this.settled === false) return;
    this.settled = ok;
    this.finish();
  }

  /** The request is done with the buffers (its answer written or its connection closed). */
  release(): void {
    this.released = true;
    this.finish();
  }

  private finish(): void {
    if (!this.released || this.settled === null) return;
    if (this.settled) this.pool.giveBack(this.held);
    this.held.length = 0;
    this.spent = true;
  }
}
