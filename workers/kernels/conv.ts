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
 * The GEMMs run on an engine (engines/engine.ts): TypeScript float64 or WebAssembly SIMD in the
 * request's dtype. Each call is planned once (plan.ts: algorithm, tiling, buffer sizes) and
 * runs its plan: the passes the engine's library takes there (plan.ts), the others by the
 * depthwise algorithm in depthwise.ts or the GEMM ones here.
 */
import type { BatchRange, Real } from '../../src/shared/tensor.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import { engineFor } from '../engines/index.js';
import { copyStrided } from './copy.js';
import type { MatrixView } from './gemm.js';
import { depthwiseForward, depthwiseGradInput, depthwiseGradWeight } from './depthwise.js';
import { outputMatrix, weightMatrix, weightMatrixT } from './lowering.js';
import { planConv, type ConvPlan, type Tiling } from './plan.js';
import { imagesOf, readable, writeBack, type Images } from './staging.js';

export interface ConvGrads {
  input?: Real;
  weight?: Real;
  bias?: Real;
}

/** Images [n0, n1) and positions [p0, p1) of each: width = (n1 - n0)(p1 - p0) columns, image n's from (n - n0)(p1 - p0). */
interface Tile {
  n0: number;
  n1: number;
  p0: number;
  p1: number;
  width: number;
}

function* blocksOf(p: ConvPlan, t: Tiling): Generator<[number, number]> {
  for (let n0 = p.batchStart; n0 < p.batchEnd; n0 += t.images) yield [n0, Math.min(p.batchEnd, n0 + t.images)];
}

function* tilesOf(p: ConvPlan, t: Tiling, [n0, n1]: [number, number]): Generator<Tile> {
  for (let p0 = 0; p0 < p.positions; p0 += t.positions) {
    const p1 = Math.min(p.positions, p0 + t.positions);
    yield { n0, n1, p0, p1, width: (n1 - n0) * (p1 - p0) };
  }
}

/** Columns of image n of a tile inside its dense [rows × width] buffer. */
function imageColumns(data: Real, tile: Tile, n: number): MatrixView {
  return { data, offset: (n - tile.n0) * (tile.p1 - tile.p0), rowStride: tile.width, colStride: 1 };
}

/** Pointwise columns of the image at offset `image` of x, group, from position p0: [C_in/groups × positions]. */
function pointwiseColumns(p: ConvPlan, x: Real, image: number, group: number, p0: number): MatrixView {
  // The flattened spatial position stride is the W stride: 1 channels_first, C channels_last.
  return {
    data: x,
    offset: image + group * p.cinG * p.xC + p0 * p.xSpatial[2],
    rowStride: p.xC,
    colStride: p.xSpatial[2],
  };
}

const dense = (data: Real, cols: number): MatrixView => ({ data, offset: 0, rowStride: cols, colStride: 1 });
const transposed = (m: MatrixView): MatrixView => ({ ...m, rowStride: m.colStride, colStride: m.rowStride });

/** The tile's im2col columns [K × width] of group `group`, gathered into `cols` (or read in place for a pointwise conv). */
function columns(p: ConvPlan, xs: Images, group: number, tile: Tile, cols: Real): MatrixView {
  if (p.algorithm === 'pointwise') return pointwiseColumns(p, xs.data, xs.at, group, tile.p0);
  for (let n = tile.n0; n < tile.n1; n++)
    p.im2col.gather(xs.data, xs.at + (n - tile.n0) * p.xN, group, tile.p0, tile.p1, imageColumns(cols, tile, n));
  return dense(cols, tile.width);
}

/** dY of group `group` over the tile, [C_out/groups × width]: in place when it can be, else copied into `staging`. */
function outputGradTile(p: ConvPlan, dy: Real, group: number, tile: Tile, staging: Real): MatrixView {
  if (tile.n1 - tile.n0 === 1 && p.engine.reads(dy)) return outputMatrix(p, dy, tile.n0, group, tile.p0);
  for (let n = tile.n0; n < tile.n1; n++) {
    const from = outputMatrix(p, dy, n, group, tile.p0);
    const to = imageColumns(staging, tile, n);
    for (let co = 0; co < p.coutG; co++) {
      copyStrided(
        dy,
        from.offset + co * from.rowStride,
        from.colStride,
        staging,
        to.offset + co * to.rowStride,
        1,
        tile.p1 - tile.p0,
      );
    }
  }
  return dense(staging, tile.width);
}

/**
 * y = conv(x, w) + bias, y preallocated with the geometry's output shape and dtype. With a
 * `batch` range only those images of y are written (the threads of a split request each
 * compute a disjoint range of one shared output).
 */
export function convForward(
  g: ConvGeometry,
  x: Real,
  w: Real,
  bias: Real | null,
  y: Real,
  engine = engineFor(g.dtype),
  batch?: BatchRange,
): void {
  const p = planConv(g, engine, batch);
  if (p.library?.forward(x, w, bias, y)) return;
  if (p.algorithm === 'depthwise') depthwiseForward(p, x, w, bias, y);
  else gemmForward(p, x, w, bias, y);
}

