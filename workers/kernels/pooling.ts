/**
 * Max, average and power-average (lp) pooling, forward and backward, on the convolution's
 * im2col / col2im traversal (im2col.ts): the pooling's window geometry (src/shared/geometry/
 * pooling.ts) is a depthwise convolution, so the im2col matrix of one image and channel has
 * one row per window offset, in row-major window order, and one column per output position:
 *
 *   avg forward    y[p]  = sum_r cols[r, p] / divisor(p)
 *   max forward    y[p]  = max_r cols[r, p]          (padding gathered as -Infinity)
 *   lp forward     y[p]  = S^(1/p),  S = sum_r cols[r, p]^p   (padding gathered as 0;
 *                                          |cols[r, p]|^p with lp_abs)
 *   avg backward   dx   += col2im(dcols),  dcols[r, p] = dy[p] / divisor(p) for every r
 *   max backward   dx   += col2im(dcols),  dcols[r, p] = dy[p] at r = argmax of column p, else 0
 *   lp backward    dx   += col2im(dcols),  dcols[r, p] = dy[p] cols[r, p]^(p-1) S^(1/p - 1)
 *                                          (chain rule through S^(1/p) and x^p; 0 where S = 0;
 *                                          with lp_abs |x|^(p-1) sign(x) for x^(p-1), 0 at x = 0)
 *
 * The lp form is PyTorch's lp_pool, (sign(S) relu(|S|))^(1/p) = S^(1/p): x^p, not |x|^p, so a
 * negative S gives NaN unless p = 1, and at S = 0 its relu passes no gradient. lp_abs sums
 * ONNX LpPool's |x|^p instead (the same for even p or x >= 0); its gradient takes the same 0 at
 * S = 0, and 0 at x = 0 (sign(0) = 0, whatever |0|^(p-1) is). col2im drops what lands on padding, so padded positions never receive
 * gradient. The max follows PyTorch's CPU kernel exactly: a value replaces the running
 * maximum when it is greater or NaN (`v > max || isnan(v)`), starting from -Infinity at the
 * window's first non-padded element; so ties go to the first maximum in row-major window
 * order and a NaN is the maximum (with several NaNs, the last one, as in PyTorch). A window
 * whose values are all -Infinity routes its gradient to (and indexes) its first non-padded
 * element; one with no input element at all (possible with dilation) outputs -Infinity, has
 * index -1 and routes nowhere. Indices are PyTorch's: flat over the channel's spatial extents,
 * (id * inH + ih) * inW + iw, whatever the layout; with storage_order 1 column-major instead,
 * id + inD * (ih + inH * iw) (ONNX MaxPool's, less its (n * C + c) * prod(spatial)).
 *
 * The divisor is divisor_override when given; else, per dim, the number of window elements
 * (o * stride - before + j * dilation, j < k) inside the padded input [-before, in + after)
 * with count_include_pad (PyTorch clips the window to the padded input the same way, which
 * matters with ceil_mode), or inside the input [0, in) without; the divisor is their product.
 *
 * No GEMM: the reductions run in TypeScript on float64 (sums rounded once to the output
 * dtype), on either dtype. Output positions are tiled so that the columns and their
 * per-position state fit the thread's tile budget (workspace.ts).
 */
import type { PoolingSettings } from '../../src/shared/geometry/pooling.js';
import type { BatchRange, Real } from '../../src/shared/tensor.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import type { MatrixView } from './gemm.js';
import { col2im, im2col } from './im2col.js';
import { outputMatrix, lowerConv, to3, type ConvDims } from './lowering.js';
import { scratch, tileBudget } from './workspace.js';

/** Output positions per tile for `bytesPerPosition` bytes of buffers per position. */
function tilePositions(p: ConvDims, bytesPerPosition: number): number {
  return Math.max(1, Math.min(p.positions, Math.floor(tileBudget() / bytesPerPosition)));
}

/**
 * Column buffer in the data's element type (float32 columns of float32 data are gathered by
 * memcpy where lines are contiguous), carved from a float64 workspace slot.
 */
function columns(x: Real, length: number): Real {
  if (!(x instanceof Float32Array)) return scratch('pool.cols', length).subarray(0, length);
  return new Float32Array(scratch('pool.cols', Math.ceil(length / 2)).buffer, 0, length);
}

