/**
 * The memory budget for work in flight: one counter of bytes that every request reserves
 * before it holds them (its body from Content-Length at header time, then its tensors,
 * outputs and encoded answer once its shapes are known) and gives back when its connection
 * is done with it, however that happens. When a reservation does not fit, the request is
 * refused (503 with Retry-After, or 413 when no budget could ever hold it) instead of the
 * process running out of memory.
 *
 * The default budget is half of the memory the process may use: the container's limit
 * (cgroup v2 `memory.max`, cgroup v1 `memory.limit_in_bytes`) or, without one, the machine's
 * memory. The other half is for what no request reserves: the process itself, the kernel
 * threads' scratch (CONVD_TILE_BUDGET_BYTES each, allocated once per thread and reused), the
 * tensor memory kept idle for the next requests (at most a quarter of the budget,
 * src/buffer-pool.ts; a request using it reserves it as any other) and garbage not yet
 * collected.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';

/** Share of the memory limit that the default budget takes. */
export const DEFAULT_BUDGET_FRACTION = 0.5;

/** cgroup files that hold the container's memory limit, v2 first. */
export const CGROUP_LIMIT_FILES = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];

/** cgroup v1 reports "no limit" as a huge number (2^63 rounded down to a page); anything past 2^60 is none. */
const NO_LIMIT = 2 ** 60;

export interface MemoryLimit {
  bytes: number;
  source: string;
}

/** The memory this process may use: the cgroup limit when there is one (and it is below the machine's memory), else the machine's memory. */
export function memoryLimit(
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
  machine: number = totalmem(),
): MemoryLimit {
  for (const file of CGROUP_LIMIT_FILES) {
    let text: string;
    try {
      text = read(file).trim();
    } catch {
      continue;
    }
    if (text === 'max') return { bytes: machine, source: `${file} (max: no limit), machine memory` };
    const bytes = Number(text);
    if (Number.isSafeInteger(bytes) && bytes > 0 && bytes < NO_LIMIT && bytes < machine) return { bytes, source: file };
    if (Number.isFinite(bytes) && bytes > 0)
      return { bytes: machine, source: `${file} (no limit below the machine's memory), machine memory` };
  }
  return { bytes: machine, source: 'machine memory (os.totalmem())' };
}

/** The default budget: half of the memory limit, rounded down to a MiB. */
export function defaultBudgetBytes(limit: MemoryLimit = memoryLimit()): number {
  return Math.max(2 ** 20, Math.floor((limit.bytes * DEFAULT_BUDGET_FRACTION) / 2 ** 20) * 2 ** 20);
}

/** Bytes one request holds in the budget; `resize` and `release` are safe to call in any order, release any number of times. */
export class Reservation {
  private held: number;
  private released = false;

  constructor(
    private readonly budget: MemoryBudget,
    bytes: number,
  ) {
    this.held = bytes;
  }

  get bytes(): number {
    return this.held;
  }

  get active(): boolean {
    return !this.released;
  }

  /** Holds `bytes` instead of what it holds now: false (and unchanged) when growing does not fit. */
  resize(bytes: number): boolean {
    if (this.released) return false;
    const delta = Math.max(0, Math.ceil(bytes)) - this.held;
    if (delta > 0 && !this.budget.take(delta)) return false;
    if (delta < 0) this.budget.give(-delta);
    this.held += delta;
    return true;
  }

  /** Grows by `bytes`: false when that does not fit. */
  grow(bytes: number): boolean {
    return this.resize(this.held + bytes);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
    this.budget.closed();
    this.held = 0;
  }
}

export class MemoryBudget {
  private used = 0;
  private reservations = 0;
  /** Reservations refused since start, by why. */
  readonly refused = { full: 0, tooLarge: 0 };

  constructor(readonly total: number) {
    if (!(total > 0)) throw new RangeError(`memory budget ${total} must be positive`);
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }

  /** Reservations not yet released. */
  get active(): number {
    return this.reservations;
  }

  /** Whether `bytes` could ever be reserved (by a request alone in an empty budget). */
  couldHold(bytes: number): boolean {
    return bytes <= this.total;
  }

  /** A reservation of `bytes`, or null when it does not fit now. */
  tryReserve(bytes: number): Reservation | null {
    const want = Math.max(0, Math.ceil(bytes));
    if (!this.take(want)) return null;
    this.reservations++;
    return new Reservation(this, want);
  }

  /** @internal */
  take(bytes: number): boolean {
    if (this.used + bytes > this.total) return false;
    this.used += bytes;
    return true;
  }

  /** @internal */
  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /** @internal: a reservation was released. */
  closed(): void {
    this.reservations--;
  }
}