function gemmForward(p: ConvPlan, x: Real, w: Real, bias: Real | null, y: Real): void {
  const { engine, tiling: t } = p;
  const buf = engine.buffers(p.buffers.forward);
  const wr = readable(engine, w, buf.weight);
  for (const block of blocksOf(p, t)) {
    const xs = imagesOf(engine, x, block, p.xN, buf.images);
    for (let group = 0; group < p.groups; group++) {
      const wg = weightMatrix(p, wr, group);
      for (const tile of tilesOf(p, t, block)) {
        engine.gemm(p.coutG, tile.width, p.K, wg, columns(p, xs, group, tile, buf.cols), buf.acc, 0, tile.width, false);
        // Store: bias added at the engine's precision, one rounding to the output dtype.
        for (let n = tile.n0; n < tile.n1; n++) {
          const from = imageColumns(buf.acc, tile, n);
          const to = outputMatrix(p, y, n, group, tile.p0);
          for (let co = 0; co < p.coutG; co++) {
            const b = bias ? bias[group * p.coutG + co] : 0;
            copyStrided(
              buf.acc,
              from.offset + co * from.rowStride,
              1,
              y,
              to.offset + co * to.rowStride,
              to.colStride,
              tile.p1 - tile.p0,
              b,
            );
          }
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
export function convBackward(
  g: ConvGeometry,
  x: Real,
  w: Real,
  dy: Real,
  grads: ConvGrads,
  engine = engineFor(g.dtype),
  batch?: BatchRange,
): void {
  const p = planConv(g, engine, batch);
  const depthwise = p.algorithm === 'depthwise';
  if (grads.bias) gradBias(p, dy, grads.bias);
  const { library } = p;
  if (grads.weight) {
    if (!library?.gradWeight(x, dy, grads.weight))
      (depthwise ? depthwiseGradWeight : gradWeight)(p, x, dy, grads.weight);
  }
  if (grads.input) {
    if (library?.gradInput) library.gradInput(w, dy, grads.input);
    else (depthwise ? depthwiseGradInput : gradInput)(p, w, dy, grads.input);
  }
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

/**
 * dW_g += dY_g · X_g^T over the blocks and tiles. The GEMMs pack a B operand stored transposed
 * with vector transposes (cheaper than the scalar A packing), so the larger of X_g (K rows) and
 * dY_g (C_out/groups rows) goes there: B = X_g^T giving dW_g, or, when C_out/groups > K (few
 * taps, e.g. one input channel), B = dY_g^T giving dW_g^T = X_g · dY_g^T.
 */
function gradWeight(p: ConvPlan, x: Real, dy: Real, dw: Real): void {
  const { engine, tiling: t } = p;
  const coutAll = p.coutG * p.groups;
  const transposedResult = p.coutG > p.K;
  const buf = engine.buffers(p.buffers.gradWeight);
  buf.acc.fill(0, 0, coutAll * p.K);
  for (const block of blocksOf(p, t)) {
    const xs = imagesOf(engine, x, block, p.xN, buf.images);
    for (let group = 0; group < p.groups; group++) {
      for (const tile of tilesOf(p, t, block)) {
        const cols = columns(p, xs, group, tile, buf.cols);
        const dyTile = outputGradTile(p, dy, group, tile, buf.dy);
        if (transposedResult)
          engine.gemm(p.K, p.coutG, tile.width, cols, transposed(dyTile), buf.acc, group * p.coutG, coutAll, true);
        else engine.gemm(p.coutG, p.K, tile.width, dyTile, transposed(cols), buf.acc, group * p.coutG * p.K, p.K, true);
      }
    }
  }
  for (let co = 0; co < coutAll; co++) {
    if (transposedResult) copyStrided(buf.acc, co, coutAll, dw, co * p.wCo, p.wRow, p.K);
    else copyStrided(buf.acc, co * p.K, 1, dw, co * p.wCo, p.wRow, p.K);
  }
}

function gradInput(p: ConvPlan, w: Real, dy: Real, dx: Real): void {
  const { engine, gradInputTiling: t } = p;
  const buf = engine.buffers(p.buffers.gradInput);
  const wr = readable(engine, w, buf.weight);
  for (const block of blocksOf(p, t)) {
    const dxs = imagesOf(engine, dx, block, p.xN, buf.images, false);
    const [n0, n1] = block;
    dxs.data.fill(0, dxs.at, dxs.at + (n1 - n0) * p.xN);
    for (let group = 0; group < p.groups; group++) {
      const wgT = weightMatrixT(p, wr, group);
      for (const tile of tilesOf(p, t, block)) {
        engine.gemm(
          p.K,
          tile.width,
          p.coutG,
          wgT,
          outputGradTile(p, dy, group, tile, buf.dy),
          buf.dcols,
          0,
          tile.width,
          false,
        );
        for (let n = n0; n < n1; n++)
          p.im2col.scatter(
            imageColumns(buf.dcols, tile, n),
            dxs.at + (n - n0) * p.xN,
            group,
            tile.p0,
            tile.p1,
            dxs.data,
          );
      }
    }
    writeBack(dxs, dx, block, p.xN);
  }
}