/** A dense column matrix for positions [p0, p1): row stride p1 - p0. */
const denseColumns = (data: Real, p0: number, p1: number): MatrixView => ({
  data,
  offset: 0,
  rowStride: p1 - p0,
  colStride: 1,
});

/** Window offsets per output position (the im2col rows of one channel). */
const rowsOf = (p: ConvDims) => p.kSize;

/** How many of the window elements start + j * dilation, j < k, lie in [lo, hi). */
function countIn(start: number, k: number, dilation: number, lo: number, hi: number): number {
  const first = Math.max(0, Math.ceil((lo - start) / dilation));
  const last = Math.min(k - 1, Math.floor((hi - 1 - start) / dilation));
  return Math.max(0, last - first + 1);
}

type Tables = [Float64Array, Float64Array, Float64Array];

/**
 * Per-dim tables whose product over an output position's (od, oh, ow) is its divisor (see the
 * header); null with divisor_override, which divides every window alike.
 */
function divisorTables(g: ConvGeometry, p: ConvDims, s: PoolingSettings): Tables | null {
  if (s.divisorOverride !== null) return null;
  const after = to3(g.padAfter, 0);
  return [0, 1, 2].map((i) => {
    const t = new Float64Array(p.outExt[i]);
    const [lo, hi] = s.countIncludePad ? [-p.padBefore[i], p.inExt[i] + after[i]] : [0, p.inExt[i]];
    for (let o = 0; o < t.length; o++) {
      t[o] = countIn(o * p.stride[i] - p.padBefore[i], p.kExt[i], p.dilation[i], lo, hi);
    }
    return t;
  }) as Tables;
}

/** out[j] = divisor of output position p0 + j, j < count. */
function divisors(
  p: ConvDims,
  s: PoolingSettings,
  tables: Tables | null,
  p0: number,
  count: number,
  out: Float64Array,
): void {
  if (!tables) {
    out.fill(s.divisorOverride!, 0, count);
    return;
  }
  const [, oH, oW] = p.outExt;
  const [tD, tH, tW] = tables;
  for (let j = 0; j < count; j++) {
    const q = p0 + j;
    const ow = q % oW;
    const row = (q - ow) / oW;
    const oh = row % oH;
    const od = (row - oh) / oH;
    out[j] = tD[od] * tH[oh] * tW[ow];
  }
}

/**
 * The index of window row r at output position q: the input element's flat position over the
 * channel's spatial extents, row-major (PyTorch's, storage_order 0) or column-major (ONNX
 * storage_order 1: d + D * (h + H * w); the leading extents of 1-D and 2-D are 1).
 */
function spatialIndex(p: ConvDims, q: number, r: number, storageOrder: 0 | 1): number {
  const [, oH, oW] = p.outExt;
  const [, kH, kW] = p.kExt;
  const [, inH, inW] = p.inExt;
  const ow = q % oW;
  const oh = Math.floor(q / oW) % oH;
  const od = Math.floor(q / (oW * oH));
  const kw = r % kW;
  const kh = Math.floor(r / kW) % kH;
  const kd = Math.floor(r / (kW * kH));
  const at = (i: number, o: number, k: number) => o * p.stride[i] - p.padBefore[i] + k * p.dilation[i];
  const [d, h, w] = [at(0, od, kd), at(1, oh, kh), at(2, ow, kw)];
  return storageOrder === 1 ? d + p.inExt[0] * (h + inH * w) : (d * inH + h) * inW + w;
}

/** A row-major flat spatial index over extents [D, H, W] (leading 1s below 3-D) in column-major order: d + D * (h + H * w). */
export function columnMajor(index: number, [inD, inH, inW]: number[]): number {
  const w = index % inW;
  const rest = (index - w) / inW;
  const h = rest % inH;
  return (rest - h) / inH + inD * (h + inH * w);
}

/**
 * Column-wise maximum of cols [rows × width] under PyTorch's rule; arg[j] is the row of the
 * maximum, or -1 when no value beat -Infinity (all -Infinity or padding). Column by column,
 * the running maximum in a local.
 */
