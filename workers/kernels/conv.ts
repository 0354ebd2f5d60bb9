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
 * Memory bound: output positions are processed in tiles sized so that the tile's float64
 * buffers (im2col columns or their gradient, K per position, plus the C_out/groups accumulator
 * column) and the GEMM's packing scratch fit the thread's tile budget (64 MiB by default, see
 * workspace.ts). The only exception is a single position whose column alone exceeds it (K +
 * C_out/groups > budget / 8, i.e. a weight of more than ~8M elements per output channel). grad_weight
 * also accumulates in one float64 copy of the weight. Nothing else is allocated per call.
 */
import type { ConvGeometry, Real } from '../../src/conv/types.js';
import { gemm, GEMM_SCRATCH_BYTES, type MatrixView } from './gemm.js';
import { col2im, im2col } from './im2col.js';
import { outputMatrix, planConv, weightMatrix, weightMatrixT, type ConvPlan } from './plan.js';
import { scratch, tileBudget } from './workspace.js';

export interface ConvGrads {
  input?: Real;
  weight?: Real;
  bias?: Real;
}

/** Output positions per tile: as many as the tile budget holds, at least one. */
function tilePositions(p: ConvPlan): number {
  const perPosition = 8 * (p.K + p.coutG);
  const fit = Math.floor((tileBudget() - GEMM_SCRATCH_BYTES) / perPosition);
  return Math.max(1, Math.min(p.positions, fit));
}

/**
 * A 1×1 kernel with stride 1 and no padding reads the input as it is: its im2col matrix is
 * the input itself, so the GEMM reads it in place.
 */
function isPointwise(p: ConvPlan): boolean {
  return p.kSize === 1 && p.stride.every((s) => s === 1) && p.padBefore.every((v) => v === 0) && p.positions === p.inExt[0] * p.inExt[1] * p.inExt[2];
}

/** The im2col matrix of a tile: the input itself for pointwise convs, else gathered into scratch. */
function columns(p: ConvPlan, x: Real, n: number, group: number, p0: number, p1: number): MatrixView {
  if (isPointwise(p)) {
    // Flattened spatial position stride is the W stride (1 channels_first, C channels_last).
    return { data: x, offset: n * p.xN + group * p.cinG * p.xC + p0 * p.xSpatial[2], rowStride: p.xC, colStride: p.xSpatial[2] };
  }
  const width = p1 - p0;
  const cols = scratch('conv.cols', p.K * width);
  im2col(p, x, n, group, p0, p1, cols);
  return { data: cols, offset: 0, rowStride: width, colStride: 1 };
}

/** y = conv(x, w) + bias, y preallocated with the geometry's output shape and dtype. */
export function convForward(g: ConvGeometry, x: Real, w: Real, bias: Real | null, y: Real): void {
  const p = planConv(g);
  const tile = tilePositions(p);
  const acc = scratch('conv.acc', p.coutG * tile);
  for (let n = 0; n < p.batch; n++) {
    for (let group = 0; group < p.groups; group++) {
      const wg = weightMatrix(p, w, group);
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        const width = p1 - p0;
        gemm(p.coutG, width, p.K, wg, columns(p, x, n, group, p0, p1), acc, 0, width, false);
        // Store: one rounding to the output dtype, bias added in float64 first.
        const out = outputMatrix(p, y, n, group, p0);
        for (let co = 0; co < p.coutG; co++) {
          const b = bias ? bias[group * p.coutG + co] : 0;
          let dst = out.offset + co * out.rowStride;
          for (let j = 0, src = co * width; j < width; j++, src++, dst += out.colStride) y[dst] = acc[src] + b;
        }
      }
    }
  }
}

/**
 * Gradients of the forward w.r.t. the operands present in `grads` (preallocated: grad_input
 * shaped like x, grad_weight like w, grad_bias [C_out]); absent ones are not computed.
 * Every present array is overwritten, never accumulated into.
 */
export function convBackward(g: ConvGeometry, x: Real, w: Real, dy: Real, grads: ConvGrads): void {
  const p = planConv(g);
  if (grads.bias) gradBias(p, dy, grads.bias);
  if (grads.weight) gradWeight(p, x, dy, grads.weight);
  if (grads.input) gradInput(p, w, dy, grads.input);
}

function gradBias(p: ConvPlan, dy: Real, db: Real): void {
  for (let group = 0; group < p.groups; group++) {
    for (let co = 0; co < p.coutG; co++) {
      let sum = 0;
      for (let n = 0; n < p.batch; n++) {
        const rows = outputMatrix(p, dy, n, group, 0);
        for (let j = 0, i = rows.offset + co * rows.rowStride; j < p.positions; j++, i += rows.colStride) sum += dy[i];
      }
      db[group * p.coutG + co] = sum;
    }
  }
}

function gradWeight(p: ConvPlan, x: Real, dy: Real, dw: Real): void {
  const tile = tilePositions(p);
  const coutAll = p.coutG * p.groups;
  // dW accumulates over images and tiles in float64 as [C_out × K], then is stored once.
  const acc = scratch('conv.dw', coutAll * p.K);
  acc.fill(0, 0, coutAll * p.K);
  for (let n = 0; n < p.batch; n++) {
    for (let group = 0; group < p.groups; group++) {
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        const cols = columns(p, x, n, group, p0, p1);
        const colsT: MatrixView = { ...cols, rowStride: cols.colStride, colStride: cols.rowStride };
        gemm(p.coutG, p.K, p1 - p0, outputMatrix(p, dy, n, group, p0), colsT, acc, group * p.coutG * p.K, p.K, true);
      }
    }
  }
  for (let co = 0; co < coutAll; co++) {
    for (let row = 0; row < p.K; row++) dw[co * p.wCo + row * p.wRow] = acc[co * p.K + row];
  }
}

function gradInput(p: ConvPlan, w: Real, dy: Real, dx: Real): void {
  const tile = tilePositions(p);
  const dcols = scratch('conv.cols', p.K * tile);
  dx.fill(0);
  for (let n = 0; n < p.batch; n++) {
    for (let group = 0; group < p.groups; group++) {
      const wgT = weightMatrixT(p, w, group);
      for (let p0 = 0; p0 < p.positions; p0 += tile) {
        const p1 = Math.min(p.positions, p0 + tile);
        gemm(p.K, p1 - p0, p.coutG, wgT, outputMatrix(p, dy, n, group, p0), dcols, 0, p1 - p0, false);
        col2im(p, dcols, n, group, p0, p1, dx);
      }
    }
  }
}
