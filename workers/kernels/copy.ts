/**
 * Strided copies between the callers' tensors and the engines' dense buffers.
 */
import type { Real } from '../../src/shared/tensor.js';

/**
 * dst[dstAt + i * dstStride] = src[srcAt + i * srcStride] + add, for i < count. Unit strides
 * between arrays of one element type with nothing to add are a single memcpy.
 */
export function copyStrided(
  src: Real,
  srcAt: number,
  srcStride: number,
  dst: Real,
  dstAt: number,
  dstStride: number,
  count: number,
  add = 0,
): void {
  if (srcStride === 1 && dstStride === 1 && add === 0 && Object.getPrototypeOf(src) === Object.getPrototypeOf(dst)) {
    dst.set(src.subarray(srcAt, srcAt + count), dstAt);
    return;
  }
  for (let i = 0, s = srcAt, d = dstAt; i < count; i++, s += srcStride, d += dstStride) dst[d] = src[s] + add;
}
