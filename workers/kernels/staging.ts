/**
 * Operands where an engine's kernels can read them. The ts engine reads the callers' typed
 * arrays in place; the wasm engine reads only its own memory, so operands are staged (copied)
 * into its buffers first, and outputs computed there are copied out.
 */
import type { Real } from '../../src/shared/tensor.js';
import type { KernelEngine } from '../engines/engine.js';

/** Elements of staging `t` needs on this engine (`length` of them, all of `t` by default): 0 when it reads `t` in place. */
export function stagedLength(engine: KernelEngine, t: Real, length = t.length): number {
  return engine.reads(t) ? 0 : length;
}

/** `t` itself when the engine reads it in place, else its copy in `staging`. */
export function readable(engine: KernelEngine, t: Real, staging: Real): Real {
  if (engine.reads(t)) return t;
  staging.set(t);
  return staging;
}

/** Consecutive images of a tensor where the engine reads them: image n0 + i at data[at + i * perImage]. */
export interface Images {
  data: Real;
  at: number;
}

/**
 * Images [n0, n1) of `t` (`perImage` elements each) where the engine reads them: `t` itself, or
 * `staging` holding their copy (with `copy` false, uninitialised: for an output the caller
 * computes there and then copies out with `writeBack`).
 */
export function imagesOf(
  engine: KernelEngine,
  t: Real,
  [n0, n1]: [number, number],
  perImage: number,
  staging: Real,
  copy = true,
): Images {
  if (engine.reads(t)) return { data: t, at: n0 * perImage };
  if (copy) staging.set(t.subarray(n0 * perImage, n1 * perImage));
  return { data: staging, at: 0 };
}

/** Copies images computed in staging (see imagesOf) out to `t`; nothing when they were computed in place. */
export function writeBack(images: Images, t: Real, [n0, n1]: [number, number], perImage: number): void {
  if (images.data !== t) t.set(images.data.subarray(images.at, images.at + (n1 - n0) * perImage), n0 * perImage);
}
