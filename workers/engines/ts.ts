/** The TypeScript engine (see engine.ts): float64 scratch, the packed GEMM, im2col / col2im and direct loops, on any typed array in place. */
import { tsDirect } from '../kernels/direct.js';
import { gemm, GEMM_SCRATCH_BYTES } from '../kernels/gemm.js';
import { col2im, im2col } from '../kernels/im2col.js';
import { scratch } from '../kernels/workspace.js';
import type { KernelEngine } from './engine.js';

export const tsEngine: KernelEngine = {
  name: 'ts',
  isa: 'scalar float64',
  elementBytes: 8,
  gemmScratchBytes: GEMM_SCRATCH_BYTES,
  readsInPlace: true,
  buffers<K extends string>(lengths: Record<K, number>) {
    const out = {} as Record<K, Float64Array>;
    for (const key in lengths) out[key] = scratch(`conv.${key}`, lengths[key]);
    return out;
  },
  reads: () => true,
  gemm(m, n, k, a, b, c, cOffset, ldc, accumulate) {
    if (!(c instanceof Float64Array)) throw new TypeError('the ts engine accumulates into Float64Array');
    gemm(m, n, k, a, b, c, cOffset, ldc, accumulate);
  },
  im2colFor: (p) => ({
    gather: (x, image, group, p0, p1, cols) => im2col(p, x, image, group, p0, p1, cols),
    scatter: (dcols, image, group, p0, p1, dx) => col2im(p, dcols, image, group, p0, p1, dx),
  }),
  direct: tsDirect,
};
