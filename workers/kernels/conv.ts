/**
 * Convolution forward and backward as im2col / col2im + GEMM, per image and group, over tiles
 * of output positions.
 *
 * With X_g the im2col matrix of one image and group ([K × P], K = C_in/groups · prod(k)),
 * W_g the group's weight as [C_out/groups × K] and dY_g the output gradient [C_out/groups × P]:
 *   forward      Y_g    = W_g · X_g (+ bias)
 *   grad_weight  dW_g  += dY_g · X_g^T            (summed over images)
 *   grad_input   dX    += col2im(W_g^T · dY_g)     (adjoint of im2col, see im2col.ts)
 *   grad_bias    db[c]  = sum over images and positions of dY[c]
 *
 * The GEMMs run on an engine (engine.ts): TypeScript float64 or WebAssembly SIMD float32.
 *
 * Memory bound: output positions are processed in tiles sized so that the tile buffers (im2col
 * columns or their gradient: K elements per position; accumulator or staged dY: C_out/groups
 * per position) plus the engine's GEMM scratch fit the thread's tile budget (64 MiB by
 * default, see workspace.ts). Beyond the tiles, a call holds at most one engine-precision copy
 * of the weight (grad_weight's accumulator; the wasm engine's staged weight) and, on an engine
 * that cannot read the caller's arrays in place (wasm), one image of the input or of its
 * gradient (staged for im2col / col2im). The only case
 * over budget is a single position whose column alone exceeds it (K + C_out/groups elements,
 * i.e. a weight with millions of elements per output channel).
 */
import type { BatchRange, ConvGeometry, Real } from '../../src/conv/types.js';
import { engineFor, type KernelEngine } from './engine.js';
import { copyStrided } from './copy.js';
import type { MatrixView } from './gemm.js';
import { depthwiseForward, depthwiseGradInput, depthwiseGradWeight, fitsDepthwise } from './depthwise.js';
import { outputMatrix, planConv, weightMatrix, weightMatrixT, type ConvPlan } from './plan.js';
import { tileBudget } from './workspace.js';

export interface ConvGrads {
  input?: Real;
  weight?: Real;
  bias?: Real;
}

/** Output positions per tile for buffers of `perPosition` elements per position. */
function tilePositions(p: ConvPlan, engine: KernelEngine, perPosition: number): number {
  const fit = Math.floor((tileBudget() - engine.gemmScratchBytes) / (perPosition * engine.elementBytes));
  return Math.max(1, Math.min(p.positions, fit));
}

/**
 * A 1×1 kernel with stride 1 and no padding reads the input as it is: its im2col matrix is
 * the input itself (output positions = input positions), so a GEMM that can read the input
 * in place needs no columns.
 */
function isPointwise(p: ConvPlan): boolean {
  return p.kSize === 1 && p.stride.every((s) => s === 1) && p.positions === p.inExt[0] * p.inExt[1] * p.inExt[2];
}

/** Pointwise columns of the image at offset `image` of x, group, from position p0: [C_in/groups × positions]. */
function pointwiseColumns(p: ConvPlan, x: Real, image: number, group: number, p0: number): MatrixView {
  // The flattened spatial position stride is the W stride: 1 channels_first, C channels_last.
  return { data: x, offset: image + group * p.cinG * p.xC + p0 * p.xSpatial[2], rowStride: p.xC, colStride: p.xSpatial[2] };
}

const dense = (data: Real, cols: number): MatrixView => ({ data, offset: 0, rowStride: cols, colStride: 1 });

/** Elements to stage `t` into the engine's memory: 0 when the engine reads it in place. */
const stagedLength = (engine: KernelEngine, t: Real): number => (engine.reads(t) ? 0 : t.length);

/** `t` itself when the engine reads it in place, else its copy in `staging`. */
function readable(engine: KernelEngine, t: Real, staging: Real): Real {
  if (engine.reads(t)) return t;
  staging.set(t);
  return staging;
}

/** Elements to stage one image of the input-shaped `t`: 0 when the engine reads it in place. */
const stagedImageLength = (engine: KernelEngine, p: ConvPlan, t: Real): number => (engine.reads(t) ? 0 : p.xN);

/**
 * Image n of the input-shaped `t` where the engine reads it, as [array, offset of the image]:
 * `t` itself, or (`copy` false: uninitialised, for an output) `staging` holding a copy.
 */
function imageFor(engine: KernelEngine, p: ConvPlan, t: Real, n: number, staging: Real, copy = true): [Real, number] {
  if (engine.reads(t)) return [t, n * p.xN];
  if (copy) staging.set(t.subarray(n * p.xN, (n + 1) * p.xN));
  return [staging, 0];
}

/** A rows × cols view the engine can read: `view` itself, or its dense copy in `staging`. */
function readableTile(engine: KernelEngine, view: MatrixView, rows: number, cols: number, staging: Real): MatrixView {
  if (engine.reads(view.data)) return view;
  for (let i = 0; i < rows; i++) copyStrided(view.data, view.offset + i * view.rowStride, view.colStride, staging, i * cols, 1, cols);
  return dense(staging, cols);
}

/**
 * y = conv(x, w) + bias, y preallocated with the geometry's output shape and dtype. With a
 * `batch` range only those images of y are written (the threads of a split request each
 * compute a disjoint range of one shared output).
 */
