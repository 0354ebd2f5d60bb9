/**
 * Adaptive max, average and lp pooling, forward and backward, by direct loops over each
 * output's window (src/shared/geometry/adaptive-pooling.ts: per dim [floor(o * in / out),
 * ceil((o + 1) * in / out))). The windows differ in size and may overlap, so there is no
 * im2col; both layouts become element strides, 1-D and 2-D get leading extents of 1.
 *
 *   max   PyTorch's rule as in pooling.ts: from -Infinity, a value replaces the maximum when
 *         it is greater or NaN; the index starts at the window's first element (a window of
 *         -Infinity only indexes it); indices are flat over the channel's spatial extents,
 *         row-major, or column-major with storage_order 1 (pooling.ts columnMajor).
 *   avg   the window mean.
 *   lp    S^(1/p), S = sum x^p (|x|^p with lp_abs), as pooling.ts (backward dy x^(p-1) S^(1/p - 1),
 *         or |x|^(p-1) sign(x) for x^(p-1) with lp_abs; 0 where S = 0 and, with lp_abs, at x = 0).
 *
 * Sums run in float64, rounded once to the output dtype.
 */
import { adaptiveWindow, type AdaptivePoolingGeometry } from '../../src/shared/geometry/adaptive-pooling.js';
import type { BatchRange, Real } from '../../src/shared/tensor.js';
import { to3 } from './lowering.js';
import { columnMajor, powerSlope } from './pooling.js';

/** The windows of one dim: starts and ends per output. */
function windows(n: number, out: number): { start: Int32Array; end: Int32Array } {
  const start = new Int32Array(out);
  const end = new Int32Array(out);
  for (let o = 0; o < out; o++) [start[o], end[o]] = adaptiveWindow(o, n, out);
  return { start, end };
}

/**
 * Calls `visit` for every output element of images [batchStart, batchEnd) with its flat
 * output index, the input offset of its (n, c) plane, the element strides of the input's
 * spatial dims, and its window per dim.
 */
function forEachWindow(
  g: AdaptivePoolingGeometry,
  batch: BatchRange,
  visit: (
    yi: number,
    base: number,
    w: { d0: number; d1: number; h0: number; h1: number; w0: number; w1: number },
  ) => void,
): void {
  const [inD, inH, inW] = to3(g.inSpatial, 1);
  const [oD, oH, oW] = to3(g.outSpatial, 1);
  const [wd, wh, ww] = [windows(inD, oD), windows(inH, oH), windows(inW, oW)];
  const C = g.channels;
  const last = g.layout === 'channels_last';
  const inPlane = inD * inH * inW;
  const outPlane = oD * oH * oW;
  const w = { d0: 0, d1: 0, h0: 0, h1: 0, w0: 0, w1: 0 };
  for (let n = batch[0]; n < batch[1]; n++) {
    for (let c = 0; c < C; c++) {
      const base = last ? n * inPlane * C + c : (n * C + c) * inPlane;
      for (let od = 0, q = 0; od < oD; od++) {
        [w.d0, w.d1] = [wd.start[od], wd.end[od]];
        for (let oh = 0; oh < oH; oh++) {
          [w.h0, w.h1] = [wh.start[oh], wh.end[oh]];
          for (let ow = 0; ow < oW; ow++, q++) {
            [w.w0, w.w1] = [ww.start[ow], ww.end[ow]];
            visit(last ? (n * outPlane + q) * C + c : (n * C + c) * outPlane + q, base, w);
          }
        }
      }
    }
  }
}

/** Element stride of the W axis (channels_last: C); H and D follow. */
const strideW = (g: AdaptivePoolingGeometry) => (g.layout === 'channels_last' ? g.channels : 1);

/** The window's max and its flat spatial index (PyTorch's rule), or its power sum S / plain sum. */
function reduce(
  g: AdaptivePoolingGeometry,
  x: Real,
  base: number,
  w: { d0: number; d1: number; h0: number; h1: number; w0: number; w1: number },
): { value: number; index: number; count: number } {
  const [, inH, inW] = to3(g.inSpatial, 1);
  const sw = strideW(g);
  let value = g.mode === 'max' ? -Infinity : 0;
  let index = (w.d0 * inH + w.h0) * inW + w.w0;
  for (let d = w.d0; d < w.d1; d++)
    for (let h = w.h0; h < w.h1; h++)
      for (let i = w.w0; i < w.w1; i++) {
        const at = (d * inH + h) * inW + i;
        const v = x[base + at * sw];
        if (g.mode === 'max') {
          if (v > value || v !== v) {
            value = v;
            index = at;
          }
        } else value += g.mode === 'lp' ? Math.pow(g.lpAbs ? Math.abs(v) : v, g.p) : v;
      }
  return { value, index, count: (w.d1 - w.d0) * (w.h1 - w.h0) * (w.w1 - w.w0) };
}

/** y = adaptive pool(x); `indices` (max only, shaped like y) receives each maximum's spatial index when given. */
export function adaptivePoolForward(
  g: AdaptivePoolingGeometry,
  x: Real,
  y: Real,
  batch: BatchRange = [0, g.batch],
  indices?: Real,
): void {
  const extents = to3(g.inSpatial, 1);
  forEachWindow(g, batch, (yi, base, w) => {
    const r = reduce(g, x, base, w);
    y[yi] = g.mode === 'max' ? r.value : g.mode === 'lp' ? Math.pow(r.value, 1 / g.p) : r.value / r.count;
    if (indices) indices[yi] = g.storageOrder === 1 ? columnMajor(r.index, extents) : r.index;
  });
}

/** dx = gradient of sum(adaptive pool(x) * dy) w.r.t. x, dx preallocated like x (its images in `batch` overwritten). */
export function adaptivePoolBackward(
  g: AdaptivePoolingGeometry,
  x: Real,
  dy: Real,
  dx: Real,
  batch: BatchRange = [0, g.batch],
): void {
  const [, inH, inW] = to3(g.inSpatial, 1);
  const sw = strideW(g);
  const image = dx.length / g.batch;
  dx.fill(0, batch[0] * image, batch[1] * image);
  forEachWindow(g, batch, (yi, base, w) => {
    if (g.mode === 'max') {
      dx[base + reduce(g, x, base, w).index * sw] += dy[yi];
      return;
    }
    // avg: dy / count to each element (x not read); lp: dy S^(1/p - 1) x^(p-1), none where S = 0
    const s = g.mode === 'lp' ? reduce(g, x, base, w).value : 0;
    const count = (w.d1 - w.d0) * (w.h1 - w.h0) * (w.w1 - w.w0);
    const scale = g.mode === 'avg' ? dy[yi] / count : s === 0 ? 0 : dy[yi] * Math.pow(s, 1 / g.p - 1);
    for (let d = w.d0; d < w.d1; d++)
      for (let h = w.h0; h < w.h1; h++)
        for (let i = w.w0; i < w.w1; i++) {
          const at = base + ((d * inH + h) * inW + i) * sw;
          dx[at] += g.mode === 'avg' ? scale : scale * powerSlope(x[at], g.p, g.lpAbs);
        }
  });
}
