/**
 * Kernel engines: where the conv tiles live and which arithmetic kernels run on them.
 *
 * The conv orchestration (kernels/conv.ts, kernels/depthwise.ts) is written once against this
 * interface, and kernels/plan.ts sizes its tiles and buffers from what an engine declares here.
 * An engine owns the tile buffers (im2col columns, accumulators, staged operands) and runs the
 * im2col / col2im, the GEMM C (+)= A · B and the direct depthwise correlation on views into
 * memory it can read. The engines (engines/index.ts picks one):
 *   ts    float64 scratch, the TypeScript GEMM, im2col / col2im and direct loops; reads any
 *         typed array in place. Float32 data is accumulated in float64 and rounded once. The
 *         reference path (engines/ts.ts).
 *   wasm  buffers are views into a WebAssembly memory and the kernels are the SIMD ones of
 *         workers/wasm/: GEMM and im2col / col2im for both dtypes, the direct depthwise kernels
 *         for float32 (float64 runs the TypeScript direct loops on the same buffers); operands
 *         outside that memory are staged (copied) into it first. Products and sums in the
 *         dtype, with fused multiply-adds where the runtime has relaxed SIMD (engines/wasm.ts).
 *   native a Node-API addon (native/): the system BLAS's GEMM and C++ im2col / col2im in the
 *         request's dtype, on the callers' typed arrays in place; buffers are typed arrays of
 *         the dtype; the direct depthwise kernels in C++; and, where it measures faster, oneDNN's
 *         direct convolution for whole float32 calls (engines/native.ts).
 */
import type { Real } from '../../src/shared/tensor.js';
import type { DirectKernels } from '../kernels/direct.js';
import type { MatrixView } from '../kernels/gemm.js';
import type { ConvDims } from '../kernels/lowering.js';

export type EngineName = 'ts' | 'wasm' | 'native';

/** An engine's im2col / col2im for one lowered convolution, prepared once per call (see `KernelEngine.im2colFor`). */
export interface Im2col {
  /**
   * cols [K × (p1 - p0)] = im2col of group `group`, positions [p0, p1), of the image at element
   * offset `image` of x (x readable by the engine; cols a view with unit column stride into
   * one of its buffers).
   */
  gather(x: Real, image: number, group: number, p0: number, p1: number, cols: MatrixView): void;
  /** dx += col2im(dcols), the adjoint of gather, for the image at element offset `image` of dx. */
  scatter(dcols: MatrixView, image: number, group: number, p0: number, p1: number, dx: Real): void;
}

/**
 * A whole convolution call run by the engine's library (oneDNN on native float32), planned
 * once for one ConvDims: the images [batchStart, batchEnd) of the caller's tensors, read and
 * written in place. Every output is overwritten (grad_weight is the range's partial sum).
 */
export interface LibraryConvolution {
  /**
   * Forward and grad_weight return false, computing nothing, where the library cannot give the
   * definition's answer for these values (oneDNN: a non-finite weight, or dY, meeting zero
   * padding); the plan's algorithm runs the pass then.
   */
  forward(x: Real, w: Real, bias: Real | null, y: Real): boolean;
  gradWeight(x: Real, dy: Real, dw: Real): boolean;
  /** Absent where the library's grad_input measured slower than col2im + GEMM: the plan's algorithm runs it then. */
  gradInput?: (w: Real, dy: Real, dx: Real) => void;
}

export interface KernelEngine {
  readonly name: EngineName;
  /** The instruction set its kernels run on (reported by the convd_kernel_info metric and the bench). */
  readonly isa: string;
  /** Bytes per element of the engine's buffers (its accumulation precision). */
  readonly elementBytes: 4 | 8;
  /** Bytes of fixed scratch the engine's GEMM holds besides the buffers asked for. */
  readonly gemmScratchBytes: number;
  /** Whether the kernels read the caller's typed arrays in place (ts, native); if not (wasm), plans stage them into the engine's buffers. */
  readonly readsInPlace: boolean;
  /**
   * Dense buffers of at least the given element counts, valid until the next call of
   * `buffers` on this engine (one conv call asks once per pass, for what its plan sized).
   */
  buffers<K extends string>(lengths: Record<K, number>): Record<K, Real>;
  /** Whether the kernels can read `data` in place; otherwise it must be staged into a buffer. */
  reads(data: Real): boolean;
  /** C[i, j] = (accumulate ? C[i, j] : 0) + sum_l A[i, l] B[l, j], C = c[cOffset + i * ldc + j]. */
  gemm(
    m: number,
    n: number,
    k: number,
    a: MatrixView,
    b: MatrixView,
    c: Real,
    cOffset: number,
    ldc: number,
    accumulate: boolean,
  ): void;
  /** The im2col / col2im of `dims`, with whatever the engine derives from them computed once (kernels/plan.ts asks). */
  im2colFor(dims: ConvDims): Im2col;
  /** Direct correlation of one channel on dense volumes in the engine's buffers. */
  readonly direct: DirectKernels;
  /**
   * The library's convolution for `dims`, when the engine has one and it is the faster way for
   * these dims (its passes then run there, kernels/plan.ts); null otherwise.
   */
  readonly convolution?: (dims: ConvDims) => LibraryConvolution | null;
}