export function convForward(g: ConvGeometry, x: Real, w: Real, bias: Real | null, y: Real, engine = engineFor(g.dtype), batch?: BatchRange): void {
  const p = planConv(g, batch);
  if (fitsDepthwise(p, engine)) return depthwiseForward(p, x, w, bias, y, engine);
  const tile = tilePositions(p, engine, p.K + p.coutG);
  const inPlace = isPointwise(p);
  const buf = engine.buffers({ image: stagedImageLength(engine, p, x), cols: inPlace ? 0 : p.K * tile, acc: p.coutG * tile, weight: stagedLength(engine, w) });
  const wr = readable(engine, w, buf.weight);
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    const [xn, image] = imageFor(engine, p, x, n, buf.image);
    for (let group = 0; group < p.groups; group++) {
      const wg = weightMatrix(p, wr, group);
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        const width = p1 - p0;
        let cols: MatrixView;
        if (inPlace) {
          cols = pointwiseColumns(p, xn, image, group, p0);
        } else {
          engine.im2col(p, xn, image, group, p0, p1, buf.cols);
          cols = dense(buf.cols, width);
        }
        engine.gemm(p.coutG, width, p.K, wg, cols, buf.acc, 0, width, false);
        // Store: bias added at the engine's precision, one rounding to the output dtype.
        const out = outputMatrix(p, y, n, group, p0);
        for (let co = 0; co < p.coutG; co++) {
          const b = bias ? bias[group * p.coutG + co] : 0;
          copyStrided(buf.acc, co * width, 1, y, out.offset + co * out.rowStride, out.colStride, width, b);
        }
      }
    }
  }
}

/**
 * Gradients of the forward w.r.t. the operands present in `grads` (preallocated: grad_input
 * shaped like x, grad_weight like w, grad_bias [C_out]); absent ones are not computed.
 * Every present array is overwritten, never accumulated into. With a `batch` range, only
 * those images contribute: grad_input is written for them alone, and grad_weight / grad_bias
 * are that range's partial sums (a split request adds the partials of its threads).
 */
export function convBackward(g: ConvGeometry, x: Real, w: Real, dy: Real, grads: ConvGrads, engine = engineFor(g.dtype), batch?: BatchRange): void {
  const p = planConv(g, batch);
  const depthwise = fitsDepthwise(p, engine);
  if (grads.bias) gradBias(p, dy, grads.bias);
  if (grads.weight) (depthwise ? depthwiseGradWeight : gradWeight)(p, x, dy, grads.weight, engine);
  if (grads.input) (depthwise ? depthwiseGradInput : gradInput)(p, w, dy, grads.input, engine);
}

function gradBias(p: ConvPlan, dy: Real, db: Real): void {
  for (let group = 0; group < p.groups; group++) {
    for (let co = 0; co < p.coutG; co++) {
      let sum = 0;
      for (let n = p.batchStart; n < p.batchEnd; n++) {
        const rows = outputMatrix(p, dy, n, group, 0);
        for (let j = 0, i = rows.offset + co * rows.rowStride; j < p.positions; j++, i += rows.colStride) sum += dy[i];
      }
      db[group * p.coutG + co] = sum;
    }
  }
}

function gradWeight(p: ConvPlan, x: Real, dy: Real, dw: Real, engine: KernelEngine): void {
  const tile = tilePositions(p, engine, p.K + p.coutG);
  const inPlace = isPointwise(p);
  const coutAll = p.coutG * p.groups;
  const buf = engine.buffers({
    image: stagedImageLength(engine, p, x),
    cols: inPlace ? 0 : p.K * tile,
    dy: engine.reads(dy) ? 0 : p.coutG * tile,
    // dW accumulates over images and tiles as [C_out × K], then is stored once.
    acc: coutAll * p.K,
  });
  buf.acc.fill(0, 0, coutAll * p.K);
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    const [xn, image] = imageFor(engine, p, x, n, buf.image);
    for (let group = 0; group < p.groups; group++) {
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        const width = p1 - p0;
        let colsT: MatrixView;
        if (inPlace) {
          const cols = pointwiseColumns(p, xn, image, group, p0);
          colsT = { ...cols, rowStride: cols.colStride, colStride: cols.rowStride };
        } else {
          engine.im2col(p, xn, image, group, p0, p1, buf.cols);
          colsT = { data: buf.cols, offset: 0, rowStride: 1, colStride: width };
        }
        const dyTile = readableTile(engine, outputMatrix(p, dy, n, group, p0), p.coutG, width, buf.dy);
        engine.gemm(p.coutG, p.K, width, dyTile, colsT, buf.acc, group * p.coutG * p.K, p.K, true);
      }
    }
  }
  const acc = buf.acc;
  for (let co = 0; co < coutAll; co++) {
    for (let row = 0; row < p.K; row++) dw[co * p.wCo + row * p.wRow] = acc[co * p.K + row];
  }
}

function gradInput(p: ConvPlan, w: Real, dy: Real, dx: Real, engine: KernelEngine): void {
  const tile = tilePositions(p, engine, p.K + p.coutG);
  const buf = engine.buffers({
    image: stagedImageLength(engine, p, dx),
    dcols: p.K * tile,
    dy: engine.reads(dy) ? 0 : p.coutG * tile,
    weight: stagedLength(engine, w),
  });
  const wr = readable(engine, w, buf.weight);
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    const [dxn, image] = imageFor(engine, p, dx, n, buf.image, false);
    dxn.fill(0, image, image + p.xN);
    for (let group = 0; group < p.groups; group++) {
      const wgT = weightMatrixT(p, wr, group);
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        const width = p1 - p0;
        const dyTile = readableTile(engine, outputMatrix(p, dy, n, group, p0), p.coutG, width, buf.dy);
        engine.gemm(p.K, width, p.coutG, wgT, dyTile, buf.dcols, 0, width, false);
        engine.col2im(p, buf.dcols, image, group, p0, p1, dxn);
      }
    }
    if (dxn !== dx) dx.set(dxn.subarray(0, p.xN), n * p.xN);
  }
}