function columnMax(cols: Real, rows: number, width: number, max: Float64Array, arg: Int32Array | null): void {
  for (let j = 0; j < width; j++) {
    let m = cols[j];
    let a = m > -Infinity || m !== m ? 0 : -1;
    for (let r = 1, at = width + j; r < rows; r++, at += width) {
      const v = cols[at];
      if (v > m || v !== v) {
        m = v;
        a = r;
      }
    }
    max[j] = m;
    if (arg) arg[j] = a;
  }
}

/** S = sum_r cols[r, j]^p per column j (the lp forward's inner sum), or of |cols[r, j]|^p with `abs`. */
function columnPowerSums(
  cols: Real,
  rows: number,
  width: number,
  power: number,
  abs: boolean,
  sums: Float64Array,
): void {
  sums.fill(0, 0, width);
  if (abs) {
    for (let r = 0, at = 0; r < rows; r++)
      for (let j = 0; j < width; j++, at++) sums[j] += Math.pow(Math.abs(cols[at]), power);
  } else {
    for (let r = 0, at = 0; r < rows; r++) for (let j = 0; j < width; j++, at++) sums[j] += Math.pow(cols[at], power);
  }
}

/**
 * d(x^p)/dx / p: x^(p-1), or for |x|^p (`abs`) |x|^(p-1) sign(x), 0 at x = 0 (sign(0) = 0,
 * also where |0|^(p-1) is infinite).
 */
export function powerSlope(v: number, power: number, abs: boolean): number {
  if (!abs) return Math.pow(v, power - 1);
  return v === 0 ? 0 : Math.sign(v) * Math.pow(Math.abs(v), power - 1);
}

/**
 * y = pool(x), y preallocated with the window geometry's output shape and dtype; `indices`
 * (max only, shaped like y) receives each maximum's spatial index when given.
 */
export function poolForward(
  g: ConvGeometry,
  s: PoolingSettings,
  x: Real,
  y: Real,
  batch?: BatchRange,
  indices?: Real,
): void {
  const p = lowerConv(g, batch);
  const rows = rowsOf(p);
  const itemBytes = x instanceof Float32Array ? 4 : 8;
  const tile = tilePositions(p, rows * itemBytes + 20);
  const cols = columns(x, rows * tile);
  const acc = scratch('pool.acc', tile);
  const div = scratch('pool.div', tile);
  const arg = indices ? new Int32Array(scratch('pool.arg', Math.ceil(tile / 2)).buffer, 0, tile) : null;
  const tables = s.mode === 'avg' ? divisorTables(g, p, s) : null;
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    for (let c = 0; c < p.groups; c++) {
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        const width = p1 - p0;
        const out = outputMatrix(p, y, n, c, p0);
        if (s.mode === 'max') {
          im2col(p, x, n * p.xN, c, p0, p1, denseColumns(cols, p0, p1), -Infinity);
          columnMax(cols, rows, width, acc, arg);
          for (let j = 0, o = out.offset; j < width; j++, o += out.colStride) y[o] = acc[j];
          if (arg && indices) {
            if (arg.subarray(0, width).includes(-1)) firstInputElements(p, x, n, c, p0, p1, cols, arg);
            for (let j = 0, o = out.offset; j < width; j++, o += out.colStride)
              indices[o] = arg[j] < 0 ? -1 : spatialIndex(p, p0 + j, arg[j], s.storageOrder);
          }
        } else if (s.mode === 'lp') {
          im2col(p, x, n * p.xN, c, p0, p1, denseColumns(cols, p0, p1), 0);
          columnPowerSums(cols, rows, width, s.p, s.lpAbs, acc);
          for (let j = 0, o = out.offset; j < width; j++, o += out.colStride) y[o] = Math.pow(acc[j], 1 / s.p);
        } else {
          im2col(p, x, n * p.xN, c, p0, p1, denseColumns(cols, p0, p1), 0);
          acc.fill(0, 0, width);
          for (let r = 0, at = 0; r < rows; r++) for (let j = 0; j < width; j++, at++) acc[j] += cols[at];
          divisors(p, s, tables, p0, width, div);
          for (let j = 0, o = out.offset; j < width; j++, o += out.colStride) y[o] = acc[j] / div[j];
        }
      }
    }
  }
}

