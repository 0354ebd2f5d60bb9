/**
 * unfold (im2col) and fold (col2im) as operations of their own (PyTorch F.unfold / F.fold,
 * 1-D to 3-D): the convolution's own traversal (im2col.ts) over the whole image, one group of
 * all C channels, writing the columns [N, C × prod(k), L] in PyTorch's row order
 * c × prod(k) + kernel offset whatever the image's layout. fold scatters with col2im, the
 * adjoint of im2col, so <unfold(x), cols> = <x, fold(cols)>. No GEMM: the copies run in the
 * request's dtype, fold's sums of overlapping windows too (as PyTorch does).
 */
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import type { BatchRange, Real } from '../../src/shared/tensor.js';
import { col2im, im2col } from './im2col.js';
import { lowerConv, type ConvDims } from './lowering.js';
import type { MatrixView } from './gemm.js';

/** The lowered unfold: rows channel-major (c × prod(k) + kernel offset) in both layouts. */
function unfoldDims(g: ConvGeometry, batch?: BatchRange): ConvDims {
  const p = lowerConv(g, batch);
  return { ...p, rowPerChannel: p.kSize, rowPerOffset: 1 };
}

/** Image n's columns [C × prod(k) × L] inside the columns tensor. */
function columnsOf(p: ConvDims, cols: Real, n: number): MatrixView {
  return { data: cols, offset: n * p.K * p.positions, rowStride: p.positions, colStride: 1 };
}

/** cols = unfold(x) for the images of `batch` (all by default); x shaped like g.inputShape, cols like g.outputShape. */
export function unfold(g: ConvGeometry, x: Real, cols: Real, batch?: BatchRange): void {
  const p = unfoldDims(g, batch);
  for (let n = p.batchStart; n < p.batchEnd; n++) im2col(p, x, n * p.xN, 0, 0, p.positions, columnsOf(p, cols, n));
}

/** x = fold(cols) (overwritten) for the images of `batch` (all by default): every column element added where unfold took it from. */
export function fold(g: ConvGeometry, cols: Real, x: Real, batch?: BatchRange): void {
  const p = unfoldDims(g, batch);
  x.fill(0, p.batchStart * p.xN, p.batchEnd * p.xN);
  for (let n = p.batchStart; n < p.batchEnd; n++) col2im(p, columnsOf(p, cols, n), n * p.xN, 0, 0, p.positions, x);
}
