/**
 * Per-thread scratch memory for the kernels.
 *
 * Fresh pages are expensive on these machines (first touch costs ~3 ms per MB), so the
 * kernels never allocate their work buffers per call: each named slot keeps one Float64Array
 * that only grows, and is reused by every later call on the same thread (one worker = one
 * module instance = one workspace).
 *
 * The tile budget bounds what one call's tiles may ask for (im2col columns or their gradient,
 * accumulators, staged operands); plan.ts sizes a convolution's tiles and buffers against it,
 * pooling.ts its own.
 */

/** Default bound on the tiles of one thread: 64 MiB. */
export const DEFAULT_TILE_BUDGET_BYTES = 64 * 2 ** 20;

let tileBudgetBytes = DEFAULT_TILE_BUDGET_BYTES;
const slots = new Map<string, Float32Array | Float64Array>();

export function tileBudget(): number {
  return tileBudgetBytes;
}

/** Sets this thread's tile budget (bytes); the workers set it from the service config. */
export function setTileBudget(bytes: number): void {
  if (!(bytes >= 1 << 16)) throw new RangeError(`tile budget ${bytes} bytes is below the 64 KiB minimum`);
  tileBudgetBytes = bytes;
}

/**
 * A Float64Array of at least `length` elements for `slot`. Contents are whatever the last
 * user left: callers overwrite or zero what they read.
 */
export function scratch(slot: string, length: number): Float64Array {
  return scratchOf(Float64Array, slot, length);
}

/** Like `scratch`, of element type `Type` (slots of different types are distinct). */
export function scratchOf(Type: Float32ArrayConstructor, slot: string, length: number): Float32Array;
export function scratchOf(Type: Float64ArrayConstructor, slot: string, length: number): Float64Array;
export function scratchOf(
  Type: Float32ArrayConstructor | Float64ArrayConstructor,
  slot: string,
  length: number,
): Float32Array | Float64Array;
export function scratchOf(
  Type: Float32ArrayConstructor | Float64ArrayConstructor,
  slot: string,
  length: number,
): Float32Array | Float64Array {
  const key = `${Type.name} ${slot}`;
  let buf = slots.get(key);
  if (!buf || buf.length < length) {
    buf = new Type(length);
    slots.set(key, buf);
  }
  return buf;
}