/**
 * dx = gradient of sum(pool(x) * dy) w.r.t. x, dx preallocated like x (overwritten; with a
 * `batch` range only those images are written). Max pooling reads x to find each window's
 * maximum again and lp pooling to differentiate its power sum; average pooling does not read x.
 */
export function poolBackward(
  g: ConvGeometry,
  s: PoolingSettings,
  x: Real,
  dy: Real,
  dx: Real,
  batch?: BatchRange,
): void {
  const p = lowerConv(g, batch);
  const rows = rowsOf(p);
  const itemBytes = x instanceof Float32Array ? 4 : 8;
  // columns of x (max, lp), their gradient (float64), max + argmax, S or dy / divisor per position
  const tile = tilePositions(p, rows * (itemBytes + 8) + 24);
  const cols = s.mode === 'avg' ? null : columns(x, rows * tile);
  const dcols = scratch('pool.dcols', rows * tile);
  const acc = scratch('pool.acc', tile);
  const div = scratch('pool.div', tile);
  const arg = new Int32Array(scratch('pool.arg', Math.ceil(tile / 2)).buffer, 0, tile);
  const tables = s.mode === 'avg' ? divisorTables(g, p, s) : null;
  dx.fill(0, p.batchStart * p.xN, p.batchEnd * p.xN);
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    for (let c = 0; c < p.groups; c++) {
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        const width = p1 - p0;
        const grad = outputMatrix(p, dy, n, c, p0);
        if (s.mode === 'max') {
          im2col(p, x, n * p.xN, c, p0, p1, denseColumns(cols!, p0, p1), -Infinity);
          columnMax(cols!, rows, width, acc, arg);
          if (arg.subarray(0, width).includes(-1)) firstInputElements(p, x, n, c, p0, p1, cols!, arg);
          dcols.fill(0, 0, rows * width);
          for (let j = 0, o = grad.offset; j < width; j++, o += grad.colStride) {
            if (arg[j] >= 0) dcols[arg[j] * width + j] = dy[o];
          }
        } else if (s.mode === 'lp') {
          im2col(p, x, n * p.xN, c, p0, p1, denseColumns(cols!, p0, p1), 0);
          columnPowerSums(cols!, rows, width, s.p, s.lpAbs, acc);
          // acc[j] becomes dy[j] S^(1/p - 1), or 0 where S = 0
          for (let j = 0, o = grad.offset; j < width; j++, o += grad.colStride)
            acc[j] = acc[j] === 0 ? 0 : dy[o] * Math.pow(acc[j], 1 / s.p - 1);
          for (let r = 0, at = 0; r < rows; r++)
            for (let j = 0; j < width; j++, at++) dcols[at] = acc[j] * powerSlope(cols![at], s.p, s.lpAbs);
        } else {
          divisors(p, s, tables, p0, width, div);
          for (let j = 0, o = grad.offset; j < width; j++, o += grad.colStride) acc[j] = dy[o] / div[j];
          for (let r = 0; r < rows; r++) dcols.set(acc.subarray(0, width), r * width);
        }
        col2im(p, denseColumns(dcols, p0, p1), n * p.xN, c, p0, p1, dx);
      }
    }
  }
}

/**
 * For the columns whose values are all -Infinity (arg -1): the row of the window's first
 * element inside the input, where PyTorch routes the gradient, found by gathering the tile
 * again with padding as NaN (such a column holds no NaN of its own). Stays -1 for a window
 * entirely in the padding.
 */
function firstInputElements(
  p: ConvDims,
  x: Real,
  n: number,
  c: number,
  p0: number,
  p1: number,
  cols: Real,
  arg: Int32Array,
): void {
  const width = p1 - p0;
  const rows = rowsOf(p);
  im2col(p, x, n * p.xN, c, p0, p1, denseColumns(cols, p0, p1), NaN);
  for (let j = 0; j < width; j++) {
    if (arg[j] !== -1) continue;
    for (let r = 0; r < rows; r++) {
      if (cols[r * width + j] === cols[r * width + j]) {
        arg[j] = r;
        break;
      }
    }
  }
}
