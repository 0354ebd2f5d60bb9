/**
 * Kernel engines: where the conv tiles live and which arithmetic kernels run on them.
 *
 * The conv orchestration (conv.ts, depthwise.ts) is written once against this interface. An
 * engine owns the tile buffers (im2col columns, accumulators, staged operands) and runs the
 * im2col / col2im (im2col.ts), the GEMM C (+)= A · B and the direct depthwise correlation
 * (direct.ts) on views into memory it can read. Two engines exist:
 *   ts    float64 scratch, the TypeScript GEMM (gemm.ts) and direct loops (direct.ts); reads
 *         any typed array in place. Float32 data is accumulated in float64 and rounded once.
 *         The reference path.
 *   wasm  buffers are views into a WebAssembly memory and the kernels are the SIMD ones of
 *         workers/wasm/ (see wasm-engine.ts; for float64 only the GEMM, the rest is the
 *         TypeScript loops); operands outside that memory are staged (copied) into it first.
 *         Products and sums in the dtype, with fused multiply-adds where the runtime has
 *         relaxed SIMD.
 * `CONVD_KERNEL=ts|wasm` picks one; by default both dtypes use wasm when it loads.
 */
import type { DType, Real } from '../../src/shared/tensor.js';
import { tsDirect, type DirectKernels } from './direct.js';
import { gemm, GEMM_SCRATCH_BYTES, type MatrixView } from './gemm.js';
import { col2im, im2col } from './im2col.js';
import type { ConvPlan } from './plan.js';
import { wasmEngine } from './wasm-engine.js';
import { scratch } from './workspace.js';

export type EngineName = 'ts' | 'wasm';

export interface KernelEngine {
  readonly name: EngineName;
  /** The instruction set its kernels run on (reported by the bench). */
  readonly isa: string;
  /** Bytes per element of the engine's buffers (its accumulation precision). */
  readonly elementBytes: 4 | 8;
  /** Bytes of fixed scratch the engine's GEMM holds besides the buffers asked for. */
  readonly gemmScratchBytes: number;
  /**
   * Dense buffers of at least the given element counts, valid until the next call of
   * `buffers` on this engine (one conv call asks once, for everything it needs).
   */
  buffers<K extends string>(lengths: Record<K, number>): Record<K, Real>;
  /** Whether the GEMM can read `data` in place; otherwise it must be staged into a buffer. */
  reads(data: Real): boolean;
  /** C[i, j] = (accumulate ? C[i, j] : 0) + sum_l A[i, l] B[l, j], C = c[cOffset + i * ldc + j]. */
  gemm(m: number, n: number, k: number, a: MatrixView, b: MatrixView, c: Real, cOffset: number, ldc: number, accumulate: boolean): void;
  /**
   * cols [K × (p1 - p0)] = im2col of group `group`, positions [p0, p1), of the image at element
   * offset `image` of x (x readable by the engine; cols a view with unit column stride into
   * one of its buffers).
   */
  im2col(p: ConvPlan, x: Real, image: number, group: number, p0: number, p1: number, cols: MatrixView): void;
  /** dx += col2im(dcols), the adjoint of im2col, for the image at element offset `image` of dx. */
  col2im(p: ConvPlan, dcols: MatrixView, image: number, group: number, p0: number, p1: number, dx: Real): void;
  /** Direct correlation of one channel on dense volumes in the engine's buffers. */
  readonly direct: DirectKernels;
}

export const tsEngine: KernelEngine = {
  name: 'ts',
  isa: 'scalar float64',
  elementBytes: 8,
  gemmScratchBytes: GEMM_SCRATCH_BYTES,
  buffers<K extends string>(lengths: Record<K, number>): Record<K, Real> {
    const out = {} as Record<K, Real>;
    for (const key in lengths) out[key] = scratch(`conv.${key}`, lengths[key]);
    return out;
  },
  reads: () => true,
  gemm(m, n, k, a, b, c, cOffset, ldc, accumulate) {
    if (!(c instanceof Float64Array)) throw new TypeError('the ts engine accumulates into Float64Array');
    gemm(m, n, k, a, b, c, cOffset, ldc, accumulate);
  },
  im2col: (p, x, image, group, p0, p1, cols) => im2col(p, x, image, group, p0, p1, cols),
  col2im,
  direct: tsDirect,
};

/** The engine for a dtype: `requested` (or CONVD_KERNEL), by default wasm when it loads, else ts. */
export function engineFor(dtype: DType, requested: EngineName | undefined = kernelFromEnv()): KernelEngine {
  if (requested !== 'ts') {
    const wasm = wasmEngine(dtype);
    if (wasm) return wasm;
    if (requested === 'wasm') throw new Error('CONVD_KERNEL=wasm but the WebAssembly SIMD kernel could not be loaded');
  }
  return tsEngine;
}

function kernelFromEnv(): EngineName | undefined {
  const v = process.env.CONVD_KERNEL;
  if (v === undefined || v === '') return undefined;
  if (v !== 'ts' && v !== 'wasm') throw new Error(`CONVD_KERNEL is ${JSON.stringify(v)}; expected ts or wasm`);
  return v;
}
