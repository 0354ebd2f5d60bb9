/**
 * im2col and col2im over a tile of output positions of one image and one group.
 *
 * The column matrix has one row per (input channel, kernel offset) (see plan.ts for the row
 * order) and one column per output position p in [p0, p1): cols[row, p - p0] is the input
 * value that kernel offset meets at output position p. Padding is never materialised: each
 * padded coordinate is mapped to the input coordinate it copies (reflect / replicate /
 * circular) or to "zero" (zeros), so
 *   im2col gathers   cols[row, p] = x[source(row, p)]   (or 0), and
 *   col2im scatters  dx[source(row, p)] += dcols[row, p] (zero positions dropped),
 * which is exactly the adjoint: gradient reaching a padded position flows back to the input
 * position it copied, as in PyTorch's autograd of F.pad.
 */
import type { PaddingMode, Real } from '../../src/conv/types.js';
import type { ConvPlan } from './plan.js';

/**
 * The input coordinate a padded coordinate `pos` reads in an axis of `extent`, or -1 for a
 * zero. Valid for -extent < pos < 2 * extent (the geometry bounds padding by the extent).
 */
export function sourceIndex(pos: number, extent: number, mode: PaddingMode): number {
  if (pos >= 0 && pos < extent) return pos;
  switch (mode) {
    case 'zeros':
      return -1;
    case 'reflect': // ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
      return pos < 0 ? -pos : 2 * (extent - 1) - pos;
    case 'replicate':
      return pos < 0 ? 0 : extent - 1;
    case 'circular':
      return pos < 0 ? pos + extent : pos - extent;
  }
}

/**
 * Called once per (matrix row, output row segment): the segment's first column index in the
 * tile matrix, the input offset of its (n, channel, d, h) line or -1 when that line is all
 * padding zeros, the padded W coordinate of its first element and its length.
 */
type SegmentVisitor = (col: number, lineBase: number, w0: number, count: number) => void;

/** Walks the tile's im2col matrix row by row, in segments along the output W axis. */
function forEachSegment(p: ConvPlan, n: number, group: number, p0: number, p1: number, visit: SegmentVisitor): void {
  const width = p1 - p0;
  const [inD, inH] = p.inExt;
  const [kD, kH, kW] = p.kExt;
  const [, oH, oW] = p.outExt;
  const [sD, sH, sW] = p.stride;
  const [dD, dH, dW] = p.dilation;
  const [padD, padH, padW] = p.padBefore;
  const [xD, xH] = p.xSpatial;
  const mode = p.paddingMode;
  for (let ci = 0; ci < p.cinG; ci++) {
    const channelBase = n * p.xN + (group * p.cinG + ci) * p.xC;
    for (let kd = 0; kd < kD; kd++) {
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          const row = ci * p.rowPerChannel + ((kd * kH + kh) * kW + kw) * p.rowPerOffset;
          let col = row * width;
          for (let q = p0; q < p1; ) {
            const outRow = Math.floor(q / oW);
            const ow = q - outRow * oW;
            const count = Math.min(oW - ow, p1 - q);
            const od = Math.floor(outRow / oH);
            const oh = outRow - od * oH;
            const sd = sourceIndex(od * sD - padD + kd * dD, inD, mode);
            const sh = sourceIndex(oh * sH - padH + kh * dH, inH, mode);
            const lineBase = sd < 0 || sh < 0 ? -1 : channelBase + sd * xD + sh * xH;
            visit(col, lineBase, ow * sW - padW + kw * dW, count);
            col += count;
            q += count;
          }
        }
      }
    }
  }
}

/**
 * Splits a segment of `count` padded W coordinates w0, w0 + step, ... into the head and tail
 * that fall in the padding and the interior [first, end) that reads the input directly.
 */
function interior(w0: number, step: number, count: number, extent: number): [number, number] {
  const first = w0 >= 0 ? 0 : Math.min(count, Math.ceil(-w0 / step));
  const end = Math.max(first, Math.min(count, Math.ceil((extent - w0) / step)));
  return [first, end];
}

/** cols[K × (p1 - p0)] = im2col of image n, group `group`, output positions [p0, p1). */
export function im2col(p: ConvPlan, x: Real, n: number, group: number, p0: number, p1: number, cols: Real): void {
  const inW = p.inExt[2];
  const sW = p.stride[2];
  const xW = p.xSpatial[2];
  const mode = p.paddingMode;
  // Same element type and unit strides: the interior of a segment is one memcpy.
  const contiguous = sW === 1 && xW === 1 && Object.getPrototypeOf(x) === Object.getPrototypeOf(cols);
  const padded = (col: number, lineBase: number, w: number) => {
    const sw = sourceIndex(w, inW, mode);
    cols[col] = sw < 0 ? 0 : x[lineBase + sw * xW];
  };
  forEachSegment(p, n, group, p0, p1, (col, lineBase, w0, count) => {
    if (lineBase < 0) {
      cols.fill(0, col, col + count);
      return;
    }
    const [first, end] = interior(w0, sW, count, inW);
    for (let i = 0; i < first; i++) padded(col + i, lineBase, w0 + i * sW);
    if (contiguous) {
      cols.set(x.subarray(lineBase + w0 + first, lineBase + w0 + end), col + first);
    } else {
      for (let i = first, src = lineBase + (w0 + first * sW) * xW; i < end; i++, src += sW * xW) cols[col + i] = x[src];
    }
    for (let i = end; i < count; i++) padded(col + i, lineBase, w0 + i * sW);
  });
}

/** dx += col2im(dcols) for image n, group `group`, output positions [p0, p1). */
export function col2im(p: ConvPlan, dcols: Real, n: number, group: number, p0: number, p1: number, dx: Real): void {
  const inW = p.inExt[2];
  const sW = p.stride[2];
  const xW = p.xSpatial[2];
  const mode = p.paddingMode;
  const padded = (col: number, lineBase: number, w: number) => {
    const sw = sourceIndex(w, inW, mode);
    if (sw >= 0) dx[lineBase + sw * xW] += dcols[col];
  };
  forEachSegment(p, n, group, p0, p1, (col, lineBase, w0, count) => {
    if (lineBase < 0) return;
    const [first, end] = interior(w0, sW, count, inW);
    for (let i = 0; i < first; i++) padded(col + i, lineBase, w0 + i * sW);
    for (let i = first, dst = lineBase + (w0 + first * sW) * xW; i < end; i++, dst += sW * xW) dx[dst] += dcols[col + i];
    for (let i = end; i < count; i++) padded(col + i, lineBase, w0 + i * sW);
  });
}
