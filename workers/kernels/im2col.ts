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
import type { PaddingMode } from '../../src/shared/geometry/common.js';
import type { Real } from '../../src/shared/tensor.js';
import type { MatrixView } from './gemm.js';
import type { ConvDims } from './lowering.js';

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
 * Called once per (matrix row, output row segment): the index of the segment's first element
 * in the column matrix, the input offset of its (n, channel, d, h) line or -1 when that line is all
 * padding zeros, the padded W coordinate of its first element and its length.
 */
type SegmentVisitor = (col: number, lineBase: number, w0: number, count: number) => void;

/**
 * Walks the tile's im2col matrix row by row, in segments along the output W axis, for the
 * image whose first element is at offset `image` of the input.
 */
function forEachSegment(
  p: ConvDims,
  image: number,
  group: number,
  p0: number,
  p1: number,
  cols: MatrixView,
  visit: SegmentVisitor,
): void {
  const [inD, inH] = p.inExt;
  const [kD, kH, kW] = p.kExt;
  const [, oH, oW] = p.outExt;
  const [sD, sH, sW] = p.stride;
  const [dD, dH, dW] = p.dilation;
  const [padD, padH, padW] = p.padBefore;
  const [xD, xH] = p.xSpatial;
  const mode = p.paddingMode;
  for (let ci = 0; ci < p.cinG; ci++) {
    const channelBase = image + (group * p.cinG + ci) * p.xC;
    for (let kd = 0; kd < kD; kd++) {
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          const row = ci * p.rowPerChannel + ((kd * kH + kh) * kW + kw) * p.rowPerOffset;
          let col = cols.offset + row * cols.rowStride;
          for (let q = p0; q < p1;) {
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
 * One line of padded W coordinates w0, w0 + step, ... (count of them) over an input line
 * starting at `lineBase`, whose W axis has `extent` elements `stride` apart.
 */
export interface Line {
  lineBase: number;
  w0: number;
  step: number;
  count: number;
  extent: number;
  stride: number;
  mode: PaddingMode;
}

/** The part [first, end) of a line that reads the input directly; the rest is padding. */
function interior(l: Line): [number, number] {
  const first = l.w0 >= 0 ? 0 : Math.min(l.count, Math.ceil(-l.w0 / l.step));
  const end = Math.max(first, Math.min(l.count, Math.ceil((l.extent - l.w0) / l.step)));
  return [first, end];
}

/** Input index that padded element i of the line copies, or -1 for a zero. */
function paddedSource(l: Line, i: number): number {
  const sw = sourceIndex(l.w0 + i * l.step, l.extent, l.mode);
  return sw < 0 ? -1 : l.lineBase + sw * l.stride;
}

/**
 * out[at + i] = x at padded coordinate w0 + i * step of the line (`fill`, 0 by default, where
 * padding is zero; pooling fills -Infinity for max).
 */
export function gatherLine(x: Real, l: Line, out: Real, at: number, fill = 0): void {
  const [first, end] = interior(l);
  for (let i = 0; i < first; i++) {
    const src = paddedSource(l, i);
    out[at + i] = src < 0 ? fill : x[src];
  }
  for (let i = end; i < l.count; i++) {
    const src = paddedSource(l, i);
    out[at + i] = src < 0 ? fill : x[src];
  }
  const src = l.lineBase + (l.w0 + first * l.step) * l.stride;
  if (
    l.step === 1 &&
    l.stride === 1 &&
    end - first >= MEMCPY_MIN &&
    Object.getPrototypeOf(x) === Object.getPrototypeOf(out)
  ) {
    out.set(x.subarray(src, src + end - first), at + first); // same element type: one memcpy
  } else {
    const jump = l.step * l.stride;
    for (let i = first, j = src; i < end; i++, j += jump) out[at + i] = x[j];
  }
}

/** dx at padded coordinate w0 + i * step of the line += g[at + i]: the adjoint of gatherLine. */
export function scatterLine(g: Real, at: number, l: Line, dx: Real): void {
  const [first, end] = interior(l);
  for (let i = 0; i < first; i++) {
    const dst = paddedSource(l, i);
    if (dst >= 0) dx[dst] += g[at + i];
  }
  for (let i = end; i < l.count; i++) {
    const dst = paddedSource(l, i);
    if (dst >= 0) dx[dst] += g[at + i];
  }
  const jump = l.step * l.stride;
  for (let i = first, j = l.lineBase + (l.w0 + first * l.step) * l.stride; i < end; i++, j += jump) dx[j] += g[at + i];
}

/** Interiors at least this long are copied with one memcpy (measured: from about 16 elements on, cheaper than a loop). */
const MEMCPY_MIN = 16;

/**
 * The W lines of a tile's segments (see forEachSegment): one Line per im2col / col2im call,
 * updated in place for each segment, so the per-segment work allocates nothing.
 */
function segmentLines(p: ConvDims): (lineBase: number, w0: number, count: number) => Line {
  const line: Line = {
    lineBase: 0,
    w0: 0,
    step: p.stride[2],
    count: 0,
    extent: p.inExt[2],
    stride: p.xSpatial[2],
    mode: p.paddingMode,
  };
  return (lineBase, w0, count) => {
    line.lineBase = lineBase;
    line.w0 = w0;
    line.count = count;
    return line;
  };
}

/**
 * cols [K × (p1 - p0)] (a view with unit column stride) = im2col of the image at offset `image`
 * of x (n · xN for image n), group `group`, output positions [p0, p1). Zeros of the zeros
 * padding mode are written as `fill` (0 by default; pooling asks for -Infinity).
 * workers/wasm/im2col.ts is the WebAssembly twin.
 */
export function im2col(
  p: ConvDims,
  x: Real,
  image: number,
  group: number,
  p0: number,
  p1: number,
  cols: MatrixView,
  fill = 0,
): void {
  const segmentLine = segmentLines(p);
  const out = cols.data;
  forEachSegment(p, image, group, p0, p1, cols, (col, lineBase, w0, count) => {
    if (lineBase < 0) out.fill(fill, col, col + count);
    else gatherLine(x, segmentLine(lineBase, w0, count), out, col, fill);
  });
}

/** dx += col2im(dcols) for the image at offset `image` of dx, group `group`, output positions [p0, p1). */
export function col2im(
  p: ConvDims,
  dcols: MatrixView,
  image: number,
  group: number,
  p0: number,
  p1: number,
  dx: Real,
): void {
  const segmentLine = segmentLines(p);
  forEachSegment(p, image, group, p0, p1, dcols, (col, lineBase, w0, count) => {
    if (lineBase >= 0) scatterLine(dcols.data, col, segmentLine(lineBase, w0, count), dx);
  });
}
